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

    from duetto.joint.config import preset
    from duetto.joint.pipeline import Pipeline
    torch.manual_seed(0)
    pipe = Pipeline.untrained(preset("micro"), MICRO_GENERATION)
    with torch.no_grad():
        for p in pipe.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return pipe.save(tmp_path_factory.mktemp("bundle") / "micro")
