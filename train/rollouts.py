"""The teacher's trajectories, the data a few-step student is distilled from (`train.distil_task`).

For each planned rollout the teacher bundle samples from noise (its own seed) as ``duetto generate`` does (its steps,
shift, classifier-free and cross-modal guidance, ``guidance_max_t``), with the conditions of one training clip
(its caption; its words, voice and music each kept or dropped as the plan says), in one of three modes: both
streams generated, the video given clean (video-to-audio) or the audio given clean (audio-to-video). The states
are recorded at the student's flow times ``points`` (the union of the student schedules it learns; the teacher's
own schedule gains those points as extra step boundaries).

On disk, ``RUN/rollouts/``::

    plan.json                     the teacher, its settings, the points, the plan (one row per rollout)
    part-000000.safetensors ...   ``rows [k]`` (plan row), ``video [k, P, Cv, T, h, w]`` and ``audio [k, P, Ca, L]``
                                  float16, the states at the P points (point 0: the noise, P-1: the sample)

Parts are written atomically and skipped when present, so a killed run picks up at the next missing part; under
several processes each writes the parts ``i`` with ``i % world == rank``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from duetto.data.errors import DuettoError
from duetto.data.schema import load_json

MODES = ("joint", "video_given", "audio_given")
MAX_ROLLOUTS = 100_000
PLAN_NAME = "plan.json"


@dataclass(frozen=True)
class RolloutPlan:
    """What to roll out: ``rows`` of ``(clip, mode, keep_speech, keep_voice, keep_music, seed)``, ``part``
    rollouts per file (one mode per part, so a part is one batched sampling run)."""
    rows: tuple
    part: int

    @property
    def parts(self) -> int:
        return -(-len(self.rows) // self.part)

    def part_rows(self, i: int) -> range:
        return range(i * self.part, min(len(self.rows), (i + 1) * self.part))


def make_plan(n_clips: int, n: int, seed: int, *, part: int = 4, shares=(0.8, 0.1, 0.1),
              keep=(0.9, 0.5, 0.3)) -> RolloutPlan:
    """``n`` rollouts over ``n_clips`` training clips (each clip once before any twice), ``shares`` of the three
    modes (drawn per part), and the chance that the clip's words, voice and music are given (``keep``): a user
    sometimes gives no words, rarely a voice or a music reference; the caption is always given. A plan of fewer
    rollouts is a prefix of a longer one while both stay within one pass over the clips (``n <= n_clips``)."""
    if not (1 <= n <= MAX_ROLLOUTS and n_clips >= 1 and part >= 1):
        raise DuettoError(f"--rollouts must be in [1, {MAX_ROLLOUTS}] and there must be training clips")
    rng = np.random.default_rng([seed, 7])
    order = np.concatenate([rng.permutation(n_clips) for _ in range(-(-n // n_clips))])[:n]
    rows = []
    for start in range(0, n, part):
        mode = int(rng.choice(len(MODES), p=np.asarray(shares) / sum(shares)))
        for i in range(start, min(n, start + part)):
            k = rng.random(3) < np.asarray(keep)
            rows.append((int(order[i]), mode, bool(k[0]), bool(k[1]), bool(k[2]), int(rng.integers(0, 2 ** 31))))
    return RolloutPlan(tuple(rows), part)


def student_points(steps: int, shift: float) -> list[float]:
    """The flow times of the student schedules for ``steps``, ``steps // 2``, ... 1, merged (descending)."""
    from duetto.joint.sampling import schedule
    if steps < 1:
        raise DuettoError("--student-steps must be at least 1")
    pts, s = set(), steps
    while s >= 1:
        pts.update(round(t, 12) for t in schedule(s, shift))
        s //= 2
    return sorted(pts, reverse=True)


def teacher_sigmas(teacher_steps: int, shift: float, points: list[float]) -> list[float]:
    """The teacher's own schedule with the student's points added as step boundaries."""
    from duetto.joint.sampling import schedule
    merged = {round(t, 12) for t in schedule(teacher_steps, shift)} | {round(t, 12) for t in points}
    return sorted(merged, reverse=True)


def clip_conditions(stack: dict, idx: list[int], keep_rows: list[tuple[bool, bool, bool]]) -> dict:
    """`JointDiT.forward`'s condition inputs for clips ``idx`` of a stacked set (`joint_task.stack_clips`), with
    the words, voice and music dropped where the plan says (`joint.conditions.drop`)."""
    from duetto.joint.conditions import drop
    i = torch.as_tensor(idx)
    cond = {"text": stack["text"][i], "text_mask": stack["text_mask"][i], "speech": stack["speech"][i],
            "voice": stack["voice"][i], "music": stack["music"][i]}
    if "speech_track" in stack:
        cond["speech_track"] = stack["speech_track"][i]
    k = torch.as_tensor(keep_rows, dtype=torch.bool).reshape(len(idx), 3)
    return drop(cond, {"speech": k[:, 0], "voice": k[:, 1], "music": k[:, 2]})


def model_conditions(config, cond: dict) -> dict:
    """The caption and only the other conditions a model of ``config`` takes (`joint_task.taken_conditions`)."""
    from .joint_task import taken_conditions
    return {"text": cond["text"], "text_mask": cond["text_mask"], **taken_conditions(config, cond)}


def write_rollouts(pipe, stack: dict, plan: RolloutPlan, points: list[float], folder: Path, *, rank: int = 0,
                   world: int = 1, progress: bool = True) -> int:
    """Sample the plan's missing parts with teacher ``pipe`` into ``folder``; returns how many parts were written."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from duetto.joint.sampling import euler
    folder.mkdir(parents=True, exist_ok=True)
    cfg = pipe.config
    sigmas = teacher_sigmas(cfg.steps, cfg.shift, points)
    cuts = [sigmas.index(round(p, 12)) for p in points]
    vt, at = stack["video_times"], stack["audio_times"]
    todo = [i for i in range(plan.parts) if i % world == rank and not (folder / f"part-{i:06d}.safetensors").is_file()]
    for i in tqdm(todo, desc="teacher rollouts", unit="part", disable=not progress):
        rows = [plan.rows[r] for r in plan.part_rows(i)]
        idx, mode = [r[0] for r in rows], MODES[rows[0][1]]
        cond = model_conditions(pipe.model.config, clip_conditions(stack, idx, [r[2:5] for r in rows]))
        fn = pipe.velocity(cond, vt, at)
        v, a = [], []
        for r in rows:                                 # each rollout's noise from its own seed
            g = torch.Generator().manual_seed(r[5])
            v.append(torch.randn(stack["video"].shape[1:], generator=g))
            a.append(torch.randn(stack["audio"].shape[1:], generator=g))
        v, a = torch.stack(v).to(pipe.device), torch.stack(a).to(pipe.device)
        gv = stack["video"][idx].to(pipe.device) if mode == "video_given" else None
        ga = stack["audio"][idx].to(pipe.device) if mode == "audio_given" else None
        v, a = (gv if gv is not None else v), (ga if ga is not None else a)
        vs, as_ = [v], [a]
        for c0, c1 in zip(cuts, cuts[1:]):
            v, a = euler(fn, (v, a), sigmas[c0: c1 + 1], given_video=gv, given_audio=ga)   # (the teacher's sampler)
            vs.append(v)
            as_.append(a)
        tensors = {"rows": torch.tensor(list(plan.part_rows(i)), dtype=torch.int64),
                   "video": torch.stack(vs, 1).half().cpu().contiguous(),
                   "audio": torch.stack(as_, 1).half().cpu().contiguous()}
        tmp = folder / f".part-{i:06d}.safetensors.tmp"
        save_file(tensors, str(tmp))
        tmp.replace(folder / f"part-{i:06d}.safetensors")
    return len(todo)


def write_plan(folder: Path, info: dict) -> None:
    """``plan.json`` (the same plan when it is there already: a resumed run must roll out what it began)."""
    from duetto.data.media import atomic_write
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PLAN_NAME
    plain = json.loads(json.dumps(info))
    if path.is_file():
        old = load_json(path.read_bytes(), str(path))
        if old != plain:
            differ = sorted(k for k in set(old) | set(plain) if old.get(k) != plain.get(k)) if isinstance(old, dict) else []
            raise DuettoError(f"{path}: these rollouts were planned with other settings ({', '.join(differ) or 'format'}"
                              "); use another --out")
        return
    atomic_write(path, (json.dumps(plain) + "\n").encode())


def read_rollouts(folder: Path, plan: RolloutPlan, n_points: int) -> dict:
    """All parts of ``folder`` -> ``{"rows": [N] plan rows, "video": [N, P, ...] float16, "audio": ...}``,
    checked against the plan (a missing or malformed part is a `DuettoError`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    rows, video, audio = [], [], []
    for i in range(plan.parts):
        path = folder / f"part-{i:06d}.safetensors"
        try:
            t = load_file(str(path))
        except (OSError, SafetensorError) as e:
            raise DuettoError(f"{path}: missing or unreadable ({e})") from None
        want = list(plan.part_rows(i))
        if set(t) != {"rows", "video", "audio"} or t["rows"].tolist() != want \
                or t["video"].shape[:2] != (len(want), n_points) or t["audio"].shape[:2] != (len(want), n_points):
            raise DuettoError(f"{path}: not part {i} of this plan")
        rows.append(t["rows"])
        video.append(t["video"])
        audio.append(t["audio"])
    return {"rows": torch.cat(rows), "video": torch.cat(video), "audio": torch.cat(audio)}
