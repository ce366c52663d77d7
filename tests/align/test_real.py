"""On real footage (../shared/media, published in sync): known shifts are tracked, and fix then check
brings a shifted file back to within half a frame. The full tables are in bench/sync.py."""
import pytest

from duetto.align import measure_sync
from duetto.align.fix import fix_offset


@pytest.mark.parametrize("name, method, shift", [("talking_hdtf_512.mp4", "speech", 120),
                                                 ("hitting_metal_15fps.mp4", "events", -240)])
def test_shift_then_fix_then_check(media, tmp_path, name, method, shift):
    src = media / name
    base = measure_sync(src)
    assert base.method == method
    frame_ms = 1000 / base.fps
    shifted = fix_offset(src, tmp_path / "shifted.mp4", -shift)      # sound now `shift` ms ahead
    r = measure_sync(shifted)
    assert abs(r.offset_ms - base.offset_ms - shift) <= frame_ms, (base.offset_ms, r.offset_ms)
    fixed = fix_offset(shifted, tmp_path / "fixed.mp4", r.offset_ms)
    after = measure_sync(fixed)
    assert abs(after.offset_ms) <= frame_ms / 2, after.offset_ms
