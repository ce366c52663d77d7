"""`duetto-train`: train the autoencoders, the joint model and its few-step student (arrives with them)."""
import sys

from duetto.data.console import planned_command

main = planned_command("duetto-train", "Train Duetto's autoencoders, joint model and few-step student.",
                       ["vae", "joint", "distil", "eval"])

if __name__ == "__main__":
    sys.exit(main())
