"""Reports for people and machines: a table row, JSON, JUnit XML, and exit codes."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from duetto.data import console
from duetto.data.media import atomic_write

from .measure import SyncReport

EXIT = {"pass": console.EXIT_OK, "fail": console.EXIT_FAIL, "no-signal": console.EXIT_NO_SIGNAL}
NO_SIGNAL = ("fail", "skip", "pass")           # what a clip without a usable sync signal counts as


def exit_code(reports: list[SyncReport], no_signal: str = "fail") -> int:
    """0 all pass; 1 any out of tolerance; 3 any without a usable signal (and none out of tolerance), unless
    ``no_signal`` is ``skip`` or ``pass``: then such clips do not change the exit code."""
    codes = {EXIT[r.verdict] for r in reports if r.verdict != "no-signal" or no_signal == "fail"}
    return 1 if 1 in codes else 3 if 3 in codes else 0


def row(r: SyncReport) -> dict:
    return {"clip": r.source, "method": r.method,
            "offset_ms": "-" if r.offset_ms is None else f"{r.offset_ms:+.0f}",
            "confidence": f"{r.confidence:.2f}", "drift_ms/min": "-" if r.drift_ms_per_min is None
            else f"{r.drift_ms_per_min:+.0f}", "verdict": r.verdict, "reason": r.reason}


def write_junit(path, reports: list[SyncReport], name: str = "duetto-sync", no_signal: str = "fail"):
    """One test case per clip: a failure when out of tolerance; a clip without a usable signal is a failure
    (``no_signal="fail"``, the default: a check that cannot see sync has not shown it), skipped, or passed with
    its reason in the case's output."""
    unusable = [r for r in reports if r.verdict == "no-signal"]
    suite = ET.Element("testsuite", name=name, tests=str(len(reports)),
                       failures=str(sum(r.verdict == "fail" for r in reports)
                                    + (len(unusable) if no_signal == "fail" else 0)),
                       skipped=str(len(unusable) if no_signal == "skip" else 0))
    for r in reports:
        case = ET.SubElement(suite, "testcase", classname="av-sync", name=r.source)
        if r.verdict == "fail":
            ET.SubElement(case, "failure", message=r.reason, type="out-of-sync").text = (
                f"offset {r.offset_ms:+.1f} ms (positive: sound ahead), confidence {r.confidence:.2f}, "
                f"tolerance {r.tolerance}")
        elif r.verdict == "no-signal":
            if no_signal == "fail":
                ET.SubElement(case, "failure", message=f"no usable sync signal: {r.reason}", type="no-signal")
            elif no_signal == "skip":
                ET.SubElement(case, "skipped", message=r.reason)
            else:
                ET.SubElement(case, "system-out").text = f"no usable sync signal, passed by --no-signal pass: {r.reason}"
    atomic_write(Path(path), ET.tostring(suite, encoding="utf-8", xml_declaration=True))
