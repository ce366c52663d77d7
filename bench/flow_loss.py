"""Held-out flow loss of joint models: the trainer's own evaluation (velocity error at flow times 0.25, 0.5 and 0.75,
fixed noise, per stream) on the clips a run holds out of its latent shards (`--held-out`, default 0.03, chosen by
key as `duetto-train joint` does), so that bundles trained on the same shards compare on the same clips.

    python bench/flow_loss.py BUNDLE_OR_MODEL_FOLDER... --data LATENT_SHARDS... [--held-out 0.03]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path, help="generation bundles or joint model folders")
    p.add_argument("--data", nargs="+", required=True, help="the latent shards the models were trained on")
    p.add_argument("--held-out", type=float, default=0.03, help="share held out, as in training (default 0.03)")
    a = p.parse_args(argv)
    import torch

    from duetto.data.bank import held_out_indices
    from duetto.data.latents import load_latents
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.joint_task import JointTask
    clips = load_latents(a.data)
    out = held_out_indices([c["key"] for c in clips], a.held_out)
    held = [c for i, c in enumerate(clips) if i in out]
    if not held:
        p.error("no clips held out: raise --held-out")
    task = None
    print(f"| model | held-out clips | flow loss, video | flow loss, audio |\n|---|---|---|---|")
    for folder in a.models:
        model = JointDiT.from_pretrained(folder / "joint" if (folder / "joint").is_dir() else folder).float().eval()
        task = task or JointTask(model, held, held, load_text_encoder("minilm"), batch_size=8)
        with torch.no_grad():
            r = task.evaluate(model, 0)
        print(f"| {folder} | {len(held)} | {r['flow_video']:.4f} | {r['flow_audio']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
