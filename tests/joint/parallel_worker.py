"""Run under torchrun by test_parallel.py: guided, video-to-audio and audio-to-video latents of a bundle with a
guided step's passes spread across the ranks (``guidance``) or each pass's tokens split by time (``sequence``);
rank 0 saves them.

    python -m torch.distributed.run --nproc_per_node N parallel_worker.py BUNDLE OUT.safetensors guidance|sequence
"""
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


SECONDS = {"guidance": 1.0, "sequence": 2.0}      # 2 s: 14 video latents and 106 audio ones, even for 2 ranks


if __name__ == "__main__":
    torch.set_num_threads(1)
    rank, world, _ = parallel.start(torch.device("cpu"))
    pipe, mode = load(sys.argv[1]), sys.argv[3]
    if mode == "guidance":
        pipe.passes = parallel.across_ranks()
    else:
        from duetto.joint.sequence import SequenceParallel
        pipe.sequence = SequenceParallel()
    calls = []
    pipe.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        out = latents(pipe, SECONDS[mode])
    except Exception as e:                         # a launch that cannot split: the one-line error, on every rank
        print(f"rank {rank}: error: {e}", flush=True)
        parallel.stop()
        sys.exit(2)
    if rank == 0:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in out.items()}, sys.argv[2])
    print(f"rank {rank} of {world}: {len(calls)} passes", flush=True)
    parallel.stop()
