"""Training task for the joint model: flow matching on whole latent clips read from latent shards.

Every clip must have the same latent shapes (the synthetic shards are all one length); their token times
come from the shards (the VAEs' ``timestamps``), never from indices. Captions are embedded once by the text
encoder; each is dropped with ``caption_dropout`` (for guidance). The other conditions: the words of speech
clips (their transcript as phoneme ids, `joint.conditioning`), and the voice embedding and music features that
`duetto-data encode` stores beside the latents; each is dropped per clip with ``condition_dropout`` (a dropped
or missing condition is zeros, which the model takes as absent). A batch depends only on ``(seed, step)`` and the process's place in the job.

With ``crop_seconds``, each batch is one window of that many seconds' worth of whole video latents at a random
place, with the audio latents whose times fall inside it: shorter sequences, cheaper updates. The window never
starts at video latent 0, which stands for a single frame in a causal VAE (the others stand for ``k``). A speech
clip's words are then those spoken in the window (by the word times of its metadata), not its whole transcript:
the model learns to speak what it is given, as generation asks of it.

With ``family_weights`` (``{"speech": 2}``), clips are drawn in proportion to their family's weight (1 for a family
not named, by ``meta["family"]``) instead of uniformly: a family the model does badly on gets more updates.
"""
from __future__ import annotations

import numpy as np
import torch

from duetto.data.errors import DuettoError
from duetto.joint.flow import FlowConfig, add_noise, flow_loss


class JointTask:
    def __init__(self, model, clips: list[dict], held_out: list[dict], text_encoder, *, batch_size: int = 8,
                 flow: FlowConfig = FlowConfig(), caption_dropout: float = 0.1, condition_dropout: float = 0.3,
                 seed: int = 0, crop_seconds: float | None = None, family_weights: dict[str, float] | None = None,
                 drop_all: float = 0.0, caption_words_dropout: float = 0.0, caption_gender_dropout: float = 0.0):
        if not clips:
            raise DuettoError("no latent clips to train on")
        for name, p in (("drop_all", drop_all), ("caption_words_dropout", caption_words_dropout),
                        ("caption_gender_dropout", caption_gender_dropout)):
            if not 0 <= p <= 1:
                raise DuettoError(f"{name} must be in [0, 1], not {p}")
        self.draw = _draw_probabilities(clips, family_weights) if family_weights else None
        self.model, self.flow, self.batch_size, self.seed = model, flow, batch_size, seed
        self.caption_dropout, self.condition_dropout = caption_dropout, condition_dropout
        self.drop_all, self.caption_words_dropout = drop_all, caption_words_dropout
        self.caption_gender_dropout = caption_gender_dropout
        track, silence = model.config.speech_track, model.config.track_silence
        self.train = stack_clips(clips, text_encoder, without_words=caption_words_dropout > 0, track=track,
                                 silence=silence, without_gender=caption_gender_dropout > 0)
        self.held = stack_clips(held_out, text_encoder, track=track, silence=silence) if held_out else None
        self.items_per_batch = batch_size
        self.crop = None if crop_seconds is None else self._latents(crop_seconds)
        if self.crop is not None:
            from duetto.joint.conditioning import timed_word_ids
            self.words = [timed_word_ids(c["meta"]) for c in clips]

    def _latents(self, seconds: float) -> int:
        """``seconds`` as a whole number (at least one) of the clips' video latents, checked to fit."""
        vt = self.train["video_times"]
        if not seconds > 0:
            raise DuettoError(f"--crop-seconds must be positive, not {seconds}")
        if len(vt) < 2:
            raise DuettoError("--crop-seconds needs clips of more than one video latent")
        n = max(1, int(round(seconds / float(vt[-1] - vt[-2]))))
        if n > len(vt) - 1:
            raise DuettoError(f"a crop of {n} video latents does not fit clips of {len(vt)} (at most {len(vt) - 1})")
        return n

    def window(self, rng) -> tuple[slice, slice]:
        """Video and audio latent slices of one training window (everything without ``crop``)."""
        vt, at = self.train["video_times"], self.train["audio_times"]
        if self.crop is None:
            return slice(None), slice(None)
        n = self.crop
        i = int(rng.integers(1, len(vt) - n + 1))
        dv, da = float(vt[-1] - vt[-2]), float(at[1] - at[0])
        lo, _ = self.seconds(slice(i, i + n))
        j = int(torch.searchsorted(at, torch.tensor(lo, dtype=at.dtype)))
        m = min(int(round(n * dv / da)), len(at) - j)
        m -= m % self.model.config.audio_patch
        return slice(i, i + n), slice(j, j + m)

    def seconds(self, sv: slice) -> tuple[float, float]:
        """``[start, end)`` in seconds of the video latents ``sv`` (after the first, each latent spans ``[t - d/2,
        t + d/2)`` around its time ``t``, ``d`` the latent spacing)."""
        vt = self.train["video_times"]
        half = float(vt[-1] - vt[-2]) / 2
        return float(vt[sv.start]) - half, float(vt[sv.stop - 1]) + half

    def speech(self, idx: torch.Tensor, sv: slice) -> torch.Tensor:
        """Phoneme ids ``[B, Ls]`` of clips ``idx``: their whole transcripts, or with ``crop`` the words spoken in
        the video window ``sv`` (a clip without word times keeps its whole transcript)."""
        if self.crop is None:
            return self.train["speech"][idx]
        from duetto.joint.conditioning import pad_ids, window_ids
        lo, hi = self.seconds(sv)
        rows = [window_ids(self.words[i], lo, hi) if self.words[i] else self.train["speech"][i].numpy()
                for i in idx.tolist()]
        return torch.from_numpy(pad_ids([r[r > 0] for r in rows]))

    def batch(self, step: int) -> dict:
        """The clips, windows, dropped conditions and noise seed of update ``step`` (a function of seed and step).
        Conditions are dropped per clip by `joint.conditions.drop`, as guidance's unconditional pass drops them:
        the caption with ``caption_dropout``, speech, voice and music each with ``condition_dropout``, all of them
        together with ``drop_all`` (the pass guidance subtracts, which independent dropouts rarely draw); with
        ``caption_words_dropout`` a speech clip's caption loses its quoted words, so only the phonemes say them;
        with ``caption_gender_dropout`` (where the words stayed) its speaker's gender, so only the voice says it.
        Under several processes each takes its slice of the job's draws (`duetto.data.draw`): distinct clips; the
        crop window is the job's; the noise seed is offset by the process index."""
        from duetto.data.draw import draw_clips, mine, process
        from duetto.joint.conditions import drop
        rank, world = process()
        rng = np.random.default_rng([self.seed, step])
        n, b = len(self.train["video"]), self.batch_size
        total = b * world                          # the whole job's draws; this process takes its slice
        idx = draw_clips(rng, n, total, self.draw)
        keep = rng.random(total) >= self.caption_dropout
        k_speech, k_voice, k_music = rng.random((3, total)) >= self.condition_dropout
        d = self.train
        sv, sa = self.window(rng)
        noise_seed = int(rng.integers(0, 2 ** 62)) + rank
        everything = rng.random(total) < self.drop_all   # drawn after the rest: older runs keep theirs
        no_words = rng.random(total) < self.caption_words_dropout
        no_gender = rng.random(total) < self.caption_gender_dropout
        idx, keep, k_speech, k_voice, k_music, everything, no_words, no_gender = (
            torch.from_numpy(np.ascontiguousarray(mine(x, b, rank)))
            for x in (idx, keep, k_speech, k_voice, k_music, everything, no_words, no_gender))
        text, mask = d["text"][idx], d["text_mask"][idx]
        if "text_no_words" in d:
            text = torch.where(no_words[:, None, None], d["text_no_words"][idx], text)
            mask = torch.where(no_words[:, None], d["text_no_words_mask"][idx], mask)
        if "text_no_gender" in d:
            swap = no_gender & ~no_words if "text_no_words" in d else no_gender
            text = torch.where(swap[:, None, None], d["text_no_gender"][idx], text)
            mask = torch.where(swap[:, None], d["text_no_gender_mask"][idx], mask)
        cond = {"text": text, "text_mask": mask, "speech": self.speech(idx, sv), "voice": d["voice"][idx],
                "music": d["music"][idx][:, sa]}
        if "speech_track" in d:
            cond["speech_track"] = d["speech_track"][idx][:, sa]
        cond = drop(cond,
                    {"caption": keep & ~everything, "speech": k_speech & ~everything, "voice": k_voice & ~everything,
                     "music": k_music & ~everything})
        return {"video": d["video"][idx][:, :, sv], "audio": d["audio"][idx][:, :, sa],
                "video_times": d["video_times"][sv], "audio_times": d["audio_times"][sa], **cond,
                "noise_seed": noise_seed}

    def loss(self, model, batch, step):
        return flow_loss(model, batch["video"], batch["audio"], batch["video_times"].to(batch["video"].device),
                         batch["audio_times"].to(batch["video"].device), cfg=self.flow, text=batch["text"],
                         text_mask=batch["text_mask"], generator=torch.Generator().manual_seed(batch["noise_seed"]),
                         **_conditions(model, batch))

    @torch.no_grad()
    def evaluate(self, model, step) -> dict:
        """Velocity error on the held-out clips at flow times 0.25, 0.5 and 0.75 (both streams noised alike,
        fixed noise), per stream."""
        if self.held is None:
            return {}
        d, out = self.held, {"video": [], "audio": []}
        device = next(model.parameters()).device
        g = torch.Generator().manual_seed(1234)
        for t in (0.25, 0.5, 0.75):
            for i in range(0, len(d["video"]), 8):
                v, a = d["video"][i:i + 8].to(device), d["audio"][i:i + 8].to(device)
                nv, na = torch.randn(v.shape, generator=g).to(v), torch.randn(a.shape, generator=g).to(a)
                tt = torch.full((len(v),), t, device=device)
                cond = _conditions(model, {k: d[k][i:i + 8].to(device) for k in ("speech", "voice", "music", "speech_track")
                                           if k in d})
                pv, pa = model(add_noise(v, nv, tt), add_noise(a, na, tt), tt, tt, d["video_times"].to(device),
                               d["audio_times"].to(device), d["text"][i:i + 8].to(device), d["text_mask"][i:i + 8].to(device),
                               **cond)
                out["video"].append(((pv - (nv - v)) ** 2).mean().item())
                out["audio"].append(((pa - (na - a)) ** 2).mean().item())
        return {f"flow_{k}": float(np.mean(v)) for k, v in out.items()}


def _draw_probabilities(clips: list[dict], weights: dict[str, float]) -> np.ndarray:
    """Each clip's chance of being drawn: its family's weight (1 when not named), normalised."""
    families = [(c.get("meta") or {}).get("family") for c in clips]
    missing = sorted(set(weights) - set(families))
    if missing:
        raise DuettoError(f"no training clips of family {', '.join(missing)} to weigh "
                          f"(there are: {', '.join(sorted({str(f) for f in families}))})")
    if any(not 0 <= w < float("inf") for w in weights.values()):
        raise DuettoError("family weights must be finite numbers >= 0")
    w = np.array([weights.get(f, 1.0) for f in families], dtype=np.float64)
    if not w.sum() > 0:
        raise DuettoError("family weights leave no clip to draw")
    return w / w.sum()


def stack_clips(clips: list[dict], text_encoder, without_words: bool = False, track: bool = False,
                silence: bool = False, without_gender: bool = False) -> dict:
    """Clips of one shape -> stacked tensors, shared token times and embedded captions (with ``without_words``
    also each caption without its quoted spoken words, `joint.conditioning.caption_without_words`, padded alike;
    with ``without_gender`` each without its speaker's gender, `caption_without_gender`;
    with ``track`` each clip's phonemes on the audio latents' clock from its word times, `phoneme_track`)."""
    first = clips[0]
    for c in clips[1:]:
        if c["video"].shape != first["video"].shape or c["audio"].shape != first["audio"].shape:
            raise DuettoError(f"latent clips differ in shape ({c['key']}: {tuple(c['video'].shape)}, "
                              f"{tuple(c['audio'].shape)} vs {tuple(first['video'].shape)}, {tuple(first['audio'].shape)}); "
                              "encode clips of one length")
        if not (torch.equal(c["video_times"], first["video_times"]) and torch.equal(c["audio_times"], first["audio_times"])):
            raise DuettoError(f"{c['key']}: latent timestamps differ from {first['key']}'s")
    from duetto.joint.conditioning import MUSIC_DIM, caption_without_words, clip_words, pad_ids
    captions = [c["caption"] for c in clips]
    plain = [caption_without_words(c["caption"], clip_words(c["meta"])[0]) for c in clips] if without_words else []
    text, mask = text_encoder(captions + plain if plain != captions else captions)
    n_audio = first["audio"].shape[1]
    extra = {}
    if len(text) > len(clips):
        extra = {"text_no_words": text[len(clips):].float(), "text_no_words_mask": mask[len(clips):].bool()}
        text, mask = text[: len(clips)], mask[: len(clips)]
    if without_gender:
        from duetto.joint.conditioning import caption_without_gender
        neutral, neutral_mask = text_encoder([caption_without_gender(c) for c in captions])
        width = max(text.shape[1], neutral.shape[1])       # one token length for all variants (padding masked)
        text, mask, neutral, neutral_mask = (_pad_tokens(x, width) for x in (text, mask, neutral, neutral_mask))
        extra = {k: _pad_tokens(v, width) for k, v in extra.items()}
        extra.update({"text_no_gender": neutral.float(), "text_no_gender_mask": neutral_mask.bool()})
    if track:
        from duetto.joint.conditioning import phoneme_track, timed_word_ids
        at = first["audio_times"].double().numpy()
        extra["speech_track"] = torch.from_numpy(np.stack([phoneme_track(timed_word_ids(c["meta"]), at, silence)
                                                           for c in clips]))
    return {**extra, "video": torch.stack([c["video"] for c in clips]), "audio": torch.stack([c["audio"] for c in clips]),
            "video_times": first["video_times"].double(), "audio_times": first["audio_times"].double(),
            "text": text.float(), "text_mask": mask.bool(),
            "speech": torch.from_numpy(pad_ids([_phonemes(c["meta"]) for c in clips])),
            "voice": _voices(clips),
            "music": torch.stack([c.get("music") if c.get("music") is not None else torch.zeros(n_audio, MUSIC_DIM)
                                  for c in clips])}


def _pad_tokens(x: torch.Tensor, width: int) -> torch.Tensor:
    """Tokens ``[B, L, D]`` or their mask ``[B, L]`` padded (zeros, False) to ``width`` tokens."""
    return torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[1]) if x.ndim == 3 else (0, width - x.shape[1]))


def _voices(clips) -> torch.Tensor:
    """``[B, D]``: the clips' voice embeddings, zeros where a clip has none (silence); D is what the latents were
    encoded with (`VOICE_DIM`, or 64 before the pitch joined it), one D for all."""
    from duetto.joint.conditioning import VOICE_DIM
    dims = {len(c["voice"]) for c in clips if c.get("voice") is not None}
    if len(dims) > 1:
        raise DuettoError(f"latents encoded with voice embeddings of {sorted(dims)} values: encode them all again")
    d = dims.pop() if dims else VOICE_DIM
    return torch.stack([c["voice"] if c.get("voice") is not None else torch.zeros(d) for c in clips])


def _phonemes(meta: dict):
    """Phoneme ids of a clip's transcript (``meta["speech"]``), in its espeak-ng language; empty without one."""
    from duetto.joint.conditioning import clip_words, phoneme_ids
    words, language = clip_words(meta)
    return phoneme_ids(words, language) if words else np.zeros(0, np.int64)


def _conditions(model, batch: dict) -> dict:
    """The conditions the model was built for, from a batch (all-zero rows: dropped)."""
    return taken_conditions(getattr(model, "config", None) or model.module.config, batch)


def taken_conditions(cfg, batch: dict) -> dict:
    """The speech, voice, music and timed-speech conditions of ``batch`` that a model of ``cfg`` takes (a model
    without voice conditioning gets no voice)."""
    out = {}
    if cfg.speech_vocab and batch["speech"].shape[1]:              # all-padding rows are masked out
        out["speech"] = batch["speech"]
    if cfg.voice_dim:
        v = batch["voice"]
        if v.shape[-1] < cfg.voice_dim:
            raise DuettoError(f"the latents' voice embeddings have {v.shape[-1]} values and this model takes "
                              f"{cfg.voice_dim} (with the voice's pitch): encode them again (duetto-data encode)")
        out["voice"] = v[..., : cfg.voice_dim]      # a model from before the pitch joined it takes the spectrum
    if cfg.music_dim:
        out["music"] = batch["music"]
    if cfg.speech_track and "speech_track" in batch:
        out["speech_track"] = batch["speech_track"]
    return out
