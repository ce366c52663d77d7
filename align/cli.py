"""`duetto-sync`: measure, report and fix audio/video sync for QA (arrives with the sync issue)."""
import sys

from duetto.data.console import planned_command

main = planned_command("duetto-sync", "Measure, report and fix audio/video sync for QA.",
                       ["check", "plot", "fix", "eval"])

if __name__ == "__main__":
    sys.exit(main())
