"""`duetto-train export`: a usable model from a run folder, at any checkpoint, while the run goes on.

- A VAE run gives an autoencoder folder: the checkpoint's EMA weights with the latent shift and scale
  calibrated on the run's own training clips (what ``duetto-train vae`` does at its end).
- A joint run gives a generation bundle (`duetto.joint.pipeline`): the checkpoint's EMA model with the two
  VAEs whose latents it was trained on, checked against the weights hashes the latent shards recorded.
- A distillation run gives a student bundle: the student's EMA model with its teacher's VAEs and caption encoder,
  and a ``generation.json`` that samples the student's schedule with no guidance (one model pass a step).

The source is ``checkpoints/step-N/ema`` (``--step N``), else the run's finished ``model/``, else its newest
checkpoint.
"""
from __future__ import annotations

from pathlib import Path

import torch

from duetto.data.errors import DuettoError
from duetto.data.schema import load_json

from .checkpoint import list_checkpoints, step_name


def run_info(run: Path) -> dict:
    """The resolved config a training command wrote to ``run.json``."""
    path = Path(run) / "run.json"
    if not path.is_file():
        raise DuettoError(f"{run}: not a run folder (no run.json)")
    info = load_json(path.read_bytes(), str(path))
    cfg = info.get("config") if isinstance(info, dict) else None
    if not isinstance(cfg, dict) or cfg.get("command") not in ("vae", "joint", "distil"):
        raise DuettoError(f"{path}: not written by duetto-train vae, joint or distil")
    return cfg


def source_weights(run: Path, step: int | None) -> tuple[Path, int | None]:
    """``(folder, step)`` of the EMA weights to export; ``step`` is None for the finished ``model/``."""
    run = Path(run)
    found = dict(list_checkpoints(run))
    if step is not None:
        if step not in found:
            have = ", ".join(str(s) for s in sorted(found)) or "none"
            raise DuettoError(f"{run}: no checkpoint {step_name(step)} (have: {have})")
        return found[step] / "ema", step
    if (run / "model" / "model.safetensors").is_file():
        return run / "model", None
    if not found:
        raise DuettoError(f"{run}: no checkpoint and no finished model to export")
    last = max(found)
    return found[last] / "ema", last


def export_vae(run: Path, out: Path, step: int | None = None, *, half: bool = False,
               progress: bool = False) -> tuple[Path, float, float]:
    """The VAE of ``run`` at ``step``, calibrated on the run's training clips, saved to ``out`` (``half``:
    weights rounded to float16 before calibrating, and stored so). Returns ``(out, shift, scale)``."""
    from duetto.data.autoencoder import load_autoencoder

    from .vae_tasks import save_calibrated, training_bank
    cfg = run_info(run)
    if cfg["command"] != "vae":
        raise DuettoError(f"{run}: a joint run; give --video-vae and --audio-vae to export a bundle")
    src, _ = source_weights(run, step)
    model = load_autoencoder(src)
    if half:
        model = model.half().float()
    train, _ = training_bank(cfg, progress)
    shift, scale = save_calibrated(model, cfg["modality"], train, out, torch.float16 if half else None)
    return Path(out), shift, scale


def export_bundle(run: Path, out: Path, video_vae: Path, audio_vae: Path, step: int | None = None, *,
                  size: int = 64, steps: int = 25, half: bool = False, guidance: float = 3.0,
                  video_guidance: float | None = None, sync_scale: float = 0.0, guidance_max_t: float = 1.0,
                  delta_base: Path | None = None, rank: int | None = None, int8: bool = False) -> Path:
    """A generation bundle from joint run ``run`` and the two VAE folders its latents came from. ``guidance``: both
    streams' classifier-free guidance scale, or the sound's when ``video_guidance`` sets the picture's.
    ``delta_base``: stored as its difference from that bundle, which must sit beside ``out`` (`joint.delta`;
    low-rank of ``rank``, or whole tensors when None); the base's VAEs must be the run's."""
    from duetto.data.encode import load_vae
    from duetto.data.latent_format import record_mismatch, vae_record
    from duetto.joint.model import JointDiT
    from duetto.joint.pipeline import GenerationConfig, save_bundle
    cfg = run_info(run)
    if cfg["command"] != "joint":
        raise DuettoError(f"{run}: a VAE run; --video-vae and --audio-vae are for joint runs")
    src, _ = source_weights(run, step)
    model = JointDiT.from_pretrained(src)
    vvae, avae = load_vae(video_vae, "video"), load_vae(audio_vae, "audio")
    trained_on = cfg.get("vae") or {}
    for name, vae, folder in (("video", vvae, video_vae), ("audio", avae, audio_vae)):
        why = record_mismatch(vae_record(vae), trained_on.get(name) or {})
        if why:
            raise DuettoError(f"{folder}: not the {name} VAE the run's latents came from ({why})")
    gen = GenerationConfig(size=size, steps=steps, text_encoder=cfg.get("text_encoder") or "minilm",
                           video_scale=guidance if video_guidance is None else video_guidance, audio_scale=guidance,
                           video_sync_scale=sync_scale, audio_sync_scale=sync_scale, guidance_max_t=guidance_max_t)
    if delta_base is not None:
        from duetto.joint.delta import is_delta_bundle, save_delta_bundle
        if is_delta_bundle(delta_base) or not (Path(delta_base) / "video_vae").is_dir():
            raise DuettoError(f"--delta-base {delta_base}: not a whole bundle (deltas do not chain)")
        for name in ("video", "audio"):
            why = record_mismatch(vae_record(load_vae(Path(delta_base) / f"{name}_vae", name)), trained_on.get(name) or {})
            if why:
                raise DuettoError(f"--delta-base {delta_base}: its {name} VAE is not the run's ({why})")
        return save_delta_bundle(out, model, delta_base, gen, rank, torch.float16 if half else None, int8)
    return save_bundle(out, model, vvae, avae, gen, torch.float16 if half else None)


def delta_store_base(teacher: Path) -> Path:
    """The whole bundle a student of ``teacher`` is stored against: the teacher, or, when the teacher is itself a
    delta bundle (deltas do not chain), the teacher's own base."""
    from duetto.joint.delta import delta_base, is_delta_bundle
    return delta_base(teacher) if is_delta_bundle(teacher) else Path(teacher)


def export_student(run: Path, out: Path, step: int | None = None, *, half: bool = False, delta: bool = False,
                   rank: int | None = None, steps: int | None = None, int8: bool = False) -> Path:
    """A student bundle from distillation run ``run``: the teacher bundle's VAEs and settings, the student's
    weights, and sampling at the student's steps without guidance (``steps`` may still be set lower per run).
    ``delta``: stored as its difference from the teacher (`joint.delta`; low-rank of ``rank``, or whole tensors
    when None; ``int8``: factors in int8), the bundle then sitting beside the teacher's; a teacher that is itself a
    delta bundle lends its own base (`delta_store_base`). ``steps``: its default step count, one of the
    schedules it learnt (``N``, ``N // 2``, ... 1; default ``N``)."""
    import dataclasses

    from duetto.joint.model import JointDiT
    from duetto.joint.pipeline import Pipeline
    cfg = run_info(run)
    if cfg["command"] != "distil":
        raise DuettoError(f"{run}: not a distillation run")
    src, _ = source_weights(run, step)
    teacher = Path(cfg["teacher"])
    if not teacher.is_dir():
        raise DuettoError(f"{run}: its teacher bundle {teacher} is gone (the student takes its VAEs)")
    pipe = Pipeline.load(teacher)
    pipe.model = JointDiT.from_pretrained(src)
    learnt, n = [], int(cfg["student_steps"])
    while n >= 1:
        learnt.append(n)
        n //= 2
    if steps is not None and steps not in learnt:
        raise DuettoError(f"--sample-steps {steps}: the student learnt {', '.join(map(str, learnt))} steps")
    pipe.config = dataclasses.replace(pipe.config, steps=steps or int(cfg["student_steps"]), sampler="euler",
                                      shift=float(cfg["shift"]), video_scale=1.0, audio_scale=1.0,
                                      video_sync_scale=0.0, audio_sync_scale=0.0, guidance_max_t=1.0)
    if delta:
        from duetto.joint.delta import save_delta_bundle
        return save_delta_bundle(out, pipe.model, delta_store_base(teacher), pipe.config, rank,
                                 torch.float16 if half else None, int8)
    return pipe.save(out, torch.float16 if half else None)


def describe(folder: Path) -> str:
    """``"N MB"``: the size of a folder on disk."""
    total = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB"

