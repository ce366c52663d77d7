"""Lip-sync tolerance presets. Offsets follow ITU-R BT.1359: positive = sound ahead of the picture."""
from __future__ import annotations

import re
from dataclasses import dataclass

from duetto.data.errors import DuettoError


@dataclass(frozen=True)
class Tolerance:
    name: str
    lead_ms: float   # how far sound may be ahead of the picture (positive offsets)
    lag_ms: float    # how far sound may be behind it (negative offsets), as a positive number

    def allows(self, offset_ms: float) -> bool:
        return -self.lag_ms <= offset_ms <= self.lead_ms

    def __str__(self):
        return f"{self.name} (+{self.lead_ms:g}/-{self.lag_ms:g} ms)"


PRESETS = {
    "itu-detect": Tolerance("itu-detect", 45, 125),   # ITU-R BT.1359 threshold of detectability
    "itu-accept": Tolerance("itu-accept", 90, 185),   # ITU-R BT.1359 threshold of acceptability
    "ebu-r37": Tolerance("ebu-r37", 40, 60),          # EBU R37
    "atsc": Tolerance("atsc", 15, 45),                # ATSC IS-191
}
DEFAULT_PRESET = "itu-detect"


def tolerance(spec: str) -> Tolerance:
    """A preset name, or a custom ``+A/-B`` in milliseconds (e.g. ``+40/-60``)."""
    if spec in PRESETS:
        return PRESETS[spec]
    m = re.fullmatch(r"\+?(\d+(?:\.\d+)?)\s*/\s*-(\d+(?:\.\d+)?)", spec.strip())
    if not m:
        raise DuettoError(f"unknown tolerance {spec!r}: use one of {', '.join(PRESETS)} or +A/-B in ms")
    return Tolerance(f"custom {spec.strip()}", float(m.group(1)), float(m.group(2)))
