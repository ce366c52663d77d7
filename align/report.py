"""Reports for people and machines: a table row, JSON, JUnit XML, and exit codes."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from duetto.data.media import atomic_write

from .measure import SyncReport

EXIT = {"pass": 0, "fail": 1, "no-signal": 3}   # 2 is bad input


def exit_code(reports: list[SyncReport]) -> int:
    """0 all pass; 1 any out of tolerance; 3 any without a usable signal (and none failing)."""
    codes = {EXIT[r.verdict] for r in reports}
    return 1 if 1 in codes else 3 if 3 in codes else 0


def row(r: SyncReport) -> dict:
    return {"clip": r.source, "method": r.method,
            "offset_ms": "-" if r.offset_ms is None else f"{r.offset_ms:+.0f}",
            "confidence": f"{r.confidence:.1f}", "drift_ms/min": "-" if r.drift_ms_per_min is None
            else f"{r.drift_ms_per_min:+.0f}", "verdict": r.verdict, "reason": r.reason}


def write_junit(path, reports: list[SyncReport], name: str = "duetto-sync"):
    """One test case per clip: a failure when out of tolerance, skipped when there is no usable signal."""
    suite = ET.Element("testsuite", name=name, tests=str(len(reports)),
                       failures=str(sum(r.verdict == "fail" for r in reports)),
                       skipped=str(sum(r.verdict == "no-signal" for r in reports)))
    for r in reports:
        case = ET.SubElement(suite, "testcase", classname="av-sync", name=r.source)
        if r.verdict == "fail":
            ET.SubElement(case, "failure", message=r.reason).text = (
                f"offset {r.offset_ms:+.1f} ms (positive: sound ahead), confidence {r.confidence:.1f}, "
                f"tolerance {r.tolerance}")
        elif r.verdict == "no-signal":
            ET.SubElement(case, "skipped", message=r.reason)
    atomic_write(Path(path), ET.tostring(suite, encoding="utf-8", xml_declaration=True))
