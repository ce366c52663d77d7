"""Shared fixtures: the real media folder, and a micro generation bundle with untrained weights (the
click-and-flash signals are in duetto.data.testsignals)."""
from __future__ import annotations

from pathlib import Path

import pytest

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture
def media():
    if not MEDIA.is_dir():
        pytest.skip(f"real clips folder {MEDIA} is absent")
    return MEDIA


def _micro_generation():
    from duetto.joint.pipeline import GenerationConfig
    return GenerationConfig(size=32, text_encoder="hashing-16", steps=2, seconds=1.0, video_scale=2.0, audio_scale=2.0)


MICRO_GENERATION = _micro_generation()


@pytest.fixture(scope="session")
def micro_bundle(tmp_path_factory):
    """A bundle of a micro joint model (untrained, weights nudged off zero so every stream moves), the
    untrained `tiny` VAEs and a hashing caption encoder: what `duetto generate` and `duetto-train eval` run."""
    import torch

    from duetto.audio.vae import AudioVAE
    from duetto.audio.vae import preset as audio_preset
    from duetto.joint.config import JointConfig
    from duetto.joint.model import JointDiT
    from duetto.joint.pipeline import Pipeline
    from duetto.joint.text import load_text_encoder
    from duetto.video.vae import VideoVAE
    from duetto.video.vae import preset as video_preset
    torch.manual_seed(0)
    vvae, avae = VideoVAE(video_preset("tiny")), AudioVAE(audio_preset("tiny"))
    model = JointDiT(JointConfig(dim=32, depth=2, heads=2, cross_every=1, text_dim=16,
                                 video_channels=vvae.latent_channels, audio_channels=avae.latent_channels))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    pipe = Pipeline(model, vvae, avae, load_text_encoder("hashing-16"), MICRO_GENERATION)
    return pipe.save(tmp_path_factory.mktemp("bundle") / "micro")
