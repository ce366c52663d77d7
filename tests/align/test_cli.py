"""duetto-sync as a QA engineer uses it: check (table, JSON, JUnit, PNG, exit codes), fix, eval, helper."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import pytest

from duetto.align.shift import shift_audio
from duetto.align.testing import assert_in_sync
from duetto.data import write_clip
from duetto.data.synth import SynthConfig, render

BIN = Path(sys.executable).parent / "duetto-sync"


def sync(*args):
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("sync")
    # seed 3: a clear match (confidence 16 when 200 ms late); seed 4's bounces match one period off
    # within 0.01 of in place, a coin toss for an mp4 round trip
    clip = render("impacts", 3, SynthConfig(seconds=4.0, fps=25, size=64))
    return {"good": write_clip(d / "good.mp4", clip), "late": write_clip(d / "late.mp4", shift_audio(clip, -200)),
            "dir": d}


def test_check_exit_codes_json_junit_and_plot(clips):
    r = sync("check", clips["good"], "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "pass" and abs(rep["offset_ms"]) <= 40
    junit, plots, png = clips["dir"] / "r.xml", clips["dir"] / "plots", clips["dir"] / "one.png"
    r = sync("check", clips["good"], clips["late"], "--junit", junit, "--plot", plots)
    assert r.returncode == 1 and "fail" in r.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert sorted(p.name for p in plots.iterdir()) == ["good.png", "late.png"]      # one PNG per clip
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    assert sync("check", clips["good"], "--plot", png).returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_no_signal_fails_by_default_and_can_be_skipped_or_passed(clips, tmp_path):
    """A check that cannot see sync has not shown it: exit 3 and a JUnit failure unless told otherwise."""
    clip = render("impacts", 4, SynthConfig(seconds=2.0, fps=25, size=32))
    clip.audio[:] = 0
    silent = write_clip(tmp_path / "silent.mp4", clip)
    for policy, code, tag in (("fail", 3, "failure"), ("skip", 0, "skipped"), ("pass", 0, None)):
        junit = tmp_path / f"{policy}.xml"
        args = ("check", silent, clips["good"], "--junit", junit) + (("--no-signal", policy) if policy != "fail" else ())
        r = sync(*args)
        assert r.returncode == code, (policy, r.stdout, r.stderr)
        case = [c for c in ET.parse(junit).getroot() if c.get("name").endswith("silent.mp4")][0]
        assert [e.tag for e in case if e.tag != "system-out"] == ([tag] if tag else [])
        if tag == "failure":
            assert "no usable sync signal" in case[0].get("message")
    assert sync("check", silent, "--no-signal", "maybe").returncode == 2


def test_check_bad_input_and_no_signal(clips, tmp_path):
    r = sync("check", tmp_path / "nope.mp4")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "x.mp4").write_text("not media")
    r = sync("check", tmp_path / "x.mp4")
    assert r.returncode == 2 and "not a readable media file" in r.stderr
    r = sync("check", clips["good"], "--preset", "loose")
    assert r.returncode == 2 and "unknown tolerance" in r.stderr
    clip = render("impacts", 4, SynthConfig(seconds=2.0, fps=25, size=32))
    clip.audio[:] = 0
    r = sync("check", write_clip(tmp_path / "silent.mp4", clip))
    assert r.returncode == 3 and "silence" in r.stdout


def test_fix_copies_the_picture_and_removes_the_offset(clips, tmp_path):
    out, given = tmp_path / "fixed.mp4", tmp_path / "given.mp4"
    r = sync("fix", clips["late"], "-o", out)                 # by the measured offset
    assert r.returncode == 0, r.stderr
    with av.open(str(clips["late"])) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(video=0) if p.size]
        pb = [bytes(p) for p in b.demux(video=0) if p.size]
    assert pa == pb                                           # picture not re-encoded
    rep = json.loads(sync("check", out, "--json").stdout)
    assert abs(rep["offset_ms"]) <= 20                         # half a frame at 25 fps
    # a given offset moves the sound by exactly that much: the fixed copy measures like the original
    assert sync("fix", clips["late"], "-o", given, "--offset", -200).returncode == 0
    was = json.loads(sync("check", clips["good"], "--json").stdout)["offset_ms"]
    assert abs(json.loads(sync("check", given, "--json").stdout)["offset_ms"] - was) <= 20


def test_eval_reports_recovery(clips):
    r = sync("eval", clips["good"], "--shifts", "-120,0,120", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["rows"]) == 3 and out["summary"][-1]["method"] == "all"
    assert out["summary"][-1]["rel_within_1_frame"] == 1.0
    r = sync("eval", clips["good"], clips["late"], "--shifts", "0", "--unrelated", "1", "--json")
    out = json.loads(r.stdout)
    assert len(out["rows"]) == 4 and [row["shift_ms"] for row in out["rows"]] == [0, None, 0, None]
    assert out["summary"][-1]["method"] == "unrelated sound" and out["summary"][-1]["clips"] == 2
    assert sum(b["readings"] for b in out["calibration"]) == 4          # every reading in some confidence bin


def test_pytest_helper(clips):
    assert assert_in_sync(clips["good"]).verdict == "pass"
    with pytest.raises(AssertionError, match=r"out of sync: sound is \d+ ms behind the picture"):
        assert_in_sync(clips["late"])


def test_fix_keeps_every_channel_and_refuses_impossible_offsets(tmp_path):
    """A 5.1 clip whose sound is only in the centre channel (a voice) keeps it after fix; an offset as long as
    the clip, or not a number, is refused with one line and exit 2, and nothing is written."""
    import numpy as np
    from fractions import Fraction
    from duetto.data.media import audio_frame
    clip = render("impacts", 3, SynthConfig(seconds=2.0, fps=25, size=32, sample_rate=48000))
    six = np.zeros((6, clip.audio.shape[1]), np.float32)
    six[2] = clip.audio[0]                                       # the centre channel
    src = tmp_path / "surround.mp4"
    with av.open(str(src), "w") as out:                          # write_clip writes mono or stereo only
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = 32
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=48000, layout="5.1")
        aus.time_base = Fraction(1, 48000)
        for k, img in enumerate(clip.video):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")))
        out.mux(vs.encode(None))
        for i in range(0, six.shape[1], 1024):
            out.mux(aus.encode(audio_frame(np.ascontiguousarray(six[:, i:i + 1024]), "aac", "5.1", 48000, i)))
        out.mux(aus.encode(None))
    out = tmp_path / "fixed.mp4"
    assert sync("fix", src, "-o", out, "--offset", "40").returncode == 0
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.channels == 6
        x = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=-1)
    loud = np.sqrt((x.astype(np.float64) ** 2).mean(axis=-1))
    assert loud.argmax() == 2 and loud[2] > 0.01, loud
    for bad in ("1e9", "nan", "-inf"):
        r = sync("fix", src, "-o", tmp_path / f"bad-{bad}.mp4", "--offset", bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / f"bad-{bad}.mp4").exists()
    r = sync("check", src, "--search", "-1")
    assert r.returncode == 2 and "--search" in r.stderr
