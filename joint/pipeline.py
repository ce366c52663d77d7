"""From a prompt to a synced clip: a generation bundle (joint model + its two VAEs + settings) and the pipeline.

A bundle is a folder::

    joint/        the JointDiT            (config.json + model.safetensors)
    video_vae/    the video autoencoder   (the one its latents came from)
    audio_vae/    the audio autoencoder
    generation.json   GenerationConfig: frame size, caption encoder, default steps, schedule shift, guidance

Clip length in seconds becomes latent counts through the VAEs' own clocks: ``frames = 1 + k (n_video - 1)``
covers the request, the audio spans exactly those frames, and token times are the VAEs' ``timestamps``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from duetto.data import timebase
from duetto.data.autoencoder import atomic_folder, config_from_dict, load_autoencoder
from duetto.data.clip import Clip
from duetto.data.errors import DuettoError
from duetto.data.schema import load_json

from .conditions import unconditional
from .sampling import SAMPLERS, Known, guided, schedule

GENERATION_NAME = "generation.json"


MAX_STEPS = 1000          # bounds on what a bundle (generation.json) or an option may ask for: beyond them a run
MAX_SECONDS = 60.0        # would take hours or more memory than a machine has, and a hostile bundle must not
MAX_SIZE = 1024


@dataclass(frozen=True)
class GenerationConfig:
    size: int = 64                      # square frame side the video VAE was trained at
    text_encoder: str = "minilm"        # see joint.text.load_text_encoder
    steps: int = 25
    sampler: str = "euler"
    shift: float = 3.0                  # schedule warp toward the noise end (sampling.schedule)
    video_scale: float = 3.0            # classifier-free guidance per stream
    audio_scale: float = 3.0
    video_sync_scale: float = 0.0       # cross-modal guidance per stream (sampling.guided); 0: off
    audio_sync_scale: float = 0.0
    guidance_max_t: float = 1.0         # guide only at flow times <= this (sampling.guided); 1: every step
    seconds: float = 4.0                # default clip length

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise DuettoError(f"unknown sampler {self.sampler!r}: {', '.join(SAMPLERS)}")
        if not (0 < self.size <= MAX_SIZE and self.size % 8 == 0 and 1 <= self.steps <= MAX_STEPS
                and 0 < self.seconds <= MAX_SECONDS and 0 < self.shift <= 1000):
            raise DuettoError(f"generation config: size a multiple of 8 up to {MAX_SIZE}, steps 1-{MAX_STEPS}, "
                              f"seconds in (0, {MAX_SECONDS:g}], shift in (0, 1000]")
        scales = (self.video_scale, self.audio_scale, self.video_sync_scale, self.audio_sync_scale)
        if not all(math.isfinite(x) for x in scales):
            raise DuettoError("generation config: guidance and sync scales must be finite numbers")
        if not (self.video_sync_scale >= 0 and self.audio_sync_scale >= 0):
            raise DuettoError("generation config: sync scales must be >= 0")
        if not 0 < self.guidance_max_t <= 1:
            raise DuettoError("generation config: guidance_max_t must be in (0, 1]")


def read_generation(folder: Path) -> GenerationConfig:
    """A bundle folder's ``generation.json``, checked (`data.schema.load_json`, `config_from_dict`); a one-line
    `DuettoError` when the folder holds none or a bad one."""
    path = Path(folder) / GENERATION_NAME
    if not path.is_file():
        raise DuettoError(f"{folder}: not a Duetto model bundle (no {GENERATION_NAME})")
    return config_from_dict(GenerationConfig, load_json(path.read_bytes(), str(path)), str(path))


SAMPLING_SETTINGS = ("steps", "sampler", "shift", "video_scale", "audio_scale", "video_sync_scale", "audio_sync_scale",
                     "guidance_max_t")    # the GenerationConfig fields a run may override (Pipeline.with_sampling)


def save_bundle(folder, model, video_vae, audio_vae, config: GenerationConfig, dtype: torch.dtype | None = None) -> Path:
    """Write a bundle atomically (a crash leaves the old folder or none); ``dtype`` (e.g. ``torch.float16`` for a
    shipped bundle) stores the weights in that type."""
    folder = Path(folder)
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp / "joint", dtype)
        video_vae.save_pretrained(tmp / "video_vae", dtype)
        audio_vae.save_pretrained(tmp / "audio_vae", dtype)
        (tmp / GENERATION_NAME).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return folder


class Pipeline:
    def __init__(self, model, video_vae, audio_vae, text_encoder, config: GenerationConfig):
        self.model, self.video_vae, self.audio_vae = model.eval(), video_vae.eval(), audio_vae.eval()
        self.text_encoder, self.config = text_encoder, config
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.passes = None          # how a guided step's model passes run: in turn, or across ranks (joint.parallel)
        self.sequence = None        # a joint.sequence.SequenceParallel: each pass split by time across ranks

    def to(self, device=None, dtype: torch.dtype | None = None) -> Pipeline:
        """Run on ``device`` (the model and both VAEs move there) with the joint model's weights in ``dtype``
        (the sampler's latents and the VAEs stay float32). Noise is still drawn on the CPU, so a seed gives the
        same starting point on every device."""
        if device is not None:
            self.device = torch.device(device)
        if dtype is not None:
            self.dtype = dtype
        self.model.to(self.device, self.dtype)
        self.video_vae.to(self.device)
        self.audio_vae.to(self.device)
        return self

    def with_audio_vae(self, folder) -> Pipeline:
        """This pipeline decoding its sound with the audio autoencoder in ``folder`` instead of the bundle's: one
        trained on the same latents (same rate, channels, latent size and normalisation, e.g. a decoder fine-tuned
        with the encoder frozen: ``samples/vae-audio-tiny-pitch``). Anything else is a one-line `DuettoError`."""
        from duetto.data.autoencoder import load_autoencoder
        new, old = load_autoencoder(folder), self.audio_vae
        if not hasattr(new, "sample_rate"):
            raise DuettoError(f"{folder}: not an audio autoencoder")
        for name in ("sample_rate", "channels", "hop", "latent_channels"):
            if getattr(new, name) != getattr(old, name):
                raise DuettoError(f"{folder}: its {name} is {getattr(new, name)}, the bundle's latents need "
                                  f"{getattr(old, name)}")
        for name in ("latent_scale", "latent_shift"):
            if getattr(new.config, name, None) != getattr(old.config, name, None):
                raise DuettoError(f"{folder}: its latent normalisation ({name}) is not the bundle's: it was not "
                                  "trained on the same latents")
        return self._replaced(audio_vae=new.to(self.device))

    @classmethod
    def load(cls, folder, text_encoder=None) -> Pipeline:
        """Load a bundle (whole, or a delta on the bundle beside it: `joint.delta`); every missing or corrupt part is
        a one-line `DuettoError` naming it."""
        from .delta import delta_model, is_delta_bundle, read_delta
        from .model import JointDiT
        from .text import load_text_encoder
        folder = Path(folder)
        cfg = read_generation(folder)
        if is_delta_bundle(folder):          # the base bundle's parts, its joint weights moved by the delta
            base, delta = read_delta(folder)
            pipe = cls.load(base, text_encoder)
            pipe.model = delta_model(pipe.model, folder, delta)
            pipe.config = cfg
            return pipe
        model = JointDiT.from_pretrained(folder / "joint")
        vvae, avae = load_autoencoder(folder / "video_vae"), load_autoencoder(folder / "audio_vae")
        if not hasattr(vvae, "temporal_factor") or not hasattr(avae, "sample_rate"):
            raise DuettoError(f"{folder}: video_vae/ and audio_vae/ must hold a video and an audio autoencoder")
        enc = text_encoder or load_text_encoder(cfg.text_encoder)
        if enc.dim != model.config.text_dim:
            raise DuettoError(f"{folder}: the caption encoder gives {enc.dim}-d tokens, the model takes {model.config.text_dim}")
        return cls(model, vvae, avae, enc, cfg)

    @classmethod
    def untrained(cls, joint, config: GenerationConfig, video_preset: str = "tiny", audio_preset: str = "tiny") -> Pipeline:
        """Fresh weights: VAEs of the given presets and a `JointDiT` of config ``joint`` with its channels and
        caption width set to theirs and ``config.text_encoder``'s (what a bundle costs to run, or a start)."""
        from dataclasses import replace

        from duetto.audio.vae import AudioVAE
        from duetto.audio.vae import preset as audio_config
        from duetto.video.vae import VideoVAE
        from duetto.video.vae import preset as video_config

        from .model import JointDiT
        from .text import load_text_encoder
        vvae, avae = VideoVAE(video_config(video_preset)), AudioVAE(audio_config(audio_preset))
        enc = load_text_encoder(config.text_encoder)
        joint = replace(joint, video_channels=vvae.latent_channels, audio_channels=avae.latent_channels, text_dim=enc.dim)
        return cls(JointDiT(joint), vvae, avae, enc, config)

    def with_sampling(self, **settings) -> Pipeline:
        """This pipeline with some of its sampling settings (``steps``, ``sampler``, ``shift``, ``video_scale``,
        ``audio_scale``, ``video_sync_scale``, ``audio_sync_scale``, ``guidance_max_t``) replaced; ``None`` keeps
        the bundle's. Checked like the bundle's own."""
        given = {k: v for k, v in settings.items() if v is not None}
        unknown = set(given) - set(SAMPLING_SETTINGS)
        if unknown:
            raise DuettoError(f"not a sampling setting: {', '.join(sorted(unknown))}")
        return self._replaced(config=dataclasses.replace(self.config, **given))

    def _replaced(self, audio_vae=None, config: GenerationConfig | None = None) -> Pipeline:
        """A pipeline sharing this one's parts, device, dtype and pass runners, with ``audio_vae`` or ``config``
        in place of its own."""
        out = Pipeline(self.model, self.video_vae, audio_vae or self.audio_vae, self.text_encoder, config or self.config)
        out.device, out.dtype, out.passes, out.sequence = self.device, self.dtype, self.passes, self.sequence
        return out

    def save(self, folder, dtype: torch.dtype | None = None) -> Path:
        return save_bundle(folder, self.model, self.video_vae, self.audio_vae, self.config, dtype)

    # -- the clock --------------------------------------------------------------------------------------------
    def layout(self, seconds: float) -> dict:
        """Frames, samples and latent counts for a clip of about ``seconds`` (at least one whole video latent
        span), and the token times in seconds."""
        v, a = self.video_vae, self.audio_vae
        fps = v.config.fps
        n_video = v.latent_length(max(1, timebase.n_frames(seconds, fps)))
        frames = v.frame_count(n_video)
        samples = timebase.n_samples_for_frames(frames, fps, a.sample_rate)
        n_audio = a.latent_length(samples)
        return {"fps": fps, "frames": frames, "samples": samples, "n_video": n_video, "n_audio": n_audio,
                "video_times": torch.from_numpy(v.timestamps(n_video)), "audio_times": torch.from_numpy(a.timestamps(n_audio))}

    # -- generation ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, prompt: str, *, seconds: float | None = None, seed: int = 0, steps: int | None = None, n: int = 1,
                 video: np.ndarray | None = None, audio: np.ndarray | None = None, speech: str | None = None,
                 speech_voice: str = "en-us", voice: np.ndarray | None = None, music: np.ndarray | None = None,
                 callback=None, seeds: list[int] | None = None) -> list[Clip]:
        """``n`` clips for ``prompt``, clip ``i`` from seed ``seed + i`` (or from ``seeds[i]``: the clip a run of
        ``n = 1`` with that seed gives, to float rounding: a batch may sum in another order); ``video`` (uint8 ``[T, H, W, 3]`` at the VAE's fps and size) or ``audio``
        (float32 ``[C, N]`` at its rate) is kept and the other stream generated to match it. ``speech``: words
        to speak (phonemes in espeak-ng's ``speech_voice`` language); ``voice`` and ``music``: reference
        recordings ``[C, N]`` at the audio VAE's rate. Guidance drops every condition in its unconditional pass."""
        seeds = list(seeds) if seeds is not None else [seed + i for i in range(n)]
        lay = self.layout(seconds or self.config.seconds)
        zv, za = self.sample(prompt, lay, seeds, video=video, audio=audio, speech=speech, speech_voice=speech_voice,
                             voice=voice, music=music, steps=steps, callback=callback)
        n, avae = len(seeds), self.audio_vae
        from duetto.video.vae import to_uint8
        frames = to_uint8(self.video_vae.decode(zv))[:, : lay["frames"]]                  # [n, T, H, W, 3] uint8
        sound = avae.decode(za, length=lay["samples"]).clamp(-1, 1).float()              # [n, C, N]
        if video is not None:                                                            # the given stream, as given
            frames = torch.from_numpy(np.ascontiguousarray(video[: lay["frames"]]))[None].expand(n, -1, -1, -1, -1)
        if audio is not None:
            sound = torch.from_numpy(np.ascontiguousarray(audio[:, : lay["samples"]]))[None].expand(n, -1, -1)
        frames, sound = frames.cpu(), sound.cpu()
        return [Clip(np.ascontiguousarray(frames[i].numpy()), np.ascontiguousarray(sound[i].numpy(), dtype=np.float32),
                     lay["fps"], avae.sample_rate, metadata={"caption": prompt, "seed": s, "index": i})
                for i, s in enumerate(seeds)]

    @torch.no_grad()
    def sample(self, prompt: str, lay: dict, seeds: list[int], *, video=None, audio=None, speech=None,
               speech_voice: str = "en-us", voice=None, music=None, steps: int | None = None,
               callback=None, known=None, offset: float | None = None,
               tell_known: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The latents ``(video [n, Cv, T, h, w], audio [n, Ca, L])`` of `generate` (``lay``: `layout`), one clip per
        seed, its noise drawn on the CPU from its own seed (video, then audio). ``known``: ``(video latents, video
        mask [T], audio latents, audio mask [L])`` kept where the masks are true (`sampling.Known`); ``offset``: the
        window starts this many seconds into a longer clip (speech and music conditions follow the clip's clock);
        ``tell_known`` False: a model trained with known latents is not told which they are (the replacement method)."""
        cfg, m, dev, n = self.config, self.model, self.device, len(seeds)
        h = cfg.size // 8
        vs, as_ = [], []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            vs.append(torch.randn(1, m.config.video_channels, lay["n_video"], h, h, generator=g))
            as_.append(torch.randn(1, m.config.audio_channels, lay["n_audio"], generator=g))
        noise = torch.cat(vs).to(dev), torch.cat(as_).to(dev)
        given_v = None if video is None else \
            self.video_vae.encode(_video_tensor(video, lay["frames"], cfg.size).to(dev)).expand(n, -1, -1, -1, -1)
        given_a = None if audio is None else \
            self.audio_vae.encode(_audio_tensor(audio, lay["samples"], self.audio_vae.channels).to(dev)).expand(n, -1, -1)
        given = self.condition_inputs(prompt, n, lay["audio_times"].numpy(), speech, speech_voice, voice, music,
                                      offset=offset)
        if known is not None:                     # a model trained with known latents is told which they are
            kv, mv, ka, ma = known
            tell = m.config.known_prefix and tell_known
            known = Known(kv.to(dev), mv.to(dev), ka.to(dev), ma.to(dev), noise, clean=tell)
            if tell:
                given.update(known.masks(n))
        fn = self.velocity(given, lay["video_times"], lay["audio_times"])
        return SAMPLERS[cfg.sampler](fn, noise, schedule(steps or cfg.steps, cfg.shift), given_video=given_v,
                                     given_audio=given_a, callback=callback, known=known)

    def velocity(self, given: dict, video_times: torch.Tensor, audio_times: torch.Tensor):
        """The bundle's sampling velocity (`sampling.ModelFn`) for conditions ``given`` (`condition_inputs`): the
        model's, guided as ``generation.json`` says (classifier-free against every condition dropped, cross-modal
        against the streams apart, only at flow times up to ``guidance_max_t``). Latents in and velocities out are
        float32 on the pipeline's device; the model runs in its dtype."""
        cfg, m, dev, dt = self.config, self.model, self.device, self.dtype
        vt, at = video_times.to(dev), audio_times.to(dev)

        def place(cond: dict) -> dict:
            return {k: (x.to(dev, dt) if x.is_floating_point() else x.to(dev)) for k, x in cond.items()}
        on, free = place(given), place(unconditional(given))     # every condition absent, as training drops them

        seq = {} if self.sequence is None else {"sequence": self.sequence}

        def call(v, a, tv, ta, cond, **kw):
            pv, pa = m(v.to(dt), a.to(dt), tv, ta, vt, at, **cond, **kw, **seq)
            return pv.float(), pa.float()

        def cond(v, a, tv, ta):
            return call(v, a, tv, ta, on)

        def uncond(v, a, tv, ta):
            return call(v, a, tv, ta, free)

        def apart(v, a, tv, ta):
            return call(v, a, tv, ta, on, cross_keep=torch.zeros(len(v), dtype=torch.bool, device=dev))
        sync = (cfg.video_sync_scale, cfg.audio_sync_scale) if len(m.cross) else (0.0, 0.0)  # no blocks: apart == cond
        return guided(cond, uncond, cfg.video_scale, cfg.audio_scale, apart, *sync, max_t=cfg.guidance_max_t,
                      run=self.passes)

    def condition_inputs(self, prompt: str, n: int, audio_times: np.ndarray, speech=None, speech_voice: str = "en-us",
                         voice=None, music=None, offset: float | None = None) -> dict:
        """`JointDiT.forward`'s keyword inputs for ``n`` clips of ``prompt``: the caption's ``text``/``text_mask`` and
        the speech, voice and music conditions that are given (see `joint.conditioning`). ``offset``: a window that
        many seconds into a longer clip: the words planned over the whole clip whose middle falls in the window,
        placed on its clock, and the music reference from that time on."""
        from . import conditioning as C
        # the window's span: audio latent i sits at (i + 0.5) / rate, so the first and last times add up to its length
        window = None if offset is None else (float(offset), float(offset) + float(audio_times[-1] + audio_times[0]))
        audio_times = audio_times if offset is None else audio_times + offset
        tokens, mask = self.text_encoder([prompt] * n)
        cfg, sr, out = self.model.config, self.audio_vae.sample_rate, {"text": tokens, "text_mask": mask}
        for name, given, dim in (("speech", speech, cfg.speech_vocab), ("voice", voice, cfg.voice_dim),
                                 ("music", music, cfg.music_dim)):
            if given is not None and not dim:
                raise DuettoError(f"this model was trained without {name} conditioning")
        if speech is not None:
            words = C.planned_words(speech, speech_voice) if cfg.speech_track or window else None
            ids = C.phoneme_ids(speech, speech_voice) if window is None else C.window_ids(words, *window)
            out["speech"] = torch.from_numpy(C.pad_ids([ids]))[0][None].expand(n, -1)   # no word here: padding
            if cfg.speech_track:                 # when each phoneme falls: espeak-ng's timing of the words
                track = C.phoneme_track(words, audio_times, silence=cfg.track_silence)
                out["speech_track"] = torch.from_numpy(track)[None].expand(n, -1)
        if voice is not None:
            out["voice"] = torch.from_numpy(C.voice_embedding(voice, sr, cfg.voice_dim))[None].expand(n, -1)
        if music is not None:
            out["music"] = torch.from_numpy(C.music_features(music, sr, audio_times))[None].expand(n, -1, -1)
        return out


def _video_tensor(video: np.ndarray, frames: int, size: int) -> torch.Tensor:
    from duetto.video.vae import to_model_range
    if video.ndim != 4 or video.shape[1:] != (size, size, 3) or len(video) < frames:
        raise DuettoError(f"the given video must hold at least {frames} frames of {size}x{size}, got {video.shape}")
    return to_model_range(torch.from_numpy(np.ascontiguousarray(video[None, :frames])))


def _audio_tensor(audio: np.ndarray, samples: int, channels: int) -> torch.Tensor:
    if audio.ndim != 2 or audio.shape[0] != channels or audio.shape[1] < samples:
        raise DuettoError(f"the given audio must hold at least {samples} samples of {channels} channel(s), got {audio.shape}")
    return torch.from_numpy(np.ascontiguousarray(audio[None, :, :samples], dtype=np.float32))
