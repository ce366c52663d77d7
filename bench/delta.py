"""What storing a student as a low-rank delta on its teacher costs (`joint.delta`): bytes against sample error.

For a distillation run, the student's EMA weights (a checkpoint, or the finished model) are stored as float16
deltas of each rank asked (and whole), read back, and sampled on the run's 16 held-out teacher rollouts
(`DistilTask.sample_error`: mean squared latent difference of the student's samples to the teacher's, same noise and
conditions, per stream and step count). The row "student" is the weights as trained, in float32. A teacher that is
itself a delta bundle is stored against its own base (what `duetto-train export --delta` does).

    python bench/delta.py RUN [--step N] [--ranks 16 32 64]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def held_out_task(run: Path, student):
    """The run's `DistilTask` (its clips, rollouts and schedules) around ``student``."""
    from duetto.data.latents import load_latents
    from duetto.joint.pipeline import Pipeline
    from duetto.train.distil_task import DistilTask, segments
    from duetto.train.joint_task import stack_clips
    from duetto.train.rollouts import make_plan, read_rollouts, student_points
    cfg = json.loads((run / "run.json").read_text())["config"]
    pipe = Pipeline.load(cfg["teacher"])
    clips = load_latents(cfg["data"], video_vae=pipe.video_vae, audio_vae=pipe.audio_vae)
    seed = cfg["train"]["seed"]
    points = student_points(cfg["student_steps"], cfg["shift"])
    plan = make_plan(len(clips), cfg["rollouts"], seed)
    stack = stack_clips(clips, pipe.text_encoder, track=pipe.model.config.speech_track)
    rollouts = read_rollouts(run / "rollouts", plan, len(points))
    return DistilTask(student, stack, rollouts, plan.rows, points, segments(points, cfg["student_steps"], cfg["shift"]),
                      seed=seed, held_out=16, target=cfg.get("target", "segment")), Path(cfg["teacher"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--step", type=int, default=None, help="checkpoint (default: the finished model, else the newest)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[16, 32, 64])
    a = ap.parse_args()
    from duetto.data import console
    from duetto.joint.delta import apply_delta, take_delta
    from duetto.joint.model import JointDiT
    from duetto.train.export import source_weights
    torch.manual_seed(0)
    src, _ = source_weights(a.run, a.step)
    student = JointDiT.from_pretrained(src).eval()
    trained = {k: v.clone() for k, v in student.state_dict().items()}
    task, teacher = held_out_task(a.run, student)
    from duetto.train.export import delta_store_base
    store = delta_store_base(teacher)                 # the teacher, or its base when the teacher is a delta
    base = {**trained, **JointDiT.from_pretrained(store / "joint").state_dict()}   # + what the student grew
    rows = []
    for rank in [None, "whole", *a.ranks]:
        if rank is None:
            state, nbytes = trained, sum(v.numel() for v in trained.values()) * 2
        else:
            delta = {k: v.half() for k, v in take_delta(trained, base, None if rank == "whole" else rank).items()}
            nbytes = sum(v.numel() * 2 for v in delta.values())
            state = apply_delta(base, delta, "delta")
        student.load_state_dict(state)
        with torch.no_grad():
            err = task.sample_error(student)
        row = {"stored as": "student" if rank is None else f"delta {rank}", "MB": f"{nbytes / 1e6:.1f}"}
        for steps in sorted(err, reverse=True):
            row[f"{steps} step(s) video / audio"] = f"{err[steps]['video']:.4f} / {err[steps]['audio']:.4f}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"{a.run}: sample error on {len(task.held_idx)} held-out rollouts (mean squared latent difference to the "
          "teacher's samples); MB: float16 bytes of what the bundle stores for the joint model")
    print(console.table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
