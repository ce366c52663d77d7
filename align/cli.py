"""`duetto-sync`: measure, report and fix audio/video sync for QA."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from duetto.data import console
from duetto.data.errors import DuettoError

from . import report
from .evaluate import DEFAULT_SHIFTS, calibration_table, evaluate
from .fix import fix_offset
from .measure import MIN_CONFIDENCE, measure_sync
from .plot import plot_report
from .tolerance import DEFAULT_PRESET, PRESETS

PROG = "duetto-sync"
EPILOG = f"""offsets follow ITU-R BT.1359: positive = sound ahead of the picture.
presets: {', '.join(f'{k} (+{v.lead_ms:g}/-{v.lag_ms:g} ms)' for k, v in PRESETS.items())}, or +A/-B.
confidence is calibrated: the share of such readings that were within two frames of the truth on clips with
known offsets (bench/sync_calibration.py); under {MIN_CONFIDENCE:g} the verdict is "no-signal". auto measures
both methods where a face is found (BlazeFace; the lips by MediaPipe's face mesh) and reports the surer one.
exit codes (check): 0 in sync, 1 out of tolerance, 2 bad input, 3 no usable sync signal (--no-signal fail)

examples:
  duetto-sync check clip.mp4 --preset ebu-r37 --junit report.xml
  duetto-sync check renders/*.mp4 --no-signal skip --plot plots/ --json
  duetto-sync fix clip.mp4 -o fixed.mp4
  duetto-sync eval a.mp4 b.mp4 --shifts -400,-120,0,120,400"""


MAX_SEARCH_S = 5.0


def _common(p):
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"tolerance preset or +A/-B ms (default: {DEFAULT_PRESET})")
    p.add_argument("--method", choices=["auto", "speech", "events"], default="auto",
                   help="speech: the lips' opening and the mouth's motion vs speech loudness; events: motion ending "
                        "(stop or bounce) vs sound onsets; auto: both where a face is found, the surer one "
                        "reported (default: auto)")
    p.add_argument("--search", type=console.float_in(0, MAX_SEARCH_S, "seconds", above=True), default=0.6,
                   help=f"largest offset searched, seconds, above 0 and at most {MAX_SEARCH_S:g} (default: 0.6)")


def build_parser():
    p = console.parser(PROG, "Measure, report and fix audio/video sync for QA.", EPILOG)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    c = sub.add_parser("check", help="measure clips and judge them against a tolerance",
                       description="Print a table per clip: offset, confidence, drift, verdict.")
    c.add_argument("paths", nargs="+", help="media files")
    _common(c)
    c.add_argument("--json", action="store_true", help="print one JSON object per clip")
    c.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    c.add_argument("--no-signal", choices=report.NO_SIGNAL, default="fail",
                   help="what a clip without a usable sync signal counts as in the exit code and JUnit: fail "
                        "(exit 3, a JUnit failure), skip (JUnit skipped) or pass (default: fail)")
    c.add_argument("--plot", metavar="PATH", help="also draw each clip's analysis: one clip and PATH ending in .png: "
                                                  "that file; otherwise a folder with one PNG per clip")
    pl = sub.add_parser("plot", help="draw signals, correlation and verdict into a PNG")
    pl.add_argument("path", help="media file")
    pl.add_argument("-o", "--out", required=True, help="PNG to write")
    _common(pl)
    f = sub.add_parser("fix", help="remux with the sound moved by the measured (or given) offset",
                       description="Copy the picture's packets unchanged and re-encode the sound (AAC) "
                                   "moved so that the offset becomes 0.")
    f.add_argument("path", help="media file")
    f.add_argument("-o", "--out", required=True, help=".mp4 to write")
    f.add_argument("--offset", type=console.float_in(-math.inf, math.inf, "milliseconds"),
                   help="offset in ms to remove (default: measure it)")
    _common(f)
    e = sub.add_parser("eval", help="shift clips by known offsets and score the recovery")
    e.add_argument("paths", nargs="+", help="media files (assumed in sync)")
    e.add_argument("--shifts", default=",".join(map(str, DEFAULT_SHIFTS)), help="ms, comma-separated")
    _common(e)
    e.add_argument("--unrelated", type=int, default=0, choices=range(4), metavar="N",
                   help="also give each clip N other clips' sound (0-3): a confident reading there is wrong")
    e.add_argument("--json", action="store_true", help="print rows, summary and calibration as JSON")
    return console.examples(p, {
        'check': 'duetto-sync check renders/*.mp4 --preset ebu-r37 --junit sync.xml --plot plots/',
        'plot': 'duetto-sync plot clip.mp4 -o clip-sync.png',
        'fix': 'duetto-sync fix late.mp4 -o fixed.mp4',
        'eval': 'duetto-sync eval my-clips/*.mp4 --shifts=-400,-120,0,120,400 --unrelated 1',
    })


def _existing(paths):
    from duetto.data.media import file_problem
    for p in paths:
        problem = file_problem(p)
        if problem:
            raise DuettoError(f"{p}: {problem}")


def cmd_check(a) -> int:
    _existing(a.paths)
    reports = []
    with tqdm(total=len(a.paths), desc="check", unit="clip", disable=len(a.paths) < 2 or a.json) as bar:
        for p in a.paths:                # one process for every file: the face models load once
            reports.append(measure_sync(p, preset=a.preset, method=a.method, search=a.search))
            bar.update()
    if a.json:
        for r in reports:
            print(json.dumps(r.to_dict()))
    else:
        print(console.table([report.row(r) for r in reports],
                            ["clip", "method", "offset_ms", "confidence", "drift_ms/min", "verdict", "reason"]))
    if a.junit:
        report.write_junit(a.junit, reports, no_signal=a.no_signal)
    if a.plot:
        for r, png in zip(reports, plot_paths(a.paths, a.plot)):
            plot_report(r, png)
    return report.exit_code(reports, a.no_signal)


def plot_paths(paths, target) -> list[Path]:
    """Where each clip's PNG goes: ``target`` itself for one clip and a .png name, else ``target/<name>.png``
    (a clip name that comes twice gets its position added)."""
    target = Path(target)
    if len(paths) == 1 and target.suffix.lower() == ".png":
        return [target]
    target.mkdir(parents=True, exist_ok=True)
    stems = [Path(p).stem for p in paths]
    return [target / (f"{s}.png" if stems.count(s) == 1 else f"{s}-{i}.png") for i, s in enumerate(stems)]


def cmd_plot(a) -> int:
    _existing([a.path])
    r = measure_sync(a.path, preset=a.preset, method=a.method, search=a.search)
    print(f"wrote {plot_report(r, a.out)}: {r.verdict} ({r.reason})")
    return console.EXIT_OK


def cmd_fix(a) -> int:
    _existing([a.path])
    offset = a.offset
    if offset is None:
        r = measure_sync(a.path, preset=a.preset, method=a.method, search=a.search)
        if r.offset_ms is None or r.verdict == "no-signal":
            print(f"{PROG}: cannot measure {a.path}: {r.reason}; pass --offset", file=sys.stderr)
            return console.EXIT_NO_SIGNAL
        offset = r.offset_ms
    fix_offset(a.path, a.out, offset)
    print(f"wrote {a.out}: sound moved by {-offset:+.0f} ms (picture copied)")
    return console.EXIT_OK


def cmd_eval(a) -> int:
    _existing(a.paths)
    try:
        shifts = [float(s) for s in a.shifts.split(",") if s.strip()]
    except ValueError:
        raise DuettoError(f"--shifts: not a comma-separated list of numbers: {a.shifts!r}") from None
    if not shifts or len(shifts) > 50 or not all(np.isfinite(s) and abs(s) <= 1000 * a.search for s in shifts):
        raise DuettoError(f"--shifts: 1 to 50 finite offsets within the search (+-{1000 * a.search:g} ms): {a.shifts!r}")
    with tqdm(total=len(a.paths) * (len(shifts) + a.unrelated), desc="eval", unit="pair", disable=a.json) as bar:
        rows, summary = evaluate(a.paths, shifts, progress=bar.update, unrelated=a.unrelated, method=a.method,
                                 search=a.search)
    cal = calibration_table(rows)
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary, "calibration": cal}, indent=1))
    else:
        cols = list(dict.fromkeys(k for row in summary for k in row))
        print(console.table([{k: row.get(k, "") for k in cols} for row in summary], cols))
        print("\nconfidence calibration (share within two frames by confidence bin):")
        print(console.table(cal, list(cal[0])))
    return console.EXIT_OK


COMMANDS = {"check": cmd_check, "plot": cmd_plot, "fix": cmd_fix, "eval": cmd_eval}


def _main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv[:-1]):   # "--shifts -400,0,400" reads as an option to argparse
        if arg == "--shifts":
            argv[i:i + 2] = [f"--shifts={argv[i + 1]}"]
            break
    a = build_parser().parse_args(argv)
    return COMMANDS[a.cmd](a)


def main(argv=None) -> int:
    return console.run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
