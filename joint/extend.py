"""Long clips by continuing one: picture and sound together, window after window, in bounded memory.

The model makes clips of its own length W (``generation.json``'s ``seconds``, 4 s for tiny). A longer clip is made
window by window: each window's first ``history`` seconds are the last ``history`` seconds of the clip so far (both
streams' latents, kept by `sampling.Known`: replaced at every step by themselves noised to the step's flow time),
and the sampler fills the rest to match; the window's new ``W - history`` seconds are appended. The history's last
``BLEND_S`` seconds are kept softly (weight 1 -> 0) and taken from the new window, so the seam is a blend the
sampler makes, not a cut (on the 4-step student's 16 s clips, the picture's change across a seam's frame boundary
fell from the 61st-98th to the 22nd-56th percentile of all boundaries; over the 0.5 s before it, the picture
still drifts as much as before: what a window changes is spread, not removed). So the context is
one window however long the clip gets (memory flat), both streams cross every seam together, and the speech and
music conditions follow the whole clip's clock (words planned over the whole clip; each window is given the words
whose middle falls in it, on its own clock).

Design note: the history is the newest ``history`` seconds at full resolution; older content is dropped, not
compressed into coarser tokens (FramePack), and the model was not trained on clips whose start is given (the
replacement method needs no training; a trained given-prefix task is the next step). The latents of the whole clip
(tiny: 16 x 8 x 8 per frame, 8 per 20 ms of sound) are decoded at the end by the VAEs' chunked decoders, which give
the full decode exactly, so the decoders add no seams of their own.

    clip = extend(pipe, "a wooden ball bounces on a table", seconds=32)               # generate, then continue
    clip = extend(pipe, caption, seconds=16, start=read_clip("a.mp4", fps=25, size=64, sample_rate=16000))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from duetto.data import timebase
from duetto.data.clip import Clip
from duetto.data.errors import DuettoError

MAX_SECONDS = 600.0          # what one extension may reach (the latents of 10 minutes: ~10 MB at the tiny size)
CROSSFADE_S = 0.02           # where a given clip's own sound meets the decoded continuation
BLEND_S = 0.5                # the history's last seconds are kept softly (weight 1 -> 0): the seam is a blend


@dataclass(frozen=True)
class Plan:
    """Window arithmetic on the latent clocks. ``window``/``history``: latents per window and kept per window."""
    window_s: float
    history_s: float
    video_window: int
    audio_window: int
    video_history: int
    audio_history: int

    @property
    def step_s(self) -> float:
        return self.window_s - self.history_s


def plan(pipe, history: float) -> Plan:
    """Windows of the bundle's length keeping ``history`` seconds; both counts must land on whole latents."""
    w = float(pipe.config.seconds)
    if pipe.video_vae.temporal_factor != 1:         # a causal VAE's first latent is one frame, the others k
        raise DuettoError("extension needs a video VAE with one latent a frame (the shipped ones); this bundle's "
                          f"has {pipe.video_vae.temporal_factor}")
    if not 0 < history < w:
        raise DuettoError(f"--history must be above 0 and below the model's {w:g} s window")
    lw, lh = pipe.layout(w), pipe.layout(history)
    vr, ar = lw["n_video"] / w, lw["n_audio"] / w            # latents per second
    hv, ha = history * vr, history * ar
    if abs(hv - round(hv)) > 1e-6 or abs(ha - round(ha)) > 1e-6 or lh["n_video"] != round(hv):
        raise DuettoError(f"--history {history:g} s is not a whole number of latents of both streams "
                          f"({vr:g} and {ar:g} a second)")
    return Plan(w, float(history), lw["n_video"], lw["n_audio"], int(round(hv)), int(round(ha)))


def windows(total: float, p: Plan, start: float = 0.0) -> list[float]:
    """Start times (s) of the windows that carry a clip of ``start`` seconds (0: the first window is made whole)
    to at least ``total`` seconds."""
    starts, end = [], (start if start > 0 else p.window_s)
    if start <= 0:
        starts.append(0.0)
    while end < total - 1e-9:
        starts.append(end - p.history_s)
        end += p.step_s
    return starts


@torch.no_grad()
def extend(pipe, prompt: str, *, seconds: float, start: Clip | None = None, history: float = 2.0, seed: int = 0,
           steps: int | None = None, speech: str | None = None, speech_voice: str = "en-us", voice=None, music=None,
           callback=None, blend: float = BLEND_S) -> Clip:
    """A clip of ``seconds`` (rounded up to whole windows) for ``prompt``: ``start`` continued, or a first window
    made and continued. ``start`` must be at the VAEs' fps, size and sample rate and last at least ``history``
    seconds. ``callback(i, n)`` after each sampling step of each window (``n`` counts all of them). ``blend``: the
    last seconds of each history are kept with a weight falling from 1 to 0, and taken from the new window, so the
    seam is a blend the sampler makes rather than a cut (not at the end of a given clip, which is kept as it is)."""
    p = plan(pipe, history)
    if not 0 < seconds <= MAX_SECONDS:
        raise DuettoError(f"an extended clip lasts at most {MAX_SECONDS:g} s")
    fps, sr = pipe.video_vae.config.fps, pipe.audio_vae.sample_rate
    zv, za, have = None, None, 0.0
    if start is not None:
        if start.fps != fps or start.sample_rate != sr or start.size != (pipe.config.size,) * 2:
            raise DuettoError(f"the clip to extend must be {pipe.config.size}x{pipe.config.size} at {fps:g} fps and "
                              f"{sr} Hz (read it with those)")
        zv, za = _encode(pipe, start, p)
        have = zv.shape[2] * p.window_s / p.video_window          # seconds the latents of both streams hold
        if have < history:
            raise DuettoError(f"the clip to extend lasts {have:.2f} s; it needs at least --history {history:g} s")
        start = Clip(start.video[: pipe.video_vae.frame_count(zv.shape[2])], start.audio, fps, sr)
        if seconds <= have:
            raise DuettoError(f"the clip already lasts {have:.2f} s; ask for more than that")
    starts = windows(seconds, p, have)
    n_steps = steps or pipe.config.steps
    done = [0]

    def tick(i, n):
        done[0] += 1
        if callback:
            callback(done[0], n_steps * len(starts))
    lay = pipe.layout(p.window_s)
    for k, t0 in enumerate(starts):
        win_seed = int(seed) + 7919 * k                 # each window its own noise, the first one as `generate`'s
        common = dict(speech=speech, speech_voice=speech_voice, voice=voice, music=music, steps=steps, callback=tick,
                      offset=t0)
        if zv is None:
            zv, za = pipe.sample(prompt, lay, [win_seed], **common)
            continue
        kv = torch.zeros(1, zv.shape[1], p.video_window, *zv.shape[3:])
        ka = torch.zeros(1, za.shape[1], p.audio_window)
        kv[:, :, : p.video_history] = zv[:, :, -p.video_history:].cpu()
        ka[:, :, : p.audio_history] = za[:, :, -p.audio_history:].cpu()
        soft = blend if start is None or k > 0 else 0.0            # a given clip's own end stays as it is
        mv, bv = _weights(p.video_window, p.video_history, soft * p.video_window / p.window_s)
        ma, ba = _weights(p.audio_window, p.audio_history, soft * p.audio_window / p.window_s)
        nv, na = pipe.sample(prompt, lay, [win_seed], known=(kv, mv, ka, ma), **common)
        # the history's soft end, as this window blended it, then the new part
        zv = torch.cat([zv[:, :, : zv.shape[2] - bv], nv[:, :, p.video_history - bv:].to(zv)], dim=2)
        za = torch.cat([za[:, :, : za.shape[2] - ba], na[:, :, p.audio_history - ba:].to(za)], dim=2)
    return _decode(pipe, zv, za, seconds, start, prompt, seed)


def _weights(window: int, history: int, blend: float) -> tuple[torch.Tensor, int]:
    """Known-latent weights of a window ``[window]``: 1 over the history, falling linearly to 0 over its last
    ``blend`` latents (rounded, at most half the history; none when 0), 0 after it; and that blend length."""
    n = min(history // 2, int(round(blend))) if blend > 0 else 0
    w = (torch.arange(window) < history).float()
    if n:
        w[history - n: history] = torch.linspace(1, 0, n + 2)[1:-1]
    return w, n


def _encode(pipe, clip: Clip, p: Plan) -> tuple[torch.Tensor, torch.Tensor]:
    """A clip's latents on the pipeline's device, both cut to the span they both hold in whole latents."""
    from duetto.video.vae import to_model_range
    frames = torch.from_numpy(np.ascontiguousarray(clip.video))[None]
    zv = pipe.video_vae.chunked_encode(to_model_range(frames).to(pipe.device))
    audio = torch.from_numpy(np.ascontiguousarray(clip.audio, dtype=np.float32))[None].to(pipe.device)
    za = pipe.audio_vae.chunked_encode(audio)
    per = p.audio_window // p.video_window                        # audio latents per video latent (tiny: 2)
    if per * p.video_window != p.audio_window:
        raise DuettoError("extension needs a whole number of audio latents per video latent")
    nv = min(zv.shape[2], za.shape[2] // per)
    return zv[:, :, :nv], za[:, :, : nv * per]


def _decode(pipe, zv, za, seconds: float, start: Clip | None, prompt: str, seed: int) -> Clip:
    """Frames and samples of the whole latent clip (chunked decoders: exact, bounded memory); a given ``start``
    keeps its own frames and sound, the continuation joined to it with a short cross-fade of the sound."""
    from duetto.video.vae import to_uint8
    fps, sr = pipe.video_vae.config.fps, pipe.audio_vae.sample_rate
    frames = to_uint8(pipe.video_vae.chunked_decode(zv))[0].cpu().numpy()               # [T, H, W, 3]
    sound = pipe.audio_vae.chunked_decode(za).clamp(-1, 1)[0].float().cpu().numpy()     # [C, N]
    n_frames = min(len(frames), timebase.n_frames(seconds, fps))
    frames = frames[:n_frames]
    sound = sound[:, : timebase.n_samples_for_frames(n_frames, fps, sr)]
    if start is not None:
        f0 = start.n_frames
        s0 = timebase.n_samples_for_frames(f0, fps, sr)
        frames = np.concatenate([start.video[:f0], frames[f0:]])
        fade = min(int(round(CROSSFADE_S * sr)), s0)
        joined = sound.copy()
        joined[:, :s0] = start.audio[:, :s0]
        if fade:
            w = np.linspace(0, 1, fade, dtype=np.float32)
            joined[:, s0 - fade: s0] = (1 - w) * start.audio[:, s0 - fade: s0] + w * sound[:, s0 - fade: s0]
        sound = joined
    return Clip(np.ascontiguousarray(frames), np.ascontiguousarray(sound, dtype=np.float32), fps, sr,
                metadata={"caption": prompt, "seed": seed, "extended": True})
