"""`duetto-train`: train the autoencoders (``vae``) and the joint model (``joint``), and evaluate a generation
bundle (``eval``), distil a bundle into a few-step student (``distil``), and export a model from a run at any
checkpoint (``export``).

    duetto-train vae --modality video --data shards/impacts --preset tiny --steps 2000 --out runs/vvae
    duetto-train vae --modality audio --data 'shards/*/*.tar' --preset tiny --steps 2000 --out runs/avae
    duetto-train joint --data latents/ --preset tiny --steps 20000 --out runs/joint
    duetto-train export runs/vvae --step 4000 --half --out models/vvae
    duetto-train export runs/joint --video-vae models/vvae --audio-vae models/avae --half --out samples/duetto-tiny
    duetto-train eval samples/duetto-tiny --clips shards-eval/ --n 64 --out runs/eval
    duetto-train distil --teacher samples/duetto-tiny-v2 --data latents/ --student-steps 4 --out runs/student

A run folder that already holds checkpoints of the same run is resumed; one that holds another run is
refused. The trained model (EMA weights) ends in ``OUT/model``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from duetto.data import console
from duetto.data.errors import DuettoError
from duetto.joint.config import HISTORY_ANCHOR_S, HISTORY_METHODS, anchor_seconds

from .config import data_paths

PROG = "duetto-train"
PLANNED: list[str] = []


def build_parser():
    p = console.parser(PROG, __doc__.split("\n\n")[0], f"planned: {', '.join(PLANNED)}" if PLANNED else None)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    v = sub.add_parser("vae", help="train the video or the audio autoencoder",
                       description="Train a video or audio VAE on shards (and/or media files); resumes a run folder.")
    v.add_argument("--modality", required=True, choices=["video", "audio"], help="which autoencoder")
    v.add_argument("--data", required=True, nargs="+", help="shards (.tar, globs, folders) and/or media files")
    v.add_argument("--preset", default="tiny", help="model preset: video tiny, tiny-x1, base, base-x1; "
                                                   "audio tiny, base (default tiny)")
    v.add_argument("--steps", type=int, default=2000, help="optimiser updates in total (default 2000)")
    v.add_argument("--out", required=True, type=Path, help="run folder (created; resumed when it holds this run)")
    v.add_argument("--batch-size", type=int, default=4, help="clips per update (default 4)")
    v.add_argument("--lr", type=float, default=3e-4,
                   help="peak learning rate (default 3e-4)")
    v.add_argument("--warmup", type=int, default=100, help="linear warm-up updates (default 100)")
    v.add_argument("--decay", default="cosine", choices=["cosine", "none"],
                   help="learning rate after warm-up: half cosine down to a tenth at --steps, or constant (default cosine)")
    v.add_argument("--ema-decay", type=float, default=0.999,
                   help="EMA of the weights, evaluated and saved as the model (default 0.999; lower for short runs)")
    v.add_argument("--frames", type=int, default=17, help="video: frames per window, 1 + k*n (default 17)")
    v.add_argument("--seconds", type=float, default=1.0, help="audio: seconds per window (default 1.0)")
    v.add_argument("--gan-start", type=int, default=2000,
                   help="audio: updates before the multi-scale STFT discriminator joins in (default 2000)")
    v.add_argument("--fps", type=float, default=25.0, help="video: decode rate, the latents' clock (default 25)")
    v.add_argument("--size", type=int, default=64, help="video: square frame size, a multiple of 8 (default 64)")
    v.add_argument("--held-out", type=float, default=0.1,
                   help="share of clips (evenly spaced in key order) kept out of training for evaluation (default 0.1)")
    v.add_argument("--max-clips", type=int, default=None, help="load at most this many clips")
    v.add_argument("--init", type=Path, default=None,
                   help="start a new run from the weights of this autoencoder folder (same architecture; e.g. an "
                        "export of another run, to fine-tune with other loss weights)")
    _run_args(v, ckpt=250, evaluate=500, log=25)
    j = sub.add_parser("joint", help="train the joint video+audio model on latent shards",
                       description="Flow-matching training of the dual-stream DiT on latent shards written by "
                                   "`duetto-data encode`; resumes a run folder.")
    j.add_argument("--data", required=True, nargs="+", help="latent shards (.tar, globs, folders)")
    j.add_argument("--preset", default="tiny", help="model preset: tiny, small, base (default tiny)")
    j.add_argument("--steps", type=int, default=20000, help="optimiser updates in total (default 20000)")
    j.add_argument("--out", required=True, type=Path, help="run folder (created; resumed when it holds this run)")
    j.add_argument("--batch-size", type=int, default=8, help="clips per update (default 8)")
    j.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    j.add_argument("--warmup", type=int, default=500, help="linear warm-up updates (default 500)")
    j.add_argument("--decay", default="cosine", choices=["cosine", "none"], help="lr after warm-up (default cosine)")
    j.add_argument("--ema-decay", type=float, default=0.999, help="EMA of the weights (default 0.999)")
    j.add_argument("--video-patch", type=int, default=None,
                   help="video latents per token side (default: the preset's, 2 for tiny; 4 keeps a frame-by-frame "
                        "x1 video VAE's 25 latents/s at the token count of x4 latents with 2)")
    j.add_argument("--window", type=float, default=None,
                   help="cross-modal window in seconds (default: the preset's, 0.2 for tiny)")
    j.add_argument("--cross", default="time-locked", choices=["time-locked", "global", "none"],
                   help="cross-modal attention: time-locked (window), global (no window) or none (the ablations)")
    j.add_argument("--text-encoder", default="minilm",
                   help="caption encoder: minilm (packaged all-MiniLM-L6-v2), hashing, or a local folder")
    j.add_argument("--caption-dropout", type=float, default=0.1, help="share of captions dropped (default 0.1)")
    j.add_argument("--condition-dropout", type=float, default=0.3,
                   help="share of clips whose speech, voice and music conditions are each dropped (default 0.3)")
    j.add_argument("--drop-all", type=float, default=0.0,
                   help="share of clips with every condition dropped at once (caption, speech, voice, music): the "
                        "pass classifier-free guidance subtracts, which independent dropouts alone rarely draw "
                        "(default 0; 0.1 suggested)")
    j.add_argument("--caption-gender-dropout", type=float, default=0.0,
                   help="share of speech clips whose caption says 'a person' for 'a man' / 'a woman' (where the words "
                        "stayed), so the voice reference alone says who speaks (default 0)")
    j.add_argument("--caption-words-dropout", type=float, default=0.0,
                   help="share of speech clips whose caption loses its quoted words (says \"...\" -> speaks), so "
                        "the phonemes alone carry them (default 0)")
    j.add_argument("--voice-dim", type=int, choices=(64, 66), default=None,
                   help="values of the voice embedding the model takes: 66 (with the voice's pitch; the default) or 64 "
                        "(the spectrum alone, as models before 2026-12-08; a run begun with 64 resumes with it)")
    j.add_argument("--speech-track", action="store_true",
                   help="also give the phonemes on the audio clock, placed by the clips' word times (generation "
                        "places them by espeak-ng's timing of the words); may be added to an --init model without it")
    j.add_argument("--track-silence", action="store_true",
                   help="with --speech-track: mark the time between and around the words as silent (a symbol of its "
                        "own), apart from \"not told\" (a dropped track), so the model learns to stop talking after "
                        "the last word; may be turned on over an --init model without it")
    j.add_argument("--crop-seconds", type=float, default=None,
                   help="train on windows of about this many seconds at random places in the clips (whole video "
                        "latents; cheaper updates, the model still samples any length; default: whole clips)")
    j.add_argument("--cross-dropout", type=float, default=0.0,
                   help="share of clips denoised with the streams kept apart (no cross-modal attention), which "
                        "cross-modal guidance (duetto generate --audio-sync-scale) compares against (default 0)")
    j.add_argument("--video-given", type=float, default=0.05,
                   help="share of clips whose video is given clean and only the audio denoised: video-to-audio "
                        "training (default 0.05)")
    j.add_argument("--high-noise", type=float, default=0.0,
                   help="share of clips whose flow times are drawn in [0.9, 1], near pure noise, where what is the "
                        "same over a whole clip (a colour, a voice) can only come from the conditions (default 0; "
                        "see joint.flow.HIGH_NOISE_T)")
    j.add_argument("--given-prefix", type=float, default=0.0,
                   help="share of clips whose first 10-60 %% is given clean and marked known, the rest denoised: "
                        "continuing a clip (duetto extend) as the model was trained to; adds the known-latent "
                        "vectors to the model (an --init model without them gains them at zero; default 0)")
    j.add_argument("--audio-given", type=float, default=0.05,
                   help="share of clips whose audio is given clean: audio-to-video training (default 0.05)")
    j.add_argument("--change-weight", type=float, default=0.0,
                   help="weigh the flow loss up where the clean latents change in time (moving places, onsets): "
                        "1 + W x their change over the clip's mean change (that ratio capped at 5) (default 0: a plain mean)")
    j.add_argument("--family-weight", action="append", default=None, metavar="FAMILY=W",
                   help="draw clips of this family W times as often as a family not named (repeatable, e.g. "
                        "speech=2; default: every clip equally often)")
    j.add_argument("--held-out", type=float, default=0.05, help="share of clips held out (default 0.05)")
    j.add_argument("--grad-checkpoint", action="store_true",
                   help="recompute each transformer block in the backward pass: less activation memory for the "
                        "small and base presets, about a third more compute (bf16 autocast is on by itself on GPUs)")
    j.add_argument("--init", type=Path, default=None,
                   help="start a new run from the weights of this joint model: a generation bundle or its joint/ "
                        "folder, of the same architecture (to train a shipped model on)")
    _run_args(j, ckpt=500, evaluate=1000, log=50)
    e = sub.add_parser("eval", help="generate clips with a bundle and score sync, event timing and latent Frechet distance",
                       description="Generate one clip per prompt with a bundle and report, per family: sync within one "
                                   "frame (the project's sync checker) on clips with visual events, audio-onset "
                                   "precision and recall against visual events within one frame, and the Frechet "
                                   "distance to reference clips in the bundle's VAE latent space.")
    e.add_argument("checkpoint", type=Path, help="a generation bundle (see duetto generate)")
    e.add_argument("--prompts", type=Path, help="prompts file: JSON lines {\"prompt\", \"family\", \"seed\"} or one prompt per line")
    e.add_argument("--clips", nargs="+", help="held-out shards: prompts from their captions and families (when no "
                                              "--prompts), the given stream for --given, and the Frechet reference")
    e.add_argument("--given", default="none", choices=["none", "video", "audio"],
                   help="keep the clips' picture (video: video-to-audio) or sound (audio: audio-to-video); needs --clips")
    e.add_argument("--n", type=int, default=64,
                   help="at most this many prompts, taken in turn from each family (default 64)")
    e.add_argument("--family", action="append", default=None,
                   help="keep only prompts of this family (repeatable; each keeps its seed, so the clips match those "
                        "of a full eval); --n counts the kept ones")
    e.add_argument("--voices", nargs=2, type=Path, default=None, metavar=("A", "B"),
                   help="two voice references (audio or video files), far apart: speech prompts take A and B in "
                        "turn as --voice, and the report says how often the voice is closer to its own reference "
                        "than to the other, and its median F0 within 15 %% of it")
    e.add_argument("--steps", type=int, default=None, help="sampling steps (default: the bundle's)")
    from duetto.joint.cli import add_sampling_arguments
    add_sampling_arguments(e)
    from duetto.joint.device import add_device_arguments
    add_device_arguments(e)
    e.add_argument("--seconds", type=float, default=None, help="clip length (default: the bundle's)")
    e.add_argument("--extend", type=float, default=None, metavar="SECONDS",
                   help="make each clip this long window by window (duetto extend) and score each window's sync and "
                        "the seams in picture and sound")
    e.add_argument("--history", type=float, default=2.0, help="with --extend: seconds each window keeps (default 2)")
    e.add_argument("--history-method", choices=HISTORY_METHODS, default="auto",
                   help="with --extend: how each window is given its history (default auto; see duetto generate)")
    e.add_argument("--anchor", type=float, default=None, metavar="SECONDS",
                   help=f"with --extend: seconds of the clip's first picture every window keeps (default "
                        f"{HISTORY_ANCHOR_S:g}, at most 40 %% of --history; see duetto generate)")
    e.add_argument("--rewrite", action="store_true",
                   help="rewrite each prompt into a caption first (duetto rewrite): plain requests scored as duetto "
                        "generate --rewrite makes them; rows keep the request, and caption_family says how often the "
                        "caption reads as the prompt's family (e.g. --prompts bench/requests.jsonl)")
    e.add_argument("--rewrite-model", type=Path, default=None,
                   help="with --rewrite: a local language model folder writes the captions (see duetto rewrite)")
    e.add_argument("--out", type=Path, default=None, help="folder for report.json and the generated clips")
    e.add_argument("--text-encoder", default=None, help="caption encoder instead of the bundle's (a local folder)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    x = sub.add_parser("export", help="a VAE folder or a generation bundle from a run, at any checkpoint",
                       description="Export a run's EMA weights while it goes on or after it ends. A VAE run gives an "
                                   "autoencoder folder, its latent shift and scale calibrated on the run's training "
                                   "clips. A joint run gives a generation bundle for duetto generate and eval, with "
                                   "the two VAEs its latent shards were encoded with (checked by weights hash).")
    x.add_argument("run", type=Path, help="run folder of duetto-train vae or joint")
    x.add_argument("--out", required=True, type=Path, help="folder to write (replaced atomically)")
    x.add_argument("--step", type=int, default=None,
                   help="checkpoint to export (default: the finished model, else the newest checkpoint)")
    x.add_argument("--video-vae", type=Path, help="joint runs: the video VAE folder its latents came from")
    x.add_argument("--audio-vae", type=Path, help="joint runs: the audio VAE folder its latents came from")
    x.add_argument("--size", type=int, default=None, help="joint runs: the frame size its latents were encoded at (default 64)")
    x.add_argument("--sample-steps", type=int, default=None,
                   help="the bundle's default sampling steps (joint runs: default 25; distillation runs: one of the "
                        "step counts the student learnt, N, N/2 ... 1, default N)")
    x.add_argument("--guidance", type=float, default=None,
                   help="joint runs: the bundle's default guidance scale, both streams (default 3; 1 = none)")
    x.add_argument("--video-guidance", type=float, default=None,
                   help="joint runs: the picture's guidance scale instead of --guidance (duetto generate --video-scale)")
    x.add_argument("--guidance-max-t", type=float, default=None,
                   help="joint runs: guide only at flow times <= this, in (0, 1] (duetto generate --guidance-max-t; "
                        "default 1 = every step)")
    x.add_argument("--sync-scale", type=float, default=None,
                   help="joint runs: the bundle's default cross-modal guidance scale, both streams (default 0 = off; "
                        "see duetto generate --audio-sync-scale)")
    x.add_argument("--half", action="store_true",
                   help="store weights in float16 (half the bytes; export VAEs with --half before encoding latents, "
                        "so the shipped VAEs are the ones the latents came from)")
    x.add_argument("--delta", default=None, metavar="RANK|full",
                   help="distillation runs: store the student as its difference from the teacher bundle (or, when the "
                        "teacher is itself a delta, from the teacher's base), which must sit beside --out (joint.delta): "
                        "low-rank factors of rank RANK for each matrix, or 'full' tensors; "
                        "joint runs: the same against --delta-base")
    x.add_argument("--int8", action="store_true",
                   help="with --delta RANK: store the low-rank factors as int8 with a scale per rank component "
                        "(half the bytes)")
    x.add_argument("--delta-base", type=Path, default=None, metavar="BUNDLE",
                   help="joint runs with --delta: the bundle beside --out the model is stored against (a fine-tuned "
                        "teacher against the one it grew from; its VAEs must be the run's)")
    x.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .distil import add_parser as add_distil
    add_distil(sub, _run_args)
    for name in PLANNED:
        sub.add_parser(name, help=f"{name} (arrives with a later release)",
                       description=f"'{name}' is not available in this release.")
    return console.examples(p, {
        'vae': 'duetto-train vae --modality video --data shards/ --preset tiny-x1 --steps 20000 --out runs/vvae',
        'joint': 'duetto-train joint --data latents/ --preset tiny --video-patch 4 --steps 20000 --out runs/joint',
        'eval': 'duetto-train eval samples/duetto-tiny --clips held-out-shards/ --n 12 --out runs/eval',
        'distil': 'duetto-train distil --teacher samples/duetto-tiny-v2 --data latents/ --student-steps 4 --out runs/student',
        'export': 'duetto-train export runs/joint --video-vae samples/vae-video-tiny --audio-vae samples/vae-audio-tiny --out my-bundle',
    })


def _family_weights(items: list[str] | None) -> dict[str, float]:
    """``["speech=2", ...]`` -> ``{"speech": 2.0}``."""
    out = {}
    for item in items or []:
        name, _, value = item.partition("=")
        try:
            if not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise DuettoError(f"--family-weight {item!r}: give FAMILY=W, e.g. speech=2") from None
    return out


def _run_args(p, *, ckpt: int, evaluate: int, log: int):
    """The run-schedule options every training command takes."""
    p.add_argument("--ckpt-every", type=int, default=ckpt, help=f"checkpoint every N updates (default {ckpt})")
    p.add_argument("--eval-every", type=int, default=evaluate,
                   help=f"evaluate the EMA model every N updates (default {evaluate})")
    p.add_argument("--log-every", type=int, default=log, help=f"log every N updates (default {log})")
    p.add_argument("--seed", type=console.int_in(0, 2 ** 32 - 1, "a seed"), default=0,
                   help="seed for weights and batches, 0 to 2^32-1 (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_vae(a) -> int:
    from duetto.train.config import TrainConfig
    from duetto.train.trainer import Trainer
    if a.steps < 1 or a.batch_size < 1:
        raise DuettoError("--steps and --batch-size must be at least 1")
    if not 0 <= a.held_out < 1:
        raise DuettoError("--held-out must be in [0, 1)")
    if a.modality == "video":
        from duetto.video.vae import VideoVAE, preset
        cfg = preset(a.preset)
        if a.size % 8 or a.size < 8:
            raise DuettoError(f"--size must be a positive multiple of 8, not {a.size}")
        if (a.frames - 1) % cfg.temporal_factor or a.frames < 1:
            raise DuettoError(f"--frames must be 1 + {cfg.temporal_factor}*n for preset {a.preset!r}, not {a.frames}")
        if cfg.fps != a.fps:
            from dataclasses import replace
            cfg = replace(cfg, fps=a.fps)
    else:
        from duetto.audio.vae import AudioVAE, preset
        cfg = preset(a.preset)
    train_cfg = TrainConfig(steps=a.steps, lr=a.lr, warmup_steps=a.warmup, ckpt_every=a.ckpt_every,
                            eval_every=a.eval_every, log_every=a.log_every, seed=a.seed,
                            decay=a.decay, ema_decay=a.ema_decay,
                            betas=(0.5, 0.9) if a.modality == "audio" else (0.9, 0.999)).check()
    resolved = {"command": "vae", "modality": a.modality, "preset": a.preset, "model": _asdict(cfg),
                "data": data_paths(a.data), "batch_size": a.batch_size, "frames": a.frames,
                "seconds": a.seconds, "gan_start": a.gan_start, "size": a.size, "fps": a.fps, "held_out": a.held_out, "max_clips": a.max_clips,
                "init": str(a.init) if a.init else None, "train": train_cfg.to_dict()}
    _check_same_run(a.out, resolved)
    from duetto.train.vae_tasks import save_calibrated, training_bank
    train, held = training_bank(resolved, progress=not a.no_progress)
    import torch
    torch.manual_seed(a.seed)
    model = VideoVAE(cfg) if a.modality == "video" else AudioVAE(cfg)
    _init_from(model, a.init, a.out)
    if a.modality == "video":
        from duetto.train.vae_tasks import VideoVAETask
        task = VideoVAETask(model, train, held, batch_size=a.batch_size, frames=a.frames, seed=a.seed)
    else:
        from duetto.train.vae_tasks import AudioVAETask
        task = AudioVAETask(model, train, held, batch_size=a.batch_size, seconds=a.seconds,
                            gan_start=a.gan_start, seed=a.seed)
    print(f"{PROG}: {a.modality} VAE {a.preset!r}, {sum(p.numel() for p in task.model.parameters()) / 1e6:.2f} M "
          f"parameters; {len(train)} training clips, {len(held)} held out; run folder {a.out}", file=sys.stderr)
    if train.skipped:                        # what the data held but training cannot use, counted by reason
        print(f"{PROG}: skipped {sum(train.skipped.values())} item(s) of the data: "
              + ", ".join(f"{k} {v}" for k, v in sorted(train.skipped.items())), file=sys.stderr)
    out = Trainer(task, train_cfg, a.out, resolved, progress=not a.no_progress).fit()
    from duetto.data.autoencoder import load_autoencoder
    shift, scale = save_calibrated(load_autoencoder(out), a.modality, train, out)
    print(f"{PROG}: latent shift {shift:+.4f}, scale {scale:.4f} (unit variance on the training clips)", file=sys.stderr)
    print(out)
    return console.EXIT_OK


def _init_from(model, folder: Path | None, run: Path):
    """Copy the weights of a saved model of the same class and config into ``model`` (from a generation bundle:
    its joint model; a delta bundle: its base's moved by the delta). Nothing to do without ``--init`` or when
    ``run`` resumes from a checkpoint of its own.
    Calibration constants (``latent_shift``, ``latent_scale``) may differ; every other config field must match,
    so a run cannot silently train, say, a time-locked model as a global one. What `GROWABLE` allows may grow
    (new layers and new inputs at zero, so the model starts as the one it comes from)."""
    from duetto.data.autoencoder import load_autoencoder, load_state_strict
    from duetto.train.checkpoint import find_checkpoint
    if folder is None or find_checkpoint(run) is not None:
        return
    if not folder.is_dir():
        raise DuettoError(f"--init {folder}: no such folder")
    from duetto.joint.delta import delta_model, is_delta_bundle, read_delta, widen_state
    if is_delta_bundle(folder):               # a delta bundle: its base's joint model moved by the delta
        base, delta = read_delta(folder)
        src = delta_model(load_autoencoder(base / "joint").float(), folder, delta)
    else:
        folder = folder / "joint" if (folder / "joint").is_dir() else folder
        src = load_autoencoder(folder)
    if type(src) is not type(model):
        raise DuettoError(f"--init {folder}: holds {type(src).__name__} weights, not {type(model).__name__}")
    mine, theirs = _asdict(model.config), _asdict(src.config)
    from duetto.joint.config import GROWABLE, grown_fields
    grown = grown_fields(theirs, mine)
    state = widen_state(src.state_dict(), model.state_dict())      # a wider input's new columns start at zero
    differ = [f"{k} ({mine[k]!r} here, {theirs.get(k)!r} there)" for k in mine
              if k not in ("latent_shift", "latent_scale", *grown) and mine[k] != theirs.get(k)]
    if differ:
        raise DuettoError(f"--init {folder}: a different model: {', '.join(differ)}")
    fresh = {k: v for k, v in model.state_dict().items()
             if any(GROWABLE.get(g) and k.startswith(GROWABLE[g]) for g in grown)}
    load_state_strict(model, {**state, **fresh}, str(folder))


def _voice_dim(a) -> int:
    """``--voice-dim``, else the run's own (a run begun before the voice's pitch joined its embedding resumes with
    64 values), else the embedding's whole `VOICE_DIM`."""
    from duetto.joint.conditioning import VOICE_DIM
    if a.voice_dim is not None:
        return a.voice_dim
    info = a.out / "run.json"
    if info.is_file():
        from duetto.data.schema import load_json
        model = load_json(info.read_bytes(), str(info)).get("config", {}).get("model", {})
        if isinstance(model, dict) and model.get("voice_dim") in (64, 66):
            return model["voice_dim"]
    return VOICE_DIM


def _asdict(cfg) -> dict:
    import dataclasses
    return dataclasses.asdict(cfg)


def _check_same_run(out: Path, resolved: dict):
    """A run folder is resumed only by the same run: a different model, data or schedule is refused
    (except ``steps``, which may grow to train longer)."""
    info = out / "run.json"
    if not info.is_file():
        return
    from duetto.data.schema import load_json
    old = load_json(info.read_bytes(), str(info)).get("config", {})
    a = json.loads(json.dumps(resolved))
    b = dict(old)
    if isinstance(b.get("data"), list):           # runs recorded before paths were made absolute
        b["data"] = data_paths(str(d) for d in b["data"])
    a_train, b_train = dict(a.get("train", {})), dict(b.get("train", {}))
    a_train.pop("steps", None), b_train.pop("steps", None)
    a["train"], b["train"] = a_train, b_train
    if a != b:
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise DuettoError(f"{out} holds a different run (differs in {', '.join(diff)}); use another --out")


def cmd_joint(a) -> int:
    from dataclasses import replace

    from duetto.data.latents import load_latents
    from duetto.joint.config import GROWABLE, preset
    from duetto.joint.flow import FlowConfig
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.config import TrainConfig
    from duetto.train.joint_task import JointTask
    from duetto.train.trainer import Trainer
    if a.steps < 1 or a.batch_size < 1:
        raise DuettoError("--steps and --batch-size must be at least 1")
    if not 0 <= a.held_out < 1 or not 0 <= a.caption_dropout <= 1 or not 0 <= a.condition_dropout <= 1:
        raise DuettoError("--held-out must be in [0, 1), --caption-dropout and --condition-dropout in [0, 1]")
    if not 0 <= a.cross_dropout < 1:
        raise DuettoError("--cross-dropout must be in [0, 1)")
    if not all(0 <= x <= 1 for x in (a.drop_all, a.caption_words_dropout, a.caption_gender_dropout, a.high_noise,
                                     a.given_prefix)):
        raise DuettoError("--drop-all, --caption-words-dropout, --caption-gender-dropout, --high-noise and --given-prefix "
                          "must be in [0, 1]")
    if a.cross_dropout and a.cross == "none":
        raise DuettoError("--cross-dropout needs cross-modal attention (not --cross none)")
    if not 0 <= a.change_weight < float("inf"):
        raise DuettoError("--change-weight must be a finite number >= 0")
    family_weights = _family_weights(a.family_weight)
    most = 1 - FlowConfig.independent                     # the rest of the clips: independent flow times
    if not (0 <= a.video_given <= 1 and 0 <= a.audio_given <= 1 and a.video_given + a.audio_given <= most):
        raise DuettoError(f"--video-given and --audio-given must be in [0, 1] with a sum of at most {most:g}")
    cfg = preset(a.preset)
    clips = load_latents(a.data)
    if not clips:
        raise DuettoError(f"no latent clips in {' '.join(map(str, a.data))}")
    encoder = load_text_encoder(a.text_encoder)
    c0 = clips[0]
    cfg = replace(cfg, video_channels=c0["video"].shape[0], audio_channels=c0["audio"].shape[0],
                  video_patch=cfg.video_patch if a.video_patch is None else a.video_patch,
                  text_dim=encoder.dim, cross_modal=a.cross != "none", speech_track=a.speech_track,
                  known_prefix=a.given_prefix > 0, track_silence=a.track_silence, voice_dim=_voice_dim(a),
                  window=None if a.cross == "global" else (a.window if a.window is not None else cfg.window))
    grid = tuple(c0["video"].shape[-2:])
    if any(g % cfg.video_patch for g in grid):
        raise DuettoError(f"the video latent grid {grid[0]}x{grid[1]} is not a multiple of --video-patch {cfg.video_patch}")
    from duetto.data.bank import held_out_indices
    out_idx = held_out_indices([c["key"] for c in clips], a.held_out) if len(clips) > 1 else set()
    train = [c for i, c in enumerate(clips) if i not in out_idx]
    held = [c for i, c in enumerate(clips) if i in out_idx]
    train_cfg = TrainConfig(steps=a.steps, lr=a.lr, warmup_steps=a.warmup, decay=a.decay, ema_decay=a.ema_decay,
                            ckpt_every=a.ckpt_every, eval_every=a.eval_every, log_every=a.log_every,
                            seed=a.seed).check()
    model_fields = {k: v for k, v in _asdict(cfg).items() if k not in GROWABLE or v}   # older runs lack these fields
    resolved = {"command": "joint", "preset": a.preset, "model": model_fields, "data": data_paths(a.data),
                "batch_size": a.batch_size, "text_encoder": a.text_encoder, "caption_dropout": a.caption_dropout,
                "condition_dropout": a.condition_dropout, "crop_seconds": a.crop_seconds, "held_out": a.held_out, "vae": c0["info"].get("vae"), "train": train_cfg.to_dict()}
    # recorded only when used, so older runs resume as they were
    for name in ("cross_dropout", "change_weight", "drop_all", "caption_words_dropout", "caption_gender_dropout",
                 "high_noise", "given_prefix"):
        if getattr(a, name):
            resolved[name] = getattr(a, name)
    for name in ("video_given", "audio_given"):
        if getattr(a, name) != getattr(FlowConfig, name):
            resolved[name] = getattr(a, name)
    if family_weights:
        resolved["family_weights"] = family_weights
    if a.init is not None:
        resolved["init"] = str(a.init)
    _check_same_run(a.out, resolved)
    import torch

    torch.manual_seed(a.seed)
    model = JointDiT(cfg)
    _init_from(model, a.init, a.out)
    model.gradient_checkpointing = a.grad_checkpoint
    flow = FlowConfig(cross_dropout=a.cross_dropout, change_weight=a.change_weight, video_given=a.video_given,
                      audio_given=a.audio_given, high_noise=a.high_noise,
                      prefix=a.given_prefix)
    task = JointTask(model, train, held, encoder, batch_size=a.batch_size, flow=flow,
                     caption_dropout=a.caption_dropout, condition_dropout=a.condition_dropout, seed=a.seed,
                     crop_seconds=a.crop_seconds, family_weights=family_weights, drop_all=a.drop_all,
                     caption_words_dropout=a.caption_words_dropout, caption_gender_dropout=a.caption_gender_dropout)
    print(f"{PROG}: joint model {a.preset!r} ({a.cross}), {sum(p.numel() for p in task.model.parameters()) / 1e6:.2f} M "
          f"parameters; {len(train)} training clips, {len(held)} held out; run folder {a.out}", file=sys.stderr)
    print(Trainer(task, train_cfg, a.out, resolved, progress=not a.no_progress).fit())
    return console.EXIT_OK


def cmd_eval(a) -> int:
    from duetto.joint.cli import load_for_sampling
    from duetto.joint.pipeline import SAMPLING_SETTINGS
    from duetto.train.evaluate import evaluate, prompts_from_bank, read_prompts
    if a.prompts and a.given != "none":
        raise DuettoError("--given takes its prompts from --clips: leave out --prompts")
    if a.given != "none" and not a.clips:
        raise DuettoError(f"--given {a.given} needs --clips (the clips whose {a.given} is kept)")
    if a.prompts is None and not a.clips:
        raise DuettoError("give --prompts FILE and/or --clips SHARDS")
    if a.rewrite_model is not None and not a.rewrite:
        raise DuettoError("--rewrite-model goes with --rewrite")
    if a.rewrite and a.prompts is None:
        raise DuettoError("--rewrite rewrites the --prompts FILE (plain requests); --clips captions are captions "
                          "already")
    from duetto.joint.pipeline import MAX_SECONDS, MAX_STEPS
    if not 1 <= a.n <= 100_000 or (a.steps is not None and not 1 <= a.steps <= MAX_STEPS) or \
            (a.seconds is not None and not 0 < a.seconds <= MAX_SECONDS):
        raise DuettoError(f"--n must be 1-100000, --steps 1-{MAX_STEPS}, --seconds in (0, {MAX_SECONDS:g}]")
    if not a.checkpoint.is_dir():
        raise DuettoError(f"{a.checkpoint}: no such bundle folder")
    if a.extend is not None:
        from duetto.joint.extend import MAX_SECONDS as MAX_EXTEND
        if not 0 < a.extend <= MAX_EXTEND or a.given != "none" or a.seconds is not None:
            raise DuettoError(f"--extend must be in (0, {MAX_EXTEND:g}] s, without --given or --seconds")
        if not 0 < a.history < MAX_EXTEND:
            raise DuettoError("--history must be above 0 (and below the model's window)")
        anchor_seconds(a.anchor, a.history)            # a bad --anchor before anything loads
    elif a.anchor is not None:
        raise DuettoError("--anchor goes with --extend")
    from duetto.joint.device import from_arguments
    device, dtype = from_arguments(a)                  # before anything loads
    rewriter = None
    if a.rewrite:                                      # a bad --rewrite-model before the bundle loads
        from duetto.joint.rewrite import load_rewriter
        rewriter = load_rewriter(a.rewrite_model)
    text = None
    if a.text_encoder:
        from duetto.joint.text import load_text_encoder
        text = load_text_encoder(a.text_encoder)
    pipe = load_for_sampling(a.checkpoint, a, device, dtype, text)
    bank = None
    if a.clips:
        from duetto.data.bank import load_bank
        lay = pipe.layout(a.seconds or pipe.config.seconds)
        bank = load_bank(a.clips, fps=lay["fps"], size=pipe.config.size, sample_rate=pipe.audio_vae.sample_rate,
                         channels=pipe.audio_vae.channels, min_seconds=lay["frames"] / lay["fps"],
                         progress=not a.no_progress)
    prompts = read_prompts(a.prompts) if a.prompts else prompts_from_bank(bank, a.given)
    if a.family:
        kept = [p for p in prompts if p.family in a.family]
        if not kept:
            raise DuettoError(f"no prompts of family {', '.join(a.family)} (there are: "
                              f"{', '.join(sorted({p.family for p in prompts}))})")
        prompts = kept
    from duetto.train.evaluate import spread
    prompts = spread(prompts, a.n)
    import dataclasses
    if rewriter is not None:
        done = [rewriter.rewrite(p.text) for p in prompts]
        prompts = [dataclasses.replace(p, text=r.caption, speech=p.speech or r.speech, request=p.text)
                   for p, r in zip(prompts, done)]
    if a.voices:
        from duetto.joint.conditioning import read_reference
        if not pipe.model.config.voice_dim:
            raise DuettoError(f"{a.checkpoint}: this model takes no voice reference (--voices)")
        refs = [read_reference(v, pipe.audio_vae.sample_rate) for v in a.voices]
        speech = [i for i, p in enumerate(prompts) if p.speech]
        if not speech:
            raise DuettoError("--voices: no prompt has words to speak")
        for k, i in enumerate(speech):
            prompts[i] = dataclasses.replace(prompts[i], voice=refs[k % 2], voice_other=refs[(k + 1) % 2])
    clips_dir = None
    if a.out is not None:
        clips_dir = a.out / "clips"
        clips_dir.mkdir(parents=True, exist_ok=True)
    if a.extend is not None:
        from duetto.joint.extend import plan
        plan(pipe, a.history)                          # a bad --history before any clip is made
    report = evaluate(pipe, prompts, seconds=a.seconds, reference=bank, clips_dir=clips_dir,
                      progress=not a.no_progress, extend_to=a.extend, history=a.history, history_method=a.history_method,
                      anchor=a.anchor)
    c = pipe.config
    report["settings"] = {"checkpoint": str(a.checkpoint), "given": a.given, "device": str(device),
                          **({"audio_vae": str(a.audio_vae)} if a.audio_vae is not None else {}),
                          "dtype": str(dtype).removeprefix("torch."),
                          **{k: getattr(c, k) for k in SAMPLING_SETTINGS},
                          "seconds": a.seconds or c.seconds, "prompts": len(prompts),
                          **({"extend": a.extend, "history": a.history, "history_method": a.history_method,
                              "anchor": anchor_seconds(a.anchor, a.history)}
                             if a.extend is not None else {}),
                          **({"voices": [str(v) for v in a.voices]} if a.voices else {}),
                          **({"rewrite": str(a.rewrite_model or "embedded")} if a.rewrite else {})}
    if a.out is not None:
        from duetto.data.media import atomic_write
        atomic_write(a.out / "report.json", (json.dumps(report, indent=1) + "\n").encode())
    if a.json:
        print(json.dumps(report))
    else:
        print(console.table(report["summary"], console.columns(report["summary"])))
    return console.EXIT_OK


def cmd_export(a) -> int:
    from duetto.train.export import describe, export_bundle, export_student, export_vae, run_info
    if not a.run.is_dir():
        raise DuettoError(f"{a.run}: no such run folder")
    kind = run_info(a.run)["command"]
    if a.delta is not None and kind == "joint" and a.delta_base is None:
        raise DuettoError("--delta on a joint run needs --delta-base BUNDLE (the bundle it is stored against)")
    if a.delta is not None and kind not in ("distil", "joint") or a.delta_base is not None and a.delta is None:
        raise DuettoError("--delta is for distillation and joint runs; --delta-base goes with --delta")
    if a.int8 and (a.delta is None or a.delta == "full"):
        raise DuettoError("--int8 goes with --delta RANK")
    try:
        rank = None if a.delta in (None, "full") else console.int_in(1, 1024, "'full' or a rank")(a.delta)
    except argparse.ArgumentTypeError as e:
        raise DuettoError(f"--delta: {e}") from None
    if kind == "distil":
        out = export_student(a.run, a.out, a.step, half=a.half, delta=a.delta is not None, rank=rank,
                             steps=a.sample_steps, int8=a.int8)
        print(f"{PROG}: wrote {out} ({describe(out)})", file=sys.stderr)
        print(out)
        return console.EXIT_OK
    joint_only = {"--size": a.size, "--sample-steps": a.sample_steps, "--guidance": a.guidance,
                  "--video-guidance": a.video_guidance, "--guidance-max-t": a.guidance_max_t,
                  "--sync-scale": a.sync_scale, "--video-vae": a.video_vae, "--audio-vae": a.audio_vae}
    if kind == "joint":
        a.size = 64 if a.size is None else a.size
        a.sample_steps = 25 if a.sample_steps is None else a.sample_steps
        a.guidance = 3.0 if a.guidance is None else a.guidance
        a.sync_scale = 0.0 if a.sync_scale is None else a.sync_scale
        a.video_guidance = a.guidance if a.video_guidance is None else a.video_guidance
        a.guidance_max_t = 1.0 if a.guidance_max_t is None else a.guidance_max_t
        if a.video_vae is None or a.audio_vae is None:
            raise DuettoError("a joint run needs --video-vae and --audio-vae (the VAEs its latents came from)")
        if a.size % 8 or a.size < 8 or a.sample_steps < 1 or not min(a.guidance, a.video_guidance) > 0 \
                or not a.sync_scale >= 0:
            raise DuettoError("--size must be a positive multiple of 8, --sample-steps at least 1, --guidance and "
                              "--video-guidance positive, --sync-scale >= 0")
        out = export_bundle(a.run, a.out, a.video_vae, a.audio_vae, a.step, size=a.size, steps=a.sample_steps, half=a.half,
                            guidance=a.guidance, video_guidance=a.video_guidance, sync_scale=a.sync_scale,
                            guidance_max_t=a.guidance_max_t, delta_base=a.delta_base, rank=rank, int8=a.int8)
    else:
        given = [k for k, v in joint_only.items() if v is not None]
        if given:
            raise DuettoError(f"{', '.join(given)}: for joint runs ({a.run} is a VAE run)")
        out, shift, scale = export_vae(a.run, a.out, a.step, half=a.half, progress=not a.no_progress)
        print(f"{PROG}: latent shift {shift:+.4f}, scale {scale:.4f} (unit variance on the training clips)", file=sys.stderr)
    print(f"{PROG}: wrote {out} ({describe(out)})", file=sys.stderr)
    print(out)
    return console.EXIT_OK


def cmd_distil(a) -> int:
    from .distil import cmd_distil as run
    return run(a)


COMMANDS = {"vae": cmd_vae, "joint": cmd_joint, "eval": cmd_eval, "export": cmd_export, "distil": cmd_distil}


def _main(argv=None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    if a.cmd is None:
        p.print_help()
        return console.EXIT_BAD_INPUT
    if a.cmd in PLANNED:
        raise DuettoError(f"'{a.cmd}' is not available in this release (planned: {', '.join(PLANNED)})")
    return COMMANDS[a.cmd](a)


def main(argv=None) -> int:
    return console.run(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
