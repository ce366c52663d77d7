"""`duetto`: generate a video clip and its soundtrack together (arrives with the joint model)."""
import sys

from duetto.data.console import planned_command

main = planned_command("duetto", "Generate a video clip and its soundtrack together, in sync.", ["generate"])

if __name__ == "__main__":
    sys.exit(main())
