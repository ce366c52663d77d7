"""Run under torchrun by test_parallel.py: guided, video-to-audio and audio-to-video latents of a bundle with a
guided step's passes spread across the ranks; rank 0 saves them."""
import sys

import numpy as np
import torch

from duetto.joint import parallel
from duetto.joint.pipeline import Pipeline


def latents(pipe, seconds=1.0):
    lay = pipe.layout(seconds)
    g = np.random.default_rng(0)
    video = g.integers(0, 255, (lay["frames"], pipe.config.size, pipe.config.size, 3), dtype=np.uint8)
    audio = (0.1 * g.standard_normal((pipe.audio_vae.channels, lay["samples"]))).astype(np.float32)
    out = {}
    for name, kw in (("joint", {}), ("video_given", {"video": video}), ("audio_given", {"audio": audio})):
        out[name + "_video"], out[name + "_audio"] = pipe.sample("a ball drops", lay, [3, 4], **kw)
    return out


def load(bundle):
    return Pipeline.load(bundle).with_sampling(video_sync_scale=1.5, audio_sync_scale=1.5)   # three passes a step


if __name__ == "__main__":
    torch.set_num_threads(1)
    rank, world, _ = parallel.start(torch.device("cpu"))
    pipe = load(sys.argv[1])
    pipe.passes = parallel.across_ranks()
    calls = []
    pipe.model.register_forward_hook(lambda *_: calls.append(1))
    out = latents(pipe)
    if rank == 0:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in out.items()}, sys.argv[2])
    print(f"rank {rank} of {world}: {len(calls)} passes", flush=True)
    parallel.stop()
