"""What every console script shares: `--version`, one-line errors with exit code 2, tables."""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

from .errors import DuettoError

# One contract for every command: 0 ok, 1 a measured problem (out of sync, a bad shard), 2 bad input or environment
# (a missing or unreadable file, an output that cannot be written), 3 no usable signal (duetto-sync), 4 an internal
# error (a bug: one line, the traceback with DUETTO_DEBUG=1), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_NO_SIGNAL, EXIT_INTERNAL = 0, 1, 2, 3, 4


def package_version() -> str:
    try:
        return version("duetto")
    except PackageNotFoundError:
        return "0+unknown"


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{prog} {package_version()}")
    return p


MAX_SEED = 2 ** 63 - 1


def int_in(lo: int, hi: int, what: str = "a whole number"):
    """An argparse type: an int in [lo, hi] (a seed, a count), with the range in its error."""
    return _in_range(int, lo, hi, what, f"{what} from {lo} to {hi}")


def float_in(lo: float, hi: float, what: str = "a number", above: bool = False):
    """An argparse type: a finite float in [lo, hi] (``above``: in (lo, hi]), with the range in its error."""
    bound = "any finite number" if math.isinf(lo) and math.isinf(hi) else \
        f"{what} {'above' if above else 'from'} {lo:g} {'and at most' if above else 'to'} {hi:g}"
    return _in_range(float, lo, hi, what, bound, above)


def _in_range(kind, lo, hi, what, bound, above=False):
    def conv(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not {what}") from None
        if not (math.isfinite(v) and (lo < v if above else lo <= v) and v <= hi):
            raise argparse.ArgumentTypeError(f"{text!r}: {bound}")
        return v
    conv.__name__ = what
    return conv


def debugging() -> bool:
    return os.environ.get("DUETTO_DEBUG", "") not in ("", "0")


def run(prog: str, main, argv=None) -> int:
    """Call ``main(argv)``; a `DuettoError` becomes ``prog: error: message`` on stderr and exit code 2, and so does
    an error of the environment (a path that is a directory, not writable, a full disk: `OSError`, or memory);
    anything else is a bug: one line and exit 4 (``DUETTO_DEBUG=1``: the traceback instead)."""
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: %(message)s")
    in_main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _terminated) if in_main else None
    try:
        return int(main(argv) or 0)
    except DuettoError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as e:        # Ctrl-C, or SIGTERM (Terminated): the cleanup on the way out has run
        term = isinstance(e, Terminated)
        print(f"{prog}: {'terminated' if term else 'interrupted'}", file=sys.stderr)
        return 128 + (signal.SIGTERM if term else signal.SIGINT)
    except (OSError, MemoryError) as e:
        if debugging():
            raise
        what = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror and e.filename else (
            str(e) or type(e).__name__)
        print(f"{prog}: error: {what}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 -- the last line of defence: no traceback for a user
        if debugging():
            raise
        print(f"{prog}: internal error: {type(e).__name__}: {str(e)[:300]} (a bug; DUETTO_DEBUG=1 shows where)",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, ``timeout``, ``kill``), raised where the process is like Ctrl-C, so every temporary file
    and lock is cleaned up on the way out (Python's default would end the process on the spot)."""


def _terminated(signum, frame):
    raise Terminated()


def examples(parser: argparse.ArgumentParser, by_command: dict[str, str]) -> argparse.ArgumentParser:
    """Give each subcommand of ``parser`` an ``example:`` epilog (its --help ends with it), keeping any epilog it has."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sp in (subs[0].choices.items() if subs else ()):
        if name in by_command and "example" not in (sp.epilog or ""):
            sp.formatter_class = argparse.RawDescriptionHelpFormatter
            sp.epilog = ((sp.epilog + "\n\n") if sp.epilog else "") + "example:\n  " + by_command[name]
    return parser


def columns(rows: list[dict]) -> list[str]:
    """Every key of ``rows``, in the order first seen (rows of a report need not all have the same fields)."""
    return list(dict.fromkeys(k for r in rows for k in r))


def table(rows: list[dict], columns: list[str], widths: dict[str, int] | None = None) -> str:
    """A plain-text table; long cells are cut with an ellipsis to ``widths[col]``."""
    widths = widths or {}
    cells = [[_cut(_cell(r.get(c, "")), widths.get(c)) for c in columns] for r in rows]
    w = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(columns)), "  ".join("-" * x for x in w)]
    lines += ["  ".join(v.ljust(w[i]) for i, v in enumerate(row)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(v) -> str:
    """A value as a person reads it: floats to at most 3 decimals (`1.3079999999998648` -> `1.308`); --json keeps all."""
    if isinstance(v, float):
        return f"{round(v, 3):g}" if abs(v) < 1e6 else f"{v:.4g}"
    return str(v)


def _cut(s: str, n: int | None) -> str:
    return s if n is None or len(s) <= n else s[: n - 1] + "…"


def planned_command(prog: str, description: str, planned: list[str]):
    """The entry point of a console script whose commands arrive with a later issue: it answers
    ``--help`` and ``--version``, and refuses any command with exit code 2 naming what is planned."""

    def _main(argv=None) -> int:
        p = parser(prog, description, f"commands planned: {', '.join(planned)}. "
                                      "This release answers --help and --version only.")
        p.add_argument("command", nargs="?", help=f"one of: {', '.join(planned)} (not available yet)")
        a = p.parse_args(argv)
        if a.command is None:
            p.print_help()
            return EXIT_BAD_INPUT
        raise DuettoError(f"'{a.command}' is not available in this release (planned: {', '.join(planned)})")

    return lambda argv=None: run(prog, _main, argv)
