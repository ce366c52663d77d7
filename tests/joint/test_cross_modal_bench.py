"""bench/cross_modal.py: a model without cross-modal attention scores the given stream's alignment exactly
the same whether it is aligned, shifted or another clip's; a model with it does not."""
import importlib.util
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from duetto.joint.config import preset
from duetto.joint.pipeline import Pipeline

spec = importlib.util.spec_from_file_location("cross_modal", Path(__file__).resolve().parents[2] / "bench" / "cross_modal.py")
cross_modal = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cross_modal)


class Bank(SimpleNamespace):
    def __len__(self):
        return len(self.videos)


def bank(pipe, n=2, seconds=1.0):
    lay = pipe.layout(seconds)
    rng = np.random.default_rng(0)
    return Bank(videos=[rng.integers(0, 255, (lay["frames"], pipe.config.size, pipe.config.size, 3), dtype=np.uint8) for _ in range(n)],
                audios=[rng.standard_normal((1, lay["samples"])).astype(np.float32) * 0.1 for _ in range(n)],
                metas=[{"caption": f"clip {i}"} for i in range(n)])


@pytest.mark.parametrize("given", ["video", "audio"])
@pytest.mark.parametrize("cross", [False, True])
def test_only_a_model_with_cross_attention_sees_the_other_stream(given, cross):
    from conftest import MICRO_GENERATION
    torch.manual_seed(0)
    pipe = Pipeline.untrained(replace(preset("micro"), cross_modal=cross), MICRO_GENERATION)
    with torch.no_grad():
        for p in pipe.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    r = cross_modal.losses(pipe, bank(pipe), given=given, shift=0.4, times=[0.5], seconds=1.0, n=None)
    lay = pipe.layout(1.0)                                   # 0.4 s in whole latents of the given stream
    per_s = (lay["n_video"] if given == "video" else lay["n_audio"]) * lay["fps"] / lay["frames"]
    assert r["roll"] == round(0.4 * per_s) >= 1 and len(r["aligned"]) == 2
    same = np.allclose(r["aligned"], r["other"], rtol=0, atol=1e-7) and np.allclose(r["aligned"], r["shifted"], rtol=0, atol=1e-7)
    assert same is (not cross)
