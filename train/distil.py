"""`duetto-train distil`: a few-step student of a generation bundle (method: `train.distil_task`).

    duetto-train distil --teacher samples/duetto-tiny-v2 --data latents/ --student-steps 4 --out runs/student
    duetto-train export runs/student --out models/duetto-tiny-student

Two phases in one run folder: the teacher's rollouts on the training clips' conditions (``rollouts/``, resumable
part by part, split across processes), then the student's training on the trainer every model uses (checkpoints,
exact resume, EMA, ``accelerate``). ``export`` writes a bundle whose ``generation.json`` holds the student's
schedule and no guidance, so ``duetto generate --checkpoint STUDENT`` needs no flags.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from duetto.data import console
from duetto.data.errors import DuettoError


def add_parser(sub, run_args) -> None:
    d = sub.add_parser("distil", help="distil a bundle into a few-step student (one model pass a step)",
                       description=__doc__.split("\n\n")[0] + " Example: duetto-train distil --teacher "
                       "samples/duetto-tiny-v2 --data latents/ --student-steps 4 --rollouts 512 --out runs/student")
    d.add_argument("--teacher", type=Path, default=None,
                   help="the teacher bundle (default: the shipped duetto-tiny-v2, the shipped student's teacher)")
    d.add_argument("--data", required=True, nargs="+",
                   help="latent shards of the teacher's VAEs: their captions, words, voices and music (and, for "
                        "the given-stream modes, their latents) condition the rollouts")
    d.add_argument("--student-steps", type=int, default=4, help="the student's steps (it also learns half, ... 1; default 4)")
    d.add_argument("--rollouts", type=int, default=512, help="teacher trajectories to distil from (default 512)")
    d.add_argument("--target", default="segment", choices=("segment", "endpoint"),
                   help="where a student step aims: the teacher's state at the step's end (segment) or the teacher's "
                        "final sample (endpoint) (default segment, the one measured better; see train/distil_task.py)")
    d.add_argument("--student-init", type=Path, default=None,
                   help="start the student from this bundle instead of the teacher's weights (e.g. the student of an "
                        "earlier teacher, taught the new teacher's rollouts); its model must be the teacher's kind")
    d.add_argument("--rollouts-only", action="store_true", help="stop after the rollouts (e.g. to train elsewhere)")
    d.add_argument("--steps", type=int, default=2000, help="student updates in total (default 2000)")
    d.add_argument("--out", required=True, type=Path, help="run folder (created; resumed when it holds this run)")
    d.add_argument("--batch-size", type=int, default=8, help="segments per update (default 8)")
    d.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (default 5e-5)")
    d.add_argument("--warmup", type=int, default=100, help="linear warm-up updates (default 100)")
    d.add_argument("--ema-decay", type=float, default=0.995, help="EMA of the student's weights (default 0.995)")
    from duetto.joint.device import add_device_arguments
    add_device_arguments(d)
    run_args(d, ckpt=250, evaluate=250, log=25)


def cmd_distil(a) -> int:
    from accelerate import PartialState

    from duetto.joint.cli import TEACHER_BUNDLE
    from duetto.joint.device import from_arguments
    if not 1 <= a.student_steps <= 64 or a.steps < 1 or a.batch_size < 1:
        raise DuettoError("--student-steps must be in [1, 64], --steps and --batch-size at least 1")
    teacher = (a.teacher or TEACHER_BUNDLE).resolve()
    if not teacher.is_dir():
        raise DuettoError(f"--teacher {teacher}: no such bundle folder")
    device, dtype = from_arguments(a)
    # first: under several GPUs it picks this process's own; on CPUs accelerate forms the job only with cpu=True
    state = PartialState(cpu=device.type == "cpu")
    from duetto.data.lock import FolderLock
    with FolderLock(a.out, "distillation", enabled=state.is_main_process):     # the rollouts, then the training
        return _distil(a, state, device, dtype, teacher)


def _distil(a, state, device, dtype, teacher) -> int:
    import torch

    from duetto.data.latents import load_latents
    from duetto.joint.pipeline import Pipeline

    from .cli import PROG, _check_same_run
    from .config import TrainConfig, data_paths
    from .distil_task import DistilTask, segments
    from .joint_task import stack_clips
    from .rollouts import make_plan, read_rollouts, student_points, write_plan, write_rollouts
    from .trainer import Trainer
    if device.type == "cuda" and state.num_processes > 1:
        device = state.device
    pipe = Pipeline.load(teacher).to(device, dtype)
    if a.student_steps >= pipe.config.steps:
        raise DuettoError(f"--student-steps {a.student_steps}: the teacher itself takes {pipe.config.steps}")
    if pipe.config.sampler != "euler":
        raise DuettoError(f"--teacher {teacher}: its sampler is {pipe.config.sampler}; distillation follows Euler "
                          "teachers (export one with the euler sampler)")
    start = _student_start(pipe.model.config, a.student_init)
    clips = load_latents(a.data, video_vae=pipe.video_vae, audio_vae=pipe.audio_vae)
    if not clips:
        raise DuettoError(f"no latent clips in {' '.join(map(str, a.data))}")
    points = student_points(a.student_steps, pipe.config.shift)
    plan = make_plan(len(clips), a.rollouts, a.seed)
    train_cfg = TrainConfig(steps=a.steps, lr=a.lr, warmup_steps=a.warmup, decay="cosine", ema_decay=a.ema_decay,
                            ckpt_every=a.ckpt_every, eval_every=a.eval_every, log_every=a.log_every,
                            seed=a.seed).check()
    rollout_info = {"teacher": str(teacher), "generation": dataclasses.asdict(pipe.config),
                    "data": data_paths(a.data), "clips": [c["key"] for c in clips], "rollouts": a.rollouts,
                    "seed": a.seed, "points": points, "part": plan.part}
    if dtype != torch.float32:                       # recorded only when used, so older plans stay valid
        rollout_info["dtype"] = str(dtype).removeprefix("torch.")
    resolved = {"command": "distil", "teacher": str(teacher), "data": data_paths(a.data),
                "student_steps": a.student_steps, "rollouts": a.rollouts, "batch_size": a.batch_size,
                "shift": pipe.config.shift, "text_encoder": pipe.config.text_encoder, "train": train_cfg.to_dict()}
    if a.target != "segment":                        # recorded only when used, so older runs resume as they were
        resolved["target"] = a.target
    if a.student_init is not None:
        resolved["student_init"] = str(a.student_init.resolve())
    _check_same_run(a.out, resolved)
    folder = a.out / "rollouts"
    if state.is_main_process:
        write_plan(folder, rollout_info)
    state.wait_for_everyone()
    model_cfg = pipe.model.config
    stack = stack_clips(clips, pipe.text_encoder, track=model_cfg.speech_track)
    made = write_rollouts(pipe, stack, plan, points, folder, rank=state.process_index, world=state.num_processes,
                          progress=not a.no_progress)
    state.wait_for_everyone()
    print(f"{PROG}: {len(plan.rows)} teacher rollouts in {folder} ({made} part(s) made now)", file=sys.stderr)
    if a.rollouts_only:
        return console.EXIT_OK
    rollouts = read_rollouts(folder, plan, len(points))
    del pipe
    student = start if start is not None else Pipeline.load(teacher).model   # the teacher's float32 weights
    pairs = segments(points, a.student_steps, resolved["shift"])
    task = DistilTask(student, stack, rollouts, plan.rows, points, pairs, batch_size=a.batch_size, seed=a.seed,
                      held_out=16, target=a.target)
    baseline = a.out / "baseline.json"
    if state.is_main_process and not baseline.is_file():      # the teacher's weights, unguided, at the student's steps
        import json

        import torch

        from duetto.data.media import atomic_write
        with torch.no_grad():                                # (with --student-init: the starting student's)
            base = task.evaluate(student.eval(), 0)
        atomic_write(baseline, (json.dumps(base) + "\n").encode())
    print(f"{PROG}: student of {teacher.name} for {a.student_steps} step(s): {len(pairs)} segment kinds, "
          f"{len(task.train_idx)} rollouts to train on, {len(task.held_idx)} held out; run folder {a.out}",
          file=sys.stderr)
    print(Trainer(task, train_cfg, a.out, resolved, progress=not a.no_progress).fit())
    return console.EXIT_OK


def _student_start(config, init):
    """``None`` (the student starts from the teacher's weights) or ``init``'s joint model, float32: a bundle whose
    model has the teacher's ``config`` (its latent calibration too: the rollouts are in the teacher's). Checked
    before any rollout is made."""
    from duetto.joint.pipeline import Pipeline
    if init is None:
        return None
    if not init.is_dir():
        raise DuettoError(f"--student-init {init}: no such bundle folder")
    start = Pipeline.load(init).model.float()
    mine, theirs = dataclasses.asdict(config), dataclasses.asdict(start.config)
    differ = [k for k in mine if mine[k] != theirs.get(k)]
    if differ:
        raise DuettoError(f"--student-init {init}: not the teacher's kind of model ({', '.join(differ)} differ)")
    return start
