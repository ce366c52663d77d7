"""`duetto-train eval`: generate clips with a bundle and score them, per family.

Four figures, each from the generated media alone (no ground truth exists for a generated clip):

- **sync**: the project's sync checker (`duetto.align.measure_sync`) on each clip; a clip counts as in sync
  when the measured offset is within one frame (a no-signal verdict counts against it). Reported over the
  clips with visual events (``sync_within_1_frame``) and over all clips (``sync_all_clips``: for speech, whose
  synthetic scenes have no flash or impact, this is the figure; the checker then uses the mouth), and over the
  clips in which the checker found a face and followed the mouth (``with_face``, ``sync_with_face``): the lip
  timing on its own, apart from whether the picture shows a face at all;
- **event timing**: audio onsets (`duetto.data.events.audio_onsets`) against visual events
  (`duetto.data.events.visual_events`, frame ``k`` at ``k / fps`` seconds by the time base): precision is
  the share of onsets within one frame of a visual event, recall the share of visual events within one
  frame of an onset;
- **Fréchet distance in latent space**: per clip, the mean and standard deviation over time (and space) of
  each latent channel of the bundle's own VAEs; the Fréchet distance between the Gaussians fitted to the
  generated clips and to reference clips (held-out synthetic ones). Lower is closer;
- **flicker**: the typical pixel's change of luma (0-255) from one frame to the next (`flicker`), the mean
  over clips, beside the same for the reference clips. The synthetic scenes hold still except where something
  moves or flashes, so a picture that shimmers all over (speckle redrawn every frame) shows here even when
  its latent statistics look right.

Two more say whether the clip does what it was told (each has its ceiling on ground-truth clips, as they are and
through the bundle's VAEs: ``python bench/eval_ceiling.py --clips HELD_OUT/*``):

- **caption colour** (``colour_right``): the colour the caption gives the main subject (a speaker's shirt, an
  instrument, the objects that fall), read where the synthetic scenes draw it, beside ``colour_chance``, what a
  uniform guess among the 12 colours scores;
- **words** (``phone_error``): the phonemes spoken, as a small recognizer trained on the synthetic speech
  (`duetto.train.phones`) hears them, against those of the words asked for (phoneme error rate, pooled over the
  clips asked to speak), and ``speech_length_ratio``: how long the clip speaks over how long espeak-ng takes to
  say the words (median; a clip that babbles for its whole length reads far above 1);
- **voice** (``voice_closer``, ``f0_within_15``; prompts with a voice reference, e.g. ``--voices LOW HIGH``): the
  share of clips whose voice is closer (speaker embedding) to their own reference than to the other, and whose
  median F0 is within 15 % of their reference's; ``f0_found``: the share with a median F0 at all (an output that
  does not voice fails the F0 figure whatever its pitch).

With ``given="video"`` (``"audio"``) the picture (sound) of reference clips is kept and the other stream
generated to match it: the video-to-audio and audio-to-video figures.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from duetto.data.errors import DuettoError

FAMILY_ALL = "all"


@dataclass(frozen=True)
class Prompt:
    text: str
    family: str = FAMILY_ALL
    seed: int = 0
    video: np.ndarray | None = None      # uint8 [T, H, W, 3]: a given picture (video -> audio)
    audio: np.ndarray | None = None      # float32 [C, N]: a given sound (audio -> video)
    key: str = ""
    speech: str | None = None            # words to speak (duetto generate --speech)
    speech_voice: str = "en-us"          # their espeak-ng language
    voice: np.ndarray | None = None      # float32 [C, N]: a voice reference (duetto generate --voice)
    voice_other: np.ndarray | None = None  # another voice, far from it: is the output closer to its own?
    request: str | None = None           # the plain request ``text`` was rewritten from (eval --rewrite)


def read_prompts(path) -> list[Prompt]:
    """Prompts from a file: JSON lines ``{"prompt": ..., "family": ..., "seed": ..., "speech": ...}`` (all but
    the prompt optional) or plain lines of text; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise DuettoError(f"{path}: no such prompts file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DuettoError(f"{path}: cannot read prompts ({e})") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                d = json.loads(line)
                p = Prompt(str(d["prompt"]), str(d.get("family", FAMILY_ALL)), int(d.get("seed", len(out))),
                           speech=str(d["speech"]) if d.get("speech") else None)
            except (ValueError, KeyError, TypeError) as e:
                raise DuettoError(f"{path}:{n}: not a prompt line ({e.__class__.__name__}: {e})") from None
        else:
            p = Prompt(line, FAMILY_ALL, len(out))
        if not p.text.strip():
            raise DuettoError(f"{path}:{n}: empty prompt")
        out.append(p)
    if not out:
        raise DuettoError(f"{path}: no prompts")
    return out


def prompts_from_bank(bank, given: str = "none", n: int | None = None) -> list[Prompt]:
    """One prompt per clip of a `duetto.data.bank.Bank`: its caption and family, seed = its index, and its
    transcript as the words to speak (as in training); with ``given`` "video" or "audio" that stream of the
    clip is kept."""
    from duetto.joint.conditioning import clip_words
    out = []
    for i, (key, meta) in enumerate(zip(bank.keys, bank.metas)):
        if n is not None and len(out) >= n:
            break
        caption = (meta or {}).get("caption") or ""
        if not caption.strip():
            continue
        words, language = clip_words(meta)
        out.append(Prompt(caption, (meta or {}).get("family", FAMILY_ALL), i,
                          bank.videos[i] if given == "video" else None,
                          bank.audios[i] if given == "audio" else None, key,
                          words or None, language))
    if not out:
        raise DuettoError("no captioned clips to take prompts from")
    return out


def spread(prompts: list, n: int) -> list:
    """At most ``n`` of ``prompts``, taken in turn from each family (in the order the families first come), each
    family's in its own order: ``--n 6`` over impacts, music and speech shards scores two of each, not six impacts.
    A prompt keeps its seed, so its clip is the one a full evaluation makes."""
    by: dict[str, list] = {}
    for p in prompts:
        by.setdefault(p.family, []).append(p)
    out, queues = [], [list(v) for v in by.values()]
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    order = {id(p): i for i, p in enumerate(prompts)}
    return sorted(out, key=lambda p: order[id(p)])


def event_timing(clip, family: str) -> dict:
    """Audio onsets against visual events within one frame: counts for precision and recall."""
    from duetto.data.events import QUIET_BEFORE, VISUAL_MODE, audio_onsets, visual_events
    tol = 1.0 / clip.fps
    visual = visual_events(clip.video, VISUAL_MODE.get(family, "flash")) / clip.fps      # frame k at k / fps
    onsets = audio_onsets(clip.audio, clip.sample_rate, quiet_before=QUIET_BEFORE.get(family, 0.0))

    def near(xs, ys):
        return int(sum(bool(len(ys)) and float(np.min(np.abs(ys - x))) <= tol + 1e-9 for x in xs))
    return {"visual_events": int(len(visual)), "audio_onsets": int(len(onsets)),
            "onsets_on_events": near(onsets, visual), "events_with_onsets": near(visual, onsets)}


@torch.no_grad()
def latent_features(pipe, clip) -> np.ndarray:
    """``[2 * (Cv + Ca)]``: per latent channel of the bundle's VAEs, the mean and std over time (and space)."""
    from duetto.joint.pipeline import _audio_tensor, _video_tensor
    vvae, dev = pipe.video_vae, getattr(pipe, "device", "cpu")
    frames = vvae.frame_count((len(clip.video) - 1) // vvae.temporal_factor + 1)                # whole latents
    zv = vvae.encode(_video_tensor(clip.video, frames, pipe.config.size).to(dev))[0]          # [C, T, h, w]
    za = pipe.audio_vae.encode(_audio_tensor(clip.audio, clip.audio.shape[1], pipe.audio_vae.channels).to(dev))[0]
    zv, za = zv.flatten(1).cpu(), za.cpu()                                                 # [C, L]
    return torch.cat([zv.mean(1), zv.std(1), za.mean(1), za.std(1)]).double().numpy()


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a [n, d]`` and ``b [m, d]``."""
    from scipy import linalg
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():          # few clips in many dimensions: singular covariances are expected
        warnings.simplefilter("ignore")
        root = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def flicker(video: np.ndarray) -> float:
    """The median over pixels and frame pairs of |change of luma| (0-255) between consecutive frames of
    ``video [T, H, W, 3]``: what a typical pixel does, so the few that belong to a moving object or a flash do
    not count, and a still background gives 0."""
    from duetto.data.clip import luma
    if len(video) < 2:
        return 0.0
    return float(np.median(np.abs(np.diff(luma(video), axis=0))))


def score(clip, family: str, caption: str | None = None, speech: str | None = None, voice: np.ndarray | None = None,
          voice_other: np.ndarray | None = None, language: str = "en-us") -> dict:
    """Sync and event timing of one generated clip; with its ``caption``, whether the picture shows the subject's
    colour the caption asks for (`caption_attributes`); with the ``speech`` it was asked to say, the words
    recognised in its sound and their errors (`spoken_words`); with a ``voice`` reference, how close its voice
    is to it (`voice_match`)."""
    from duetto.align import measure_sync
    ev = event_timing(clip, family)
    rep = measure_sync(clip)
    frame_ms = 1000.0 / clip.fps
    in_sync = rep.verdict != "no-signal" and rep.offset_ms is not None and abs(rep.offset_ms) <= frame_ms + 1e-6
    row = {**ev, "offset_ms": rep.offset_ms, "confidence": rep.confidence, "sync_verdict": rep.verdict,
           "sync_method": rep.method, "in_sync_1_frame": bool(in_sync), "flicker": round(flicker(clip.video), 3)}
    if caption:
        row.update(caption_attributes(clip, caption))
    if speech:
        row.update(spoken_words(clip, speech, language))
    if voice is not None:
        row.update(voice_match(clip, voice, voice_other))
    return row


def voice_match(clip, voice: np.ndarray, other: np.ndarray | None = None) -> dict:
    """How close the clip's voice is to the reference ``voice`` (``[C, N]`` at the clip's rate): the cosine of
    speaker embeddings (`duetto.audio.speaker`, resemblyzer's encoder), whether it is closer to its own reference
    than to ``other`` (another voice), and the ratio of median F0s (clip / reference)."""
    from duetto.audio import speaker
    sr = clip.sample_rate
    out_e, f0_out = speaker.embed(clip.audio, sr), speaker.median_f0(clip.audio, sr)
    ref_e, f0_ref = _reference_voice(voice, sr)
    row = {"voice_similarity": round(speaker.similarity(out_e, ref_e), 4),
           "f0_ratio": round(f0_out / f0_ref, 4) if np.isfinite(f0_out) and np.isfinite(f0_ref) else None}
    if other is not None:
        sim_other = speaker.similarity(out_e, _reference_voice(other, sr)[0])
        row["voice_other_similarity"] = round(sim_other, 4)
        row["voice_closer"] = bool(row["voice_similarity"] > sim_other)
    return row


_REFERENCES: dict[tuple[bytes, int], tuple[np.ndarray, float]] = {}


def _reference_voice(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """A voice reference's speaker embedding and median F0, computed once per reference (every speech prompt of an
    eval shares the same two)."""
    import hashlib

    from duetto.audio import speaker
    key = (hashlib.sha256(np.ascontiguousarray(audio, np.float32).tobytes()).digest(), sample_rate)
    if key not in _REFERENCES:
        _REFERENCES[key] = (speaker.embed(audio, sample_rate), speaker.median_f0(audio, sample_rate))
    return _REFERENCES[key]


def caption_attributes(clip, caption: str) -> dict:
    """The colour the caption asks of its main subject, the colour read where the scenes draw it
    (`duetto.data.synth.attributes`), whether it is right and what guessing would score; ``{}`` for a caption
    that names no colour the reader knows."""
    from duetto.data.synth.attributes import caption_subject, chance, colour_right, subject_colour
    subject = caption_subject(caption)
    if subject is None:
        return {}
    got = subject_colour(clip.video, subject)
    return {"colour_asked": subject["colour"], "colour_seen": got, "colour_right": colour_right(got, subject),
            "colour_chance": chance(subject)}


def caption_family(caption: str) -> str | None:
    """The family a caption reads as in the synthetic scenes' style (`data.synth.attributes.caption_subject`), or
    ``None``: what a model trained on those captions can be expected to make of it."""
    from duetto.data.synth.attributes import caption_subject
    s = caption_subject(caption)
    return s["family"] if s else None


def spoken_words(clip, words: str, language: str = "en-us") -> dict:
    """The phoneme symbols the shipped recognizer (`duetto.train.phones`, trained on the synthetic speech) hears in
    the clip's sound, and their errors against those of ``words`` as espeak-ng says them in ``language``; and how
    long the clip's speech lasts (`speech_seconds`) against how long espeak-ng takes to say the words."""
    from duetto.joint.conditioning import planned_words
    from duetto.train.phones import default_recognizer, phoneme_error, reference_symbols
    asked = reference_symbols(words, language)
    heard = default_recognizer().transcribe(clip.audio, clip.sample_rate)
    errors, n = phoneme_error(asked, heard)
    planned = planned_words(words, language)
    return {"phones_asked": n, "phones_heard": heard, "phone_errors": errors,
            "speech_seconds": speech_seconds(clip.audio, clip.sample_rate),
            "words_seconds": round(planned[-1][1] - planned[0][0], 3)}


def speech_seconds(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds from the first to the last 10 ms block within 30 dB of the loudest (``audio [C, N]``): how long
    the clip speaks (the scenes' room tone sits about 50 dB down)."""
    x = np.asarray(audio, np.float64).mean(0)
    n = sample_rate // 100
    blocks = (x[: len(x) // n * n].reshape(-1, n) ** 2).mean(1)
    db = 10 * np.log10(blocks + 1e-12)
    loud = np.flatnonzero(db >= db.max() - 30)
    return round(float((loud[-1] - loud[0] + 1) * n / sample_rate), 3) if len(loud) else 0.0


def _percentile_of(value: float, population: np.ndarray) -> float:
    return float((population < value).mean() * 100) if len(population) else float("nan")


def seam_picture(video: np.ndarray, seam_frames: list[int], span: int = 1) -> float:
    """Mean over seams of the percentile of the |luma change| from ``span`` frames before the seam to the seam
    among the same change over every other ``span`` frames of the clip (50: the seam is a typical stretch; 100: the
    largest change of the clip). ``span`` 1: a cut between two frames; more: a seam blended over that many frames."""
    from duetto.data.clip import luma
    y = luma(video).astype(np.float32)
    span = max(1, min(int(span), len(y) - 1))
    d = np.abs(y[span:] - y[:-span]).mean(axis=(1, 2))                     # position i: frame i -> i + span
    seams = [f - span for f in seam_frames if span <= f < len(y)]
    near = {i for f in seams for i in range(f - span + 1, f + span)}
    rest = np.array([v for i, v in enumerate(d) if i not in near])
    return float(np.mean([_percentile_of(d[f], rest) for f in seams])) if seams else float("nan")


def seam_sound(audio: np.ndarray, sample_rate: int, seam_samples: list[int], span: int = 0) -> float:
    """Mean over seams of the percentile of the largest first-difference energy of any 10 ms in the ``span``
    samples before the seam and the 10 ms around it (what a click or a step adds) among the same measure over
    every other stretch of that length of the clip."""
    x = audio.mean(0)
    w = int(0.01 * sample_rate)
    energy = np.convolve(np.diff(x) ** 2, np.ones(w), mode="valid")        # position i: samples i .. i + w
    step = max(w, int(span))
    starts = [min(max(0, s - step + w // 2), len(energy) - step) for s in seam_samples]
    stat = lambda i: float(energy[i: i + step - w + 1].max())             # noqa: E731
    taken = {i // step for i in starts} | {i // step + 1 for i in starts}
    rest = np.array([stat(i) for i in range(0, len(energy) - step, step) if i // step not in taken])
    return float(np.mean([_percentile_of(stat(i), rest) for i in starts])) if starts else float("nan")


def extension_scores(clip, family: str, starts: list[float], window: float, history: float,
                     speech: str | None = None, language: str = "en-us", blend: float | None = None) -> dict:
    """An extended clip (`joint.extend`; ``starts``: its windows' start times) window by window: the windows whose
    picture has visual events and, of those, the ones `measure_sync` finds within one frame; the seams (where each
    window's new part begins) as percentiles among all other positions of the clip: the picture's change across
    the seam's frame boundary (a cut), and across the ``blend`` seconds before it (`joint.extend.BLEND_S` by
    default: how much the picture drifts where the two windows were blended), and the sound's click energy in the 10
    ms around it (`seam_picture`, `seam_sound`); with
    ``speech``, the words planned across a seam and how many of them sound (RMS above a tenth of the clip's median
    level over its words). ``drift``: how far the picture wanders from where it began, the mean absolute difference
    (0-255) between the mean frames of the first and the last ``window`` seconds (a face that fades, a shirt that
    changes colour; a clip in one scene stays in single figures)."""
    from duetto.align import measure_sync
    from duetto.data import timebase
    from duetto.data.clip import Clip
    fps, sr = clip.fps, clip.sample_rate
    seams = [t + history for t in starts[1:]]
    events = in_sync = 0
    for t0 in starts:
        f0, f1 = timebase.frame_of(t0, fps), min(clip.n_frames, timebase.frame_of(t0 + window, fps))
        s0, s1 = timebase.n_samples_for_frames(f0, fps, sr), timebase.n_samples_for_frames(f1, fps, sr)
        part = Clip(clip.video[f0:f1], clip.audio[:, s0:s1], fps, sr)
        if event_timing(part, family)["visual_events"] == 0:
            continue
        events += 1
        rep = measure_sync(part)
        in_sync += bool(rep.verdict != "no-signal" and rep.offset_ms is not None and abs(rep.offset_ms) <= 1000 / fps + 1e-6)
    from duetto.joint.extend import BLEND_S                   # the seam is blended over this much before it
    blend = BLEND_S if blend is None else blend
    frames = [timebase.frame_of(t, fps) for t in seams]
    out = {"windows": len(starts), "event_windows": events, "event_windows_in_sync": in_sync,
           "seam_picture_pct": round(seam_picture(clip.video, frames), 1),                     # a cut at the seam
           "seam_drift_pct": round(seam_picture(clip.video, frames, 1 + int(round(blend * fps))), 1),  # over the blend
           "seam_sound_pct": round(seam_sound(clip.audio, sr, [int(round(t * sr)) for t in seams]), 1),
           "drift": round(drift(clip.video, timebase.n_frames(window, fps)), 1)}
    if speech:
        from duetto.joint.conditioning import planned_words
        words = planned_words(speech, language)
        x = clip.audio.mean(0)
        rms = lambda a, b: float(np.sqrt(np.mean(x[int(a * sr): max(int(a * sr) + 1, int(b * sr))] ** 2)))  # noqa: E731
        level = float(np.median([rms(a, b) for a, b, _ in words])) if words else 0.0
        across = [(a, b) for a, b, _ in words if b <= clip.duration and any(a < t < b for t in seams)]
        out.update({"words_across_seams": len(across),
                    "words_across_seams_sounding": sum(rms(a, b) > 0.1 * level for a, b in across)})
    return out


def drift(video: np.ndarray, n: int) -> float:
    """Mean absolute difference (0-255) between the mean frames of the first and the last ``n`` frames of ``video``
    ``[T, H, W, 3]`` uint8."""
    first, last = video[:n].astype(np.float32).mean(0), video[-n:].astype(np.float32).mean(0)
    return float(np.abs(last - first).mean())


def summarise(rows: list[dict], features: dict[str, np.ndarray] | None = None,
              reference: dict[str, np.ndarray] | None = None,
              reference_flicker: dict[str, list[float]] | None = None) -> list[dict]:
    """Per family, then all: clips, clips with visual events, sync within one frame among those and over all
    clips, the clips with a face the checker followed and sync among those, event
    precision and recall (pooled over clips), the mean flicker, and where a reference is given the latent
    Fréchet distance and the reference clips' flicker."""
    out = []
    for fam in sorted({r["family"] for r in rows} - {FAMILY_ALL}) + [FAMILY_ALL]:
        rs = [r for r in rows if fam == FAMILY_ALL or r["family"] == fam]
        ev = [r for r in rs if r["visual_events"] > 0]
        faces = [r for r in rs if r.get("sync_method") == "speech"]      # the checker found a face to follow
        onsets = sum(r["audio_onsets"] for r in rs)
        events = sum(r["visual_events"] for r in rs)
        row = {"family": fam, "clips": len(rs), "with_events": len(ev),
               "sync_within_1_frame": round(float(np.mean([r["in_sync_1_frame"] for r in ev])), 3) if ev else None,
               "sync_all_clips": round(float(np.mean([r["in_sync_1_frame"] for r in rs])), 3),
               "with_face": len(faces),
               "sync_with_face": round(float(np.mean([r["in_sync_1_frame"] for r in faces])), 3) if faces else None,
               "no_signal": round(float(np.mean([r["sync_verdict"] == "no-signal" for r in rs])), 3),
               "event_precision": round(sum(r["onsets_on_events"] for r in rs) / onsets, 3) if onsets else None,
               "event_recall": round(sum(r["events_with_onsets"] for r in rs) / events, 3) if events else None,
               "flicker": round(float(np.mean([r["flicker"] for r in rs])), 3) if "flicker" in rs[0] else None}
        labelled = [r for r in rs if "caption_family" in r]
        if labelled:             # the caption (as written, or rewritten) reads as the prompt's family
            row["caption_family"] = round(float(np.mean([r["caption_family"] for r in labelled])), 3)
        coloured = [r for r in rs if "colour_right" in r]
        if coloured:             # the subject's colour right, and what a uniform guess would score
            row["colour_right"] = round(float(np.mean([r["colour_right"] for r in coloured])), 3)
            row["colour_chance"] = round(float(np.mean([r["colour_chance"] for r in coloured])), 3)
        voiced = [r for r in rs if "voice_closer" in r]
        if voiced:               # closer to its own voice reference than to the other one; median F0 within 15 %
            row["voice_closer"] = round(float(np.mean([r["voice_closer"] for r in voiced])), 3)
            row["f0_within_15"] = round(float(np.mean([r["f0_ratio"] is not None and abs(r["f0_ratio"] - 1) <= 0.15
                                                      for r in voiced])), 3)
            row["f0_found"] = round(float(np.mean([r["f0_ratio"] is not None for r in voiced])), 3)
        spoken = [r for r in rs if r.get("phones_asked")]
        if spoken:               # phoneme error rate, pooled over the clips asked to speak; speech length / the words'
            row["phone_error"] = round(sum(r["phone_errors"] for r in spoken) / sum(r["phones_asked"] for r in spoken), 3)
            row["speech_length_ratio"] = round(float(np.median([r["speech_seconds"] / r["words_seconds"]
                                                                for r in spoken])), 3)
        extended = [r for r in rs if "windows" in r]
        if extended:             # extension: windows with events in sync, seams as percentiles of all boundaries
            ew = sum(r["event_windows"] for r in extended)
            row["event_windows_in_sync"] = round(sum(r["event_windows_in_sync"] for r in extended) / ew, 3) if ew else None
            row["seam_picture_pct"] = round(float(np.nanmean([r["seam_picture_pct"] for r in extended])), 1)
            row["seam_drift_pct"] = round(float(np.nanmean([r["seam_drift_pct"] for r in extended])), 1)
            row["seam_sound_pct"] = round(float(np.nanmean([r["seam_sound_pct"] for r in extended])), 1)
            row["drift"] = round(float(np.mean([r["drift"] for r in extended])), 1)
            across = sum(r.get("words_across_seams", 0) for r in extended)
            if across:
                row["words_across_seams_sounding"] = round(
                    sum(r.get("words_across_seams_sounding", 0) for r in extended) / across, 3)
        if reference_flicker is not None:
            ref_f = [f for k, v in reference_flicker.items() if fam == FAMILY_ALL or k == fam for f in v]
            row["reference_flicker"] = round(float(np.mean(ref_f)), 3) if ref_f else None
        if features is not None and reference is not None:
            g = np.stack([features[r["key"]] for r in rs])
            ref = [v for k, v in reference.items() if fam == FAMILY_ALL or k == fam]
            row["latent_frechet"] = round(frechet(g, np.concatenate(ref)), 3) if ref else None
        out.append(row)
    return out


def evaluate(pipe, prompts: list[Prompt], *, steps: int | None = None, seconds: float | None = None,
             reference=None, clips_dir: Path | None = None, progress: bool = True, extend_to: float | None = None,
             history: float = 2.0, history_method: str = "auto", anchor: float | None = None) -> dict:
    """Generate one clip per prompt (seeded by the prompt) and score it; ``reference`` (a `Bank` of held-out
    clips at the bundle's rate and size) gives the latent Fréchet distance. ``extend_to``: each clip made that long
    window by window (`joint.extend`, keeping ``history`` s, given as ``history_method`` says, with ``anchor`` s of
    its first picture) and scored per window and at its seams (`extension_scores`). Returns ``{"rows", "summary"}``."""
    from tqdm import tqdm

    from duetto.data.media import write_clip
    rows, feats = [], {}
    for i, p in enumerate(tqdm(prompts, desc="eval", unit="clip", disable=not progress)):
        speech = p.speech if pipe.model.config.speech_vocab else None
        voice = p.voice if pipe.model.config.voice_dim else None
        if extend_to is None:
            clip = pipe.generate(p.text, seconds=seconds, seed=p.seed, steps=steps, video=p.video, audio=p.audio,
                                 speech=speech, speech_voice=p.speech_voice, voice=voice)[0]
        else:
            from duetto.joint.extend import extend, plan, windows
            clip = extend(pipe, p.text, seconds=extend_to, history=history, seed=p.seed, steps=steps, speech=speech,
                          speech_voice=p.speech_voice, voice=voice, method=history_method, anchor=anchor)
        key = p.key or f"{i:04d}"
        row = {"key": key, "prompt": p.text, "family": p.family, "seed": p.seed, "speech": speech,
               **score(clip, p.family, p.text, speech, voice, p.voice_other if voice is not None else None,
                       p.speech_voice)}
        if p.family != FAMILY_ALL and p.video is None and p.audio is None:
            row["caption_family"] = caption_family(p.text) == p.family
        if p.request is not None:
            row["request"] = p.request
        if extend_to is not None:
            row.update(extension_scores(clip, p.family, windows(extend_to, plan(pipe, history)), pipe.config.seconds,
                                        history, speech, p.speech_voice))
        if reference is not None:
            feats[key] = latent_features(pipe, clip)
        if clips_dir is not None:
            write_clip(clips_dir / f"{i:04d}-{p.family}.mp4", clip)
        rows.append(row)
    ref = ref_flicker = None
    if reference is not None:
        from duetto.data.clip import Clip
        ref, ref_flicker = {}, {}
        for v, a, meta in zip(reference.videos, reference.audios, reference.metas):
            c = Clip(v, a, reference.fps, reference.sample_rate)
            fam = (meta or {}).get("family", FAMILY_ALL)
            ref.setdefault(fam, []).append(latent_features(pipe, c))
            ref_flicker.setdefault(fam, []).append(flicker(v))
        ref = {k: np.stack(v) for k, v in ref.items()}
    return {"rows": rows, "summary": summarise(rows, feats if ref else None, ref, ref_flicker)}
