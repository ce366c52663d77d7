"""Every reading of `duetto-sync` on the real clips, kept or compared: a change meant to be faster, not different,
must leave all of them as they were (offset, confidence, and each method's offset, z, peak, margin, face).

    python bench/sync_readings.py --save before.json      # at the commit before the change
    python bench/sync_readings.py --compare before.json   # after it: which clips read otherwise
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def readings(media: Path) -> dict:
    from duetto.align import measure_sync
    out = {}
    for p in sorted(media.iterdir()):
        if p.suffix in (".mp4", ".mkv", ".avi", ".mov", ".webm"):
            r = measure_sync(str(p))
            out[p.name] = {"offset_ms": r.offset_ms, "confidence": r.confidence, "readings": r.readings}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path, help="write the readings here")
    g.add_argument("--compare", type=Path, help="read these and name the clips that now read otherwise")
    a = ap.parse_args()
    now = readings(a.media)
    if a.save:
        a.save.write_text(json.dumps(now, indent=1))
        print(f"{len(now)} clips' readings written to {a.save}")
        return
    before = json.loads(a.compare.read_text())
    differ = sorted(k for k in now if now[k] != before.get(k))
    for k in differ:
        print(f"{k}: {before.get(k, {}).get('offset_ms')} ms ({before.get(k, {}).get('confidence')}) -> "
              f"{now[k]['offset_ms']} ms ({now[k]['confidence']})")
    print(f"{len(differ)} of {len(now)} clips read otherwise")


if __name__ == "__main__":
    main()
