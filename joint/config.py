"""What a joint model is: its streams, width, depth and where the streams meet, as one frozen config."""
from __future__ import annotations

import math
from dataclasses import dataclass

from duetto.data.errors import DuettoError


# "data": the output layer predicts the clean latents x0 and the model returns the velocity (x_t - x0) / t.
# A video token of 16 channels x 4 x 4 latents is 256 numbers, more than a tiny model's width: a linear head
# from 192 features cannot give the noise in all 256, so a velocity-predicting model leaves noise in the
# directions it cannot reach (measured: speckled, structureless samples at 2,000 updates). Clean latents lie
# near a low-dimensional set, which the head can reach (JiT, Li & He 2025, "Back to Basics").
PREDICTS = ("velocity", "data")
MIN_FLOW_TIME = 0.05                     # "data": (x_t - x0) / max(t, this), as JiT clips it


# What a model may gain over the one it starts from (an --init, a delta's base): config field -> the prefix of the
# parameters it adds (they start at zero, as if the input were absent), or None for an input that only says more.
GROWABLE = {"speech_track": "track_in.", "known_prefix": "known_", "track_silence": None,
            "voice_dim": None}     # 64 -> 66: the voice's pitch joins its embedding (its projection widens)


def grown_fields(base: dict, config: dict) -> list[str]:
    """The `GROWABLE` fields that ``config`` (a `JointConfig` as a dict) gained over ``base``'s: turned on, or
    larger (a wider input), never off or smaller."""
    return [k for k in GROWABLE if config.get(k) and config.get(k) != base.get(k) and (base.get(k) or 0) <= config[k]]

# How an extension window is given its history (`joint.extend`): "auto" tells a model trained with known latents
# which they are; "replace" puts them back noised at every step, for any model.
HISTORY_METHODS = ("auto", "replace")
# Seconds of a long clip's first picture every window keeps in its history (`joint.extend`): what holds a speaker
# to how they looked (DEV speech, 16 s, duetto-tiny-v2: drift 24.6 of 255 -> 13.7 with 0.4 s, 8.1 with 0.8 s, the
# words' timing unchanged; impacts and music keep every event window in sync; samples/README.md). At most
# ANCHOR_SHARE of the history, so the newest picture stays known beyond the history's blended end.
HISTORY_ANCHOR_S = 0.8
ANCHOR_SHARE = 0.4


def anchor_seconds(anchor: float | None, history: float) -> float:
    """The anchor a window keeps for ``--anchor`` (``None``: `HISTORY_ANCHOR_S`, or less where the history is short)
    and ``--history`` (seconds, above 0); a one-line `DuettoError` for a value out of [0, ANCHOR_SHARE x history]."""
    cap = ANCHOR_SHARE * history
    if anchor is None:
        return min(HISTORY_ANCHOR_S, cap)
    if not 0 <= anchor <= cap + 1e-9:
        raise DuettoError(f"--anchor must be between 0 and {ANCHOR_SHARE:.0%} of the history ({cap:g} s), "
                          f"not {anchor:g}")
    return float(anchor)


@dataclass(frozen=True)
class JointConfig:
    """Two token streams over the latents of a video VAE and an audio VAE.

    Video latents ``[C, T, h, w]`` become ``T * (h / video_patch) * (w / video_patch)`` tokens, audio latents
    ``[C, L]`` become ``L / audio_patch`` tokens. Every token carries its time in seconds (given by the caller
    from the VAEs' ``timestamps``). Blocks ``cross_every, 2 * cross_every, ...`` (1-based) add bidirectional
    cross-modal attention in which a token only sees tokens of the other stream within ``window`` seconds of
    its own time; ``window=None`` is global cross-attention, ``cross_modal=False`` removes it (the ablations).
    """

    video_channels: int = 8
    audio_channels: int = 8
    video_patch: int = 2
    audio_patch: int = 1
    dim: int = 192
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    cross_every: int = 2
    cross_modal: bool = True
    window: float | None = 0.2           # seconds
    text_dim: int = 384                  # all-MiniLM-L6-v2
    speech_vocab: int = 128              # phoneme ids (joint.conditioning); 0: no speech condition
    voice_dim: int = 66                  # voice reference embedding (joint.conditioning.voice_embedding; 64: without
                                         # its pitch, models before 2026-12-08); 0: none
    music_dim: int = 14                  # music features per audio latent (onset, beat, chroma); 0: none
    speech_track: bool = False           # the phonemes also on the audio clock (joint.conditioning.phoneme_track)
    track_silence: bool = False          # the track marks "silent here" apart from "not told" (conditioning.SILENCE)
    known_prefix: bool = False           # latents may be marked known (given clean): an extension's history (joint.extend)
    time_rope_share: float = 0.5         # share of each head's dimensions rotated by time; the rest by (row, col)
    rope_min_period: float = 0.05        # seconds: the fastest rotation; not a divisor of a 25 fps frame (40 ms), or a one-frame slip would leave that pair unchanged
    rope_max_period: float = 120.0       # seconds: the slowest
    predicts: str = "velocity"           # what the output layer gives: "velocity", or "data" (x-prediction, below)

    def __post_init__(self):
        for name in ("video_channels", "audio_channels", "video_patch", "audio_patch", "dim", "depth", "heads",
                     "cross_every", "text_dim"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise DuettoError(f"JointConfig.{name} must be a positive integer, not {v!r}")
        for name in ("speech_vocab", "voice_dim", "music_dim"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                raise DuettoError(f"JointConfig.{name} must be a non-negative integer, not {v!r}")
        if self.voice_dim not in (0, 64, 66):
            raise DuettoError(f"JointConfig.voice_dim must be 66, 64 (a voice without its pitch) or 0, not {self.voice_dim!r}")
        if not isinstance(self.speech_track, bool) or (self.speech_track and not self.speech_vocab):
            raise DuettoError("JointConfig.speech_track must be a bool, and needs speech_vocab > 0")
        if not isinstance(self.track_silence, bool) or (self.track_silence and not self.speech_track):
            raise DuettoError("JointConfig.track_silence must be a bool, and needs speech_track")
        if not isinstance(self.known_prefix, bool):
            raise DuettoError("JointConfig.known_prefix must be a bool")
        if self.dim % self.heads or (self.dim // self.heads) % 8:
            raise DuettoError(f"JointConfig: dim {self.dim} / heads {self.heads} must be a multiple of 8")
        if self.window is not None and not (isinstance(self.window, (int, float)) and self.window > 0):
            raise DuettoError(f"JointConfig.window must be a positive number of seconds or None, not {self.window!r}")
        if not 0 < self.time_rope_share <= 1:
            raise DuettoError("JointConfig.time_rope_share must be in (0, 1]")
        if not (0 < self.rope_min_period < self.rope_max_period and math.isfinite(self.rope_max_period)):
            raise DuettoError("JointConfig: need 0 < rope_min_period < rope_max_period")
        if self.predicts not in PREDICTS:
            raise DuettoError(f"JointConfig.predicts must be one of {', '.join(PREDICTS)}, not {self.predicts!r}")
        if not self.mlp_ratio > 0:
            raise DuettoError("JointConfig.mlp_ratio must be positive")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def has_cross(self, block: int) -> bool:
        """Whether block ``block`` (0-based) carries cross-modal attention."""
        return self.cross_modal and (block + 1) % self.cross_every == 0


PRESETS = {
    # for tests and smoke runs only
    "micro": JointConfig(dim=32, depth=2, heads=2, cross_every=1, predicts="data"),
    # 11.8 M parameters (24 MB in fp16): trains on a 2-core CPU in hours, on one GPU in minutes
    "tiny": JointConfig(predicts="data"),
    "small": JointConfig(dim=384, depth=12, heads=6, predicts="data"),
    "base": JointConfig(video_channels=16, audio_channels=32, dim=768, depth=24, heads=12, cross_every=3,
                        predicts="data"),
}


def preset(name: str) -> JointConfig:
    if name not in PRESETS:
        raise DuettoError(f"unknown joint model preset {name!r}: {', '.join(PRESETS)}")
    return PRESETS[name]
