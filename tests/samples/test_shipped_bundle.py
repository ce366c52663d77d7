"""The shipped generation bundle (samples/duetto-tiny, see samples/README.md): it carries the shipped VAEs its
latents came from, runs on the frame-by-frame clock (25 video latents and 50 audio latents a second), and
its pipeline (what `duetto generate` runs) makes a clip of the requested length, reproducibly by seed."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(os.environ.get("DUETTO_TEST_VAES", Path(__file__).resolve().parents[2] / "samples"))
BUNDLE = SAMPLES / "duetto-tiny"

pytestmark = pytest.mark.skipif(not BUNDLE.is_dir(), reason="no trained bundle in samples/ yet")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_bundle_carries_the_shipped_vaes():
    for part, folder in (("video_vae", "vae-video-tiny"), ("audio_vae", "vae-audio-tiny")):
        for name in ("config.json", "model.safetensors"):
            assert digest(BUNDLE / part / name) == digest(SAMPLES / folder / name), f"{part}/{name}"


def test_it_generates_on_the_shared_clock():
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(BUNDLE)
    lay = pipe.layout(1.0)
    assert (lay["frames"], lay["n_video"], lay["n_audio"], lay["samples"]) == (25, 25, 50, 16000)
    assert np.allclose(lay["video_times"].numpy(), np.arange(25) / 25.0)           # latent k = frame k, at k/25 s
    a = pipe.generate("a red ball drops onto a wooden floor", seconds=1.0, steps=2, seed=3)[0]
    b = pipe.generate("a red ball drops onto a wooden floor", seconds=1.0, steps=2, seed=3)[0]
    assert a.video.shape == (25, 64, 64, 3) and a.audio.shape == (1, 16000) and a.fps == 25.0
    assert np.array_equal(a.video, b.video) and np.array_equal(a.audio, b.audio)
