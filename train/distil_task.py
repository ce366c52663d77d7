"""Step distillation: a student that takes the teacher's guided path in a few single-pass steps.

Method (trajectory-segment matching, guidance distilled in): the teacher's rollouts (`train.rollouts`) hold its
states ``x(t)`` at the student's flow times. For a segment ``t_a > t_b`` of a student schedule, the student sees
the teacher's state at ``t_a`` with the clip's conditions and is trained so that one Euler step lands where the
teacher's many guided steps (three model passes each) landed::

    loss = || student(x(t_a), t_a) - (x(t_b) - x(t_a)) / (t_b - t_a) ||^2        (per stream, mean per clip)

so a student step is one model pass with no guidance. (``target="endpoint"``, the alternative measured against it:
the step is aimed at the teacher's final sample, ``t_b = 0``, from every point.) Segments come from the schedules of ``student_steps``,
half of it, ... 1 step (`rollouts.student_points`), drawn uniformly, so the same student samples at 4, 2 or 1
steps. A stream the rollout was given clean (video-to-audio, audio-to-video) sits at flow time 0 and is left out of
the loss, as in training: the student still does both.

Chosen over the alternatives by cost on the project's CPU budget: the rollouts are paid once, then an update costs
what a training update costs; distribution matching (DMD2) needs a second, fake-score network trained beside the
student and the teacher's passes on every update, consistency models many more updates to converge.
"""
from __future__ import annotations

import numpy as np
import torch

from duetto.data.errors import DuettoError

from .rollouts import MODES, clip_conditions, model_conditions


def segments(points: list[float], student_steps: int, shift: float) -> list[tuple[int, int]]:
    """Index pairs ``(a, b)`` into ``points`` of every step of the student schedules for ``student_steps``,
    half of it, ... 1."""
    from duetto.joint.sampling import schedule
    where = {round(p, 12): i for i, p in enumerate(points)}
    out, s = [], student_steps
    while s >= 1:
        ts = [where[round(t, 12)] for t in schedule(s, shift)]
        out.extend(zip(ts, ts[1:]))
        s //= 2
    return out


TARGETS = ("segment", "endpoint")


class DistilTask:
    """The `trainer.Task` of ``duetto-train distil``: ``model`` is the student (initialised from the teacher)."""

    def __init__(self, student, stack: dict, rollouts: dict, plan_rows, points: list[float],
                 pairs: list[tuple[int, int]], *, batch_size: int = 8, seed: int = 0, held_out: int = 8,
                 target: str = "segment"):
        n = len(rollouts["rows"])
        if target not in TARGETS:
            raise DuettoError(f"distillation target {target!r}: {', '.join(TARGETS)}")
        self.target = target
        if n < 2:
            raise DuettoError("distillation needs at least two teacher rollouts")
        self.model, self.stack, self.ro, self.points, self.pairs = student, stack, rollouts, points, pairs
        self.rows = [plan_rows[int(r)] for r in rollouts["rows"]]
        self.batch_size, self.seed, self.items_per_batch = batch_size, seed, batch_size
        held = min(held_out, n // 4)
        self.train_idx, self.held_idx = np.arange(n - held), np.arange(n - held, n)

    def _gather(self, ro_idx: np.ndarray, pair_idx: np.ndarray) -> dict:
        rows = [self.rows[i] for i in ro_idx]
        a = torch.as_tensor([self.pairs[p][0] for p in pair_idx])
        b = torch.as_tensor([self.pairs[p][1] for p in pair_idx])
        r = torch.as_tensor(ro_idx)
        pts = torch.tensor(self.points, dtype=torch.float32)
        mode = [MODES[row[1]] for row in rows]
        given_v = torch.tensor([m == "video_given" for m in mode])
        given_a = torch.tensor([m == "audio_given" for m in mode])
        if self.target == "endpoint":     # jump to the teacher's sample from anywhere
            b = torch.full_like(b, len(self.points) - 1)
        t_a, t_b = pts[a], pts[b]
        cond = clip_conditions(self.stack, [row[0] for row in rows], [row[2:5] for row in rows])
        return {"video_a": self.ro["video"][r, a].float(), "video_b": self.ro["video"][r, b].float(),
                "audio_a": self.ro["audio"][r, a].float(), "audio_b": self.ro["audio"][r, b].float(),
                "t_a": t_a, "t_b": t_b, "given_video": given_v, "given_audio": given_a,
                "video_times": self.stack["video_times"], "audio_times": self.stack["audio_times"], **cond}

    def batch(self, step: int) -> dict:
        """Update ``step``'s rollouts and segments: this process's slice of the job's draw for the seed and step
        (`duetto.data.draw`), so processes train on different rollouts and a resumed run sees the same ones."""
        from duetto.data.draw import draw_clips, mine, process
        rank, world = process()
        rng = np.random.default_rng([self.seed, step])
        b = self.batch_size
        ro = self.train_idx[draw_clips(rng, len(self.train_idx), b * world)]
        pairs = rng.integers(0, len(self.pairs), b * world)
        return self._gather(mine(ro, b, rank), mine(pairs, b, rank))

    def loss(self, model, batch: dict, step: int):
        cfg = getattr(model, "config", None) or model.module.config
        va, aa = batch["video_a"], batch["audio_a"]
        t_a, t_b = batch["t_a"], batch["t_b"]
        tv = torch.where(batch["given_video"], torch.zeros_like(t_a), t_a)
        ta = torch.where(batch["given_audio"], torch.zeros_like(t_a), t_a)
        pv, pa = model(va, aa, tv, ta, batch["video_times"], batch["audio_times"], **model_conditions(cfg, batch))
        dt = (t_b - t_a).view(-1, 1)
        lv = (pv.float().flatten(1) - (batch["video_b"] - va).flatten(1) / dt).pow(2).mean(1)
        la = (pa.float().flatten(1) - (batch["audio_b"] - aa).flatten(1) / dt).pow(2).mean(1)
        wv, wa = (~batch["given_video"]).to(lv), (~batch["given_audio"]).to(la)
        loss_v = (lv * wv).sum() / wv.sum().clamp_min(1)
        loss_a = (la * wa).sum() / wa.sum().clamp_min(1)
        return loss_v + loss_a, {"video": loss_v.detach().item(), "audio": loss_a.detach().item()}

    @torch.no_grad()
    def evaluate(self, model, step: int) -> dict:
        """On held-out rollouts: the segment loss (every segment of every schedule once), and ``sample_*``: how far
        the student's own samples at each step count land from the teacher's (mean squared latent difference, from
        the same noise and conditions; ``step`` 0 of a run is the teacher's weights without guidance)."""
        if not len(self.held_idx):
            return {}
        device = next(model.parameters()).device
        out = {"video": [], "audio": []}
        for p in range(len(self.pairs)):
            b = self._gather(self.held_idx, np.full(len(self.held_idx), p))
            b = {k: v.to(device) for k, v in b.items()}
            _, logs = self.loss(model, b, 0)
            for k in out:
                out[k].append(logs[k])
        res = {f"segment_{k}": float(np.mean(v)) for k, v in out.items()}
        for steps, err in self.sample_error(model).items():
            res.update({f"sample{steps}_{k}": v for k, v in err.items()})
        return res

    def sample_error(self, model) -> dict[int, dict[str, float]]:
        """Per step count of the schedules learnt: the held-out rollouts sampled by ``model`` from the teacher's
        starting noise, mean squared difference to the teacher's samples per stream (given streams left out)."""
        from duetto.joint.sampling import euler
        device = next(model.parameters()).device
        cfg = getattr(model, "config", None) or model.module.config
        scheds: list[list[int]] = []
        for i, (a, _) in enumerate(self.pairs):  # schedule after schedule, each from point 0 to the last
            if a == self.pairs[0][0]:
                scheds.append([])
            scheds[-1].append(i)
        out = {}
        for sched in scheds:
            sigmas = [self.points[self.pairs[sched[0]][0]]] + [self.points[self.pairs[i][1]] for i in sched]
            n = len(self.held_idx)
            batch = {k: v.to(device) for k, v in self._gather(self.held_idx, np.full(n, sched[0])).items()}
            end = self._gather(self.held_idx, np.full(n, sched[-1]))
            cond = model_conditions(cfg, batch)
            gv = batch["given_video"][:, None, None, None, None]
            ga = batch["given_audio"][:, None, None]

            def fn(v, a, tv, ta):
                tv = torch.where(batch["given_video"], torch.zeros_like(tv), tv)
                ta = torch.where(batch["given_audio"], torch.zeros_like(ta), ta)
                pv, pa = model(v, a, tv, ta, batch["video_times"], batch["audio_times"], **cond)
                return torch.where(gv, torch.zeros_like(pv), pv.float()), torch.where(ga, torch.zeros_like(pa), pa.float())
            v, a = euler(fn, (batch["video_a"], batch["audio_a"]), sigmas)
            tv, ta = end["video_b"].to(device), end["audio_b"].to(device)
            wv, wa = (~batch["given_video"]).float(), (~batch["given_audio"]).float()
            ev = ((v - tv) ** 2).flatten(1).mean(1)
            ea = ((a - ta) ** 2).flatten(1).mean(1)
            out[len(sched)] = {"video": float((ev * wv).sum() / wv.sum().clamp_min(1)),
                               "audio": float((ea * wa).sum() / wa.sum().clamp_min(1))}
        return out
