"""Where one joint-model training update spends its time: building the batch, forward and loss, backward with
gradient clipping, the optimiser and the EMA, in milliseconds per update, and how many operators (and, on a GPU,
kernel launches) an update makes. Random latents of the shipped shape (16 x 8 x 8 video latents at 25/s, 8 audio
channels at 50/s), 2 s windows, the tiny preset with 4 x 4 video patches, change weight 3, cross-modal dropout
0.15, bf16 autocast on a GPU as the trainer does. Speed does not depend on the weights or the data.

    python bench/train_step.py [--batch-size 8] [--updates 20] [--threads 2] [--device cpu|cuda]

Measured on an H200 (2026-12-04, batch 32, with this script's first version): 146 ms per update, of which the GPU was busy about 20 ms; an update
made about 4,900 kernel launches. The tiny model is launch-bound there: fewer, larger operations (fused
elementwise work, torch.compile, CUDA graphs) are what would speed it up, not a faster GPU.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=8, help="clips per update (default 8, as the shipped recipe)")
    p.add_argument("--updates", type=int, default=20, help="timed updates after 5 warm-up ones (default 20)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--compile", action="store_true", help="compile the model (nn.Module.compile, in place)")
    a = p.parse_args(argv)
    if a.batch_size < 1 or a.updates < 1:
        p.error("--batch-size and --updates must be at least 1")
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    from duetto.joint.config import preset
    from duetto.joint.flow import FlowConfig
    from duetto.joint.model import JointDiT
    from duetto.joint.text import HashingEncoder
    from duetto.train.ema import EMA
    from duetto.train.joint_task import JointTask
    torch.set_num_threads(a.threads)
    dev = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = dev == "cuda"
    cfg = replace(preset("tiny"), video_channels=16, audio_channels=8, video_patch=4, text_dim=384)
    vt, at = torch.arange(100, dtype=torch.float64) / 25, torch.arange(200, dtype=torch.float64) / 50
    g = torch.Generator().manual_seed(0)
    clips = [{"key": f"k{i}", "video": torch.randn(16, 100, 8, 8, generator=g), "audio": torch.randn(8, 200, generator=g),
              "video_times": vt, "audio_times": at, "caption": f"a ball bounces {i}", "meta": {}, "info": {},
              "voice": torch.zeros(64), "music": torch.zeros(200, 14)} for i in range(max(16, a.batch_size))]
    torch.manual_seed(0)
    model = JointDiT(cfg)
    task = JointTask(model, clips, [], HashingEncoder(384), batch_size=a.batch_size, crop_seconds=2, seed=0,
                     flow=FlowConfig(cross_dropout=0.15, change_weight=3))
    model.to(dev)
    if a.compile:
        model.compile()
    ema, opt = EMA(model, 0.995), torch.optim.AdamW(model.parameters(), lr=1e-4)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def update(step, parts=None):
        t = [time.perf_counter()]
        b = {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in task.batch(step).items()}
        sync(), t.append(time.perf_counter())
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=cuda):
            loss, _ = task.loss(model, b, step)
        sync(), t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        sync(), t.append(time.perf_counter())
        opt.step()
        sync(), t.append(time.perf_counter())
        ema.update(model, step)
        sync(), t.append(time.perf_counter())
        if parts is not None:
            parts.append(np.diff(t) * 1000)

    t0 = time.perf_counter()
    for s in range(1, 6):
        update(s)
    warm = time.perf_counter() - t0
    parts = []
    for s in range(6, 6 + a.updates):
        update(s, parts)
    n_prof = 3
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for s in range(1000, 1000 + n_prof):
            update(s)
    events = prof.key_averages()
    ops = sum(e.count for e in events if e.key.startswith("aten::")) / n_prof
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")) / n_prof
    m = np.mean(parts, axis=0)
    name = torch.cuda.get_device_name() if cuda else f"cpu, {a.threads} thread(s)"
    print(f"tiny joint model, {sum(x.numel() for x in model.parameters()) / 1e6:.2f} M parameters, batch {a.batch_size} "
          f"of 2 s windows, {name}, torch {torch.__version__}{', compiled' if a.compile else ''}; "
          f"the 5 warm-up updates took {warm:.1f} s")
    print("| batch | forward + loss | backward + clip | optimiser | EMA | total ms/update | updates/s | aten ops/update | kernel launches/update |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("| " + " | ".join(f"{x:.1f}" for x in m) + f" | {m.sum():.1f} | {1000 / m.sum():.2f} | {ops:.0f} | "
          + (f"{launches:.0f}" if cuda else "-") + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
