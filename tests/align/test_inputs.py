"""duetto-sync on awkward inputs: documented exit codes and a one-line reason, never a traceback."""
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from bad_inputs import make_bad_files
from duetto.data.synth import SynthConfig, render

BIN = Path(sys.executable).parent / "duetto-sync"


def check(path):
    r = subprocess.run([str(BIN), "check", str(path)], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def custom(path, fps_pts_ms, channels=1, sr=16000, layout="mono"):
    """An mkv with frames at the given pts (ms), a moving square, and clicks on every 10th frame."""
    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("ffv1", rate=1000)
        vs.width = vs.height = 32
        vs.pix_fmt = "bgr0"
        vs.time_base = Fraction(1, 1000)
        aus = out.add_stream("pcm_f32le", rate=sr, layout=layout)
        n = int((fps_pts_ms[-1] / 1000 + 0.1) * sr)
        audio = np.zeros((channels, n), np.float32)
        for i, p in enumerate(fps_pts_ms):
            img = np.zeros((32, 32, 3), np.uint8)
            img[(i * 3) % 28:(i * 3) % 28 + 4, 10:14] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = p, Fraction(1, 1000)
            out.mux(vs.encode(f))
            if i % 10 == 0:
                s = int(p / 1000 * sr)
                audio[:, s:s + sr // 100] = 0.5
        a = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T.reshape(1, -1)), format="flt", layout=layout)
        a.sample_rate, a.pts, a.time_base = sr, 0, Fraction(1, sr)
        out.mux(aus.encode(a))
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    return path


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", ["truncated", "no_audio", "no_video", "empty", "not_media"])
def test_unreadable_inputs_exit_2_with_one_line(bad, name):
    path, phrase = bad[name]
    r = check(path)
    assert r.returncode == 2 and phrase in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_odd_but_valid_inputs_are_measured(tmp_path):
    rng = np.random.default_rng(0)
    vfr = np.cumsum(rng.integers(25, 55, 120)).tolist()
    cases = {
        "six_channels": custom(tmp_path / "c6.mkv", [40 * i for i in range(100)], channels=6, layout="5.1"),
        "8khz": custom(tmp_path / "8k.mkv", [40 * i for i in range(100)], sr=8000),
        "15fps": custom(tmp_path / "15.mkv", [round(1000 * i / 15) for i in range(60)]),
        "vfr": custom(tmp_path / "vfr.mkv", vfr),
    }
    for name, path in cases.items():
        r = check(path)
        assert r.returncode in (0, 1, 3), (name, r.returncode, r.stderr)
        assert r.stdout.count("\n") >= 3, (name, r.stdout)   # a table with a row


def test_15fps_synthetic_clip_with_known_offset(tmp_path):
    clip = render("impacts", 2, SynthConfig(seconds=4.0, fps=15, size=64))
    from duetto.align import measure_sync
    from duetto.align.shift import shift_audio
    base, r = measure_sync(clip), measure_sync(shift_audio(clip, 100))
    assert abs(r.offset_ms - base.offset_ms - 100) <= 1000 / 15


def test_a_slideshow_is_no_signal_with_a_reason():
    """Two frames in two seconds (a still image track at 1 fps): once a crash deep in the events method."""
    from duetto.align import measure_sync
    from duetto.data import Clip
    rng = np.random.default_rng(0)
    clip = Clip(video=rng.integers(0, 255, (2, 32, 32, 3)).astype(np.uint8),
                audio=(0.3 * rng.standard_normal((1, 32000))).astype(np.float32), fps=1.0, sample_rate=16000)
    r = measure_sync(clip)
    assert r.verdict == "no-signal" and "too few to time sound against" in r.reason, r.reason
