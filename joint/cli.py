"""`duetto`: Generate a video clip and its soundtrack together, in sync (`duetto generate`, coming with the joint model)."""
from __future__ import annotations

import sys

from duetto.data import console

PROG = "duetto"
PLANNED = "generate"


def _main(argv=None) -> int:
    p = console.parser(PROG, "Generate a video clip and its soundtrack together, in sync (`duetto generate`, coming with the joint model).",
                       f"commands planned: {PLANNED}. This release answers --help and --version only.")
    p.add_argument("command", nargs="?", help=f"one of: {PLANNED} (not available yet)")
    a = p.parse_args(argv)
    if a.command is None:
        p.print_help()
        return console.EXIT_BAD_INPUT
    raise console.DuettoError(f"'{a.command}' is not available in this release (planned: {PLANNED})")


def main(argv=None) -> int:
    return console.run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
