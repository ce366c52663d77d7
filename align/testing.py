"""A pytest helper for QA suites: ``assert_in_sync("clip.mp4", preset="ebu-r37")``."""
from __future__ import annotations

from .measure import measure_sync
from .tolerance import DEFAULT_PRESET


def assert_in_sync(path, preset: str = DEFAULT_PRESET, method: str = "auto", allow_no_signal: bool = False):
    """Fail with a readable message unless ``path`` is in sync within ``preset``; returns the report."""
    r = measure_sync(path, preset=preset, method=method)
    if r.verdict == "pass" or (r.verdict == "no-signal" and allow_no_signal):
        return r
    if r.verdict == "no-signal":
        raise AssertionError(f"{path}: cannot judge sync: {r.reason}")
    raise AssertionError(f"{path}: out of sync: sound is {abs(r.offset_ms):.0f} ms "
                         f"{'ahead of' if r.offset_ms > 0 else 'behind'} the picture "
                         f"(tolerance {r.tolerance}, confidence {r.confidence:.1f}, method {r.method})")
