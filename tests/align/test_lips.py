"""Faces and lips from the face models mediapipe ships (BlazeFace, the face mesh), and the speech method on them."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from duetto.align import lips, measure_sync
from duetto.align.evaluate import evaluate
from duetto.align.measure import analysis_input
from duetto.align.shift import shift_audio
from duetto.data.media import LumaClip
from duetto.data.synth import SynthConfig, render

MEDIA = Path(__file__).resolve().parents[2] / ".." / "shared" / "media"
pytestmark = pytest.mark.skipif(not lips.available(), reason="mediapipe 0.10.21 is not installed (.ci/setup.sh)")
CFG = SynthConfig(seconds=4.0, fps=25, size=128, sample_rate=16000)


def _media(name):
    p = MEDIA / name
    if not p.is_file():
        pytest.skip(f"{p} is absent (the shared real clips)")
    return p


def test_mesh_reads_a_synthetic_mouth_that_opens_with_the_speech():
    """The synthetic speaker's mouth opening is known (the renderer draws it from the speech); the mesh's
    inner-lip opening follows it."""
    clip = render("speech", 95000, CFG)
    y = analysis_input(clip)[0].luma
    faces = lips.find_faces(y)
    assert len(faces) == 1 and faces[0].share >= 0.5
    fy0, fy1, fx0, fx1 = faces[0].box
    my0, my1, mx0, mx1 = faces[0].mouth
    assert fy0 < my0 < my1 <= fy1 + 2 and fx0 <= mx0 < mx1 <= fx1 + 2        # the mouth inside the face
    aperture, box = lips.lip_opening(y, faces[0], stride=1)
    assert box is not None and np.isfinite(aperture).mean() > 0.8
    ok = np.isfinite(aperture)
    dark = -y[:, box[0]:box[1], box[2]:box[3]].mean(axis=(1, 2))               # an open mouth shows its cavity
    assert np.corrcoef(aperture[ok], dark[ok])[0, 1] > 0.5


@pytest.mark.parametrize("shift", [-200, 0, 120])
def test_speech_method_reads_the_lips_of_a_synthetic_speaker(shift):
    r = measure_sync(shift_audio(render("speech", 95001, CFG), shift))
    assert r.method == "speech" and r.face == "mesh", r.readings
    assert abs(r.offset_ms - shift) <= 40 and r.verdict != "no-signal"


def test_no_face_on_an_impacts_clip():
    y = analysis_input(render("impacts", 95000, CFG))[0].luma
    assert lips.find_faces(y) == []


def test_face_that_fills_the_frame_and_small_face_in_a_wide_shot_are_read_by_the_lips():
    """The same talking head filling its frame, and shrunk to 80 pixels inside a 640 x 360 picture: both read by
    the mesh (the small one through the tiled search), at the same offset within a frame."""
    clip, _ = analysis_input(_media("speech_lrs2_00019.mp4"))
    full = measure_sync(clip)
    assert full.method == "speech" and full.face == "mesh"
    small = np.stack([cv2.resize(f, (80, 80), interpolation=cv2.INTER_AREA) for f in clip.luma])
    canvas = np.full((len(small), 360, 640), 90, np.uint8)
    canvas[:, 200:280, 400:480] = small
    wide = measure_sync(LumaClip(luma=canvas, audio=clip.audio, fps=clip.fps, sample_rate=clip.sample_rate))
    assert wide.method == "speech" and wide.face == "mesh", wide.readings
    assert abs(wide.offset_ms - full.offset_ms) <= 40


def test_eval_reads_a_small_face_from_the_file_as_check_does():
    """Faces 39-43 pixels tall at the analysis size (a 720p split screen): `check` on the file reads them again at a
    larger size; `eval`, which shifts the sound of a clip decoded once, reads the same file for them and so reports
    the reading `check` gives, not the one from the small picture."""
    p = _media("speech_interview_split_screen.mp4")
    rows, _ = evaluate([p], shifts=(0,))
    assert rows[0]["readings"] == measure_sync(p).readings
    small = measure_sync(analysis_input(p)[0]).readings["speech"]
    assert small != rows[0]["readings"]["speech"]          # the test would not see the difference otherwise


def test_stride_follows_the_frame_rate():
    assert [lips.mesh_stride(f) for f in (15, 18.7, 24, 25, 29.97, 50, 60)] == [1, 1, 2, 2, 2, 4, 5]


def test_without_mediapipe_the_haar_cascade_finds_the_mouth(monkeypatch):
    monkeypatch.setattr(lips, "available", lambda: False)
    r = measure_sync(shift_audio(render("speech", 95002, CFG), 120))
    assert r.method == "speech" and r.face == "haar"
    assert abs(r.offset_ms - 120) <= 40
