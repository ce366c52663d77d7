"""Speech, voice and music conditions, as arrays the joint model takes (`JointDiT.forward`).

- **speech**: words -> phonemes (IPA from espeak-ng, the same engine that voices the synthetic speech scenes)
  -> ids ``[Ls]`` over a fixed symbol table (0 pads, 1 is an unknown symbol). No time: the model learns
  where each phoneme falls.
- **voice**: a reference recording -> ``[VOICE_DIM]``, the mean and spread over its voiced frames of a
  32-band log-mel spectrum (who speaks, not what is said), then its median pitch and whether it has one.
- **music**: a reference track -> ``[L, MUSIC_DIM]`` on the audio latent clock (the audio VAE's
  ``timestamps``, seconds): onset strength, a beat pulse and 12 chroma bins. The beat grid is a tempo
  (autocorrelation of the onset strength, 60 to 180 bpm) and the phase that lines the most onset strength
  up with it.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache

import numpy as np

from duetto.data import timebase
from duetto.data.errors import DuettoError

# every symbol espeak-ng's English IPA output uses, and more; ids are 2 + position
PHONE_SYMBOLS = (" ˈˌːˑ.-abdefhijklmnoprstuvwxzæçðøŋœɐɑɒɔəɚɛɜɝɟɡɣɪɫɬɹɾʃʊʋʌʍʎʒʔʤʧʰʲʷθχ"
                 "ɕɖɗɘɞɠɢɤɥɦɧɨɭɮɯɰɱɲɳɴɵɶɸɺɻɽʀʁʂʄʈʉʏʐʑʙʛʜʝʟʡʢβ\u0303\u0329\u032f\u200d")
SPEECH_VOCAB = 2 + len(PHONE_SYMBOLS)
PAD, UNK = 0, 1
VOICE_DIM = 66
VOICE_DIM_SPECTRUM = 64      # the spectrum's part, the whole embedding of models trained before the pitch joined it
PITCH_REF_HZ = 150.0         # the pitch entry: log2(F0 / this), within +-2 octaves
MUSIC_DIM = 14
RATE = 100                 # feature frames per second for voice and music analysis
MAX_PHONES = 512
_ID = {s: 2 + i for i, s in enumerate(PHONE_SYMBOLS)}


@lru_cache(maxsize=1024)
def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA for ``text`` from espeak-ng (one line; words separated by spaces)."""
    text = " ".join(text.split())
    if not text:
        raise DuettoError("the words to speak are empty")
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DuettoError("espeak-ng is not installed: speech conditioning needs it (`apt-get install espeak-ng`)")
    check_voice(voice)
    # "--" ends espeak-ng's options: words such as "-f/etc/hostname" are spoken, never read as an option
    out = subprocess.run([exe, "-q", "--ipa", "-v", voice, "--", text], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise DuettoError(f"espeak-ng failed for voice {voice!r}: {out.stderr.strip()}")
    return " ".join(out.stdout.split())


def check_voice(voice: str) -> str:
    """``voice`` if it is an espeak-ng voice name (``en-us``, ``en-gb-x-rp+f3``), else a one-line `DuettoError`."""
    if not isinstance(voice, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,40}", voice):
        raise DuettoError(f"{voice!r} is not an espeak-ng voice name (e.g. en-us, en-gb+f3)")
    return voice


def phoneme_ids(text: str, voice: str = "en-us") -> np.ndarray:
    """``[Ls]`` int64 ids of the phoneme symbols of ``text`` (at most ``MAX_PHONES``)."""
    ids = _ids(phonemize(text, voice))
    if len(ids) > MAX_PHONES:
        raise DuettoError(f"the words to speak give {len(ids)} phoneme symbols, more than {MAX_PHONES}")
    return ids


def clip_words(meta: dict | None) -> tuple[str, str]:
    """A clip's spoken words (``meta["speech"]["transcript"]``, "" without one) and their espeak-ng language
    (the voice's part before ``+``, default ``en-us``): what training conditions on and evaluation speaks."""
    speech = (meta or {}).get("speech") or {}
    words = speech.get("transcript")
    return (words.strip() if isinstance(words, str) else ""), str(speech.get("voice") or "en-us").split("+")[0]


DOUBLE_QUOTES = '"\u201c\u201d'


def quoted_words(text: str, quotes: str = DOUBLE_QUOTES) -> str | None:
    """The first words ``text`` quotes between any two of ``quotes`` (``a man says "hello there"`` -> ``hello
    there``; at most 200 characters), stripped; None when it quotes nothing. Captions quote their spoken words in
    double quotes (`caption_without_words`); single quotes are apostrophes too often to count there."""
    q = re.escape(quotes)
    m = re.search(f"[{q}]([^{q}]{{1,200}})[{q}]", text)
    return m.group(1).strip() if m else None


def caption_without_words(caption: str, words: str) -> str:
    """``caption`` without its quoted spoken ``words`` (``... says "hello there" in ...`` -> ``... speaks in ...``):
    what training shows with the phonemes alone carrying the words. Unchanged when the words are not quoted."""
    quoted = f'"{words}"'
    if not words or quoted not in caption:
        return caption
    return " ".join(caption.replace(f"says {quoted}", "speaks").replace(quoted, "").split())


def caption_without_gender(caption: str) -> str:
    """``caption`` with its speaker's gender left out (``a man with ...`` / ``a woman with ...`` -> ``a person with
    ...``), so that only the voice reference can say it; unchanged when it names none."""
    return re.sub(r"^a (man|woman) with ", "a person with ", caption)


def _ids(ipa: str) -> np.ndarray:
    return np.asarray([_ID.get(ch, UNK) for ch in ipa], dtype=np.int64)


def timed_word_ids(meta: dict | None) -> list[tuple[float, float, np.ndarray]]:
    """A clip's words as ``(start s, end s, phoneme ids)``, from ``meta["speech"]["words"]`` (word times on the
    clip's clock), for training on a window of the clip (`window_ids`); ``[]`` without timed words. The ids come
    from phonemizing the whole transcript, as generation does, split at its word gaps and paired in order with the
    timed words when the counts agree (only the counts are checked); otherwise each word is phonemized alone."""
    words = [w for w in (((meta or {}).get("speech") or {}).get("words") or []) if isinstance(w, dict)]
    text, language = clip_words(meta)
    try:
        timed = [(float(w["start"]), float(w["end"]), str(w["word"])) for w in words if str(w.get("word", "")).strip()]
    except (KeyError, TypeError, ValueError):
        return []
    if not text or not timed:
        return []
    parts = phonemize(text, language).split(" ")
    if len(parts) != len(timed):
        parts = [phonemize(w, language) for _, _, w in timed]
    return [(a, b, _ids(part)) for (a, b, _), part in zip(timed, parts)]


def window_ids(words: list[tuple[float, float, np.ndarray]], start: float, end: float) -> np.ndarray:
    """Phoneme ids ``[Ls]`` of the `timed_word_ids` whose middle lies in ``[start, end)`` seconds, joined by the
    word gap symbol: the words spoken in that window of the clip."""
    inside = [ids for a, b, ids in words if start <= (a + b) / 2 < end]
    out = []
    for k, ids in enumerate(inside):
        out.extend(([_ID[" "]] if k else []) + ids.tolist())
    return np.asarray(out, dtype=np.int64)


_SILENT = {_ID[" "], _ID["ˈ"], _ID["ˌ"]}          # word gaps and stress marks take no time of their own
LEAD, GAP = 0.3, 0.18                             # seconds before the first word and between words (`planned_words`)


SILENCE = _ID[" "]      # on a track with ``silence``: nothing is said here (0, padding, is "not told")


def phoneme_track(words: list[tuple[float, float, np.ndarray]], times, silence: bool = False) -> np.ndarray:
    """``[len(times)]`` int64: at each time (seconds, e.g. the audio latents' timestamps) the id of the phoneme
    symbol being said, 0 between words, or with ``silence`` `SILENCE` between words (and before and after them:
    a clip with words says nothing else), so a model can tell "be silent here" from "not told" (0, as a dropped
    track is); no words give zeros either way. ``words`` are `timed_word_ids`; each word's sounding symbols (stress
    marks and gaps left out) share its span ``[start, end)`` evenly, in order."""
    times = np.asarray(times, dtype=np.float64)
    out = np.full(len(times), SILENCE if silence and words else 0, dtype=np.int64)
    for a, b, ids in words:
        ids = np.asarray([i for i in ids.tolist() if i not in _SILENT], dtype=np.int64)
        inside = (times >= a) & (times < b)
        if b <= a or not len(ids) or not inside.any():
            continue
        k = np.floor((times[inside] - a) / (b - a) * len(ids)).astype(np.int64)
        out[inside] = ids[np.clip(k, 0, len(ids) - 1)]
    return out


def planned_words(text: str, language: str = "en-us", *, lead: float = LEAD, gap: float = GAP, speed: int = 160,
                  pitch: int = 50) -> list[tuple[float, float, np.ndarray]]:
    """When each word of ``text`` would be said, as `timed_word_ids`: from ``lead`` seconds, ``gap`` between words,
    each word as long as espeak-ng takes to say it alone (``language``, ``speed`` words a minute, ``pitch``) -- the
    way the synthetic speech scenes lay out their lines (`duetto.data.synth.speech`), so a model trained on their
    word times is told a plausible timing for words it is only given as text."""
    from duetto.data.synth.speech import speak_word
    t, timed = lead, []
    for w in " ".join(text.split()).split(" "):
        try:
            d = len(speak_word(w, check_voice(language), speed, pitch, 16000)) / 16000
        except DuettoError:
            if not shutil.which("espeak-ng"):
                raise
            d = 0.1                                  # a "word" espeak-ng says nothing for (punctuation)
        timed.append({"word": w, "start": t, "end": t + d})
        t += d + gap
    return timed_word_ids({"speech": {"transcript": text, "voice": language, "words": timed}})


def pad_ids(seqs: list[np.ndarray]) -> np.ndarray:
    """Id sequences -> ``[B, max L]`` padded with ``PAD`` (at least one column)."""
    out = np.zeros((len(seqs), max([1] + [len(s) for s in seqs])), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def _mono16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise DuettoError(f"reference audio must be [channels, samples], got {audio.shape}")
    return timebase.resample(audio.mean(axis=0), sample_rate, 16000)


def _spectrogram(x: np.ndarray, n_fft: int, hop: int, n_mels: int | None = None) -> np.ndarray:
    """Power spectrogram ``[frames, bins]`` of 16 kHz ``x`` by torchaudio (as the audio VAE's mel loss),
    frame i centred on sample ``i * hop``; with ``n_mels``, on a mel scale from 60 Hz to 7.6 kHz."""
    import torch
    import torchaudio
    if n_mels:
        t = torchaudio.transforms.MelSpectrogram(16000, n_fft=n_fft, hop_length=hop, n_mels=n_mels, f_min=60.0,
                                                 f_max=7600.0, power=2.0)
    else:
        t = torchaudio.transforms.Spectrogram(n_fft=n_fft, hop_length=hop, power=2.0)
    return t(torch.from_numpy(x.astype(np.float32))).double().numpy().T


def voice_embedding(audio: np.ndarray, sample_rate: int, dim: int = VOICE_DIM) -> np.ndarray:
    """``[dim]`` float32: the mean and standard deviation of a 32-band log-mel spectrum (25 ms windows, 10 ms hop)
    over the frames within 40 dB of the loudest (64 values), then ``log2(F0 / 150 Hz)`` of the median pitch
    (`duetto.audio.speaker.median_f0`, within +-2) and 1, or 0 and 0 where it has none. The spectrum says a voice's
    pitch only through its lowest bands, mixed with its timbre; the pitch entry says it outright. ``dim``: 66, or
    64 (the spectrum alone) for models trained before the pitch joined it. A silent reference is a `DuettoError`."""
    if dim not in (VOICE_DIM, VOICE_DIM_SPECTRUM):
        raise DuettoError(f"a voice embedding has {VOICE_DIM} values ({VOICE_DIM_SPECTRUM} for older models), not {dim}")
    x = _mono16k(audio, sample_rate)
    spec = _spectrogram(x, 400, 160, VOICE_DIM_SPECTRUM // 2)
    db = 10 * np.log10(spec + 1e-10)
    level = 10 * np.log10(spec.sum(1) + 1e-10)
    if level.max() < -60:
        raise DuettoError("the voice reference is silent")
    voiced = db[level >= level.max() - 40]
    spectrum = np.concatenate([voiced.mean(0) / 20, voiced.std(0) / 10])
    if dim == VOICE_DIM_SPECTRUM:
        return spectrum.astype(np.float32)
    from duetto.audio.speaker import median_f0
    f0 = median_f0(x, 16000)
    pitch = [float(np.clip(np.log2(f0 / PITCH_REF_HZ), -2, 2)), 1.0] if np.isfinite(f0) else [0.0, 0.0]
    return np.concatenate([spectrum, pitch]).astype(np.float32)


def _onset_envelope(x: np.ndarray) -> np.ndarray:
    from duetto.align.features import audio_onset_strength
    env = audio_onset_strength(x)                                  # [n] at RATE Hz, block centres
    return env / (env.max() + 1e-9)


def beat_times(env: np.ndarray, rate: float = RATE, bpm: tuple[float, float] = (60.0, 180.0)) -> np.ndarray:
    """Beat times (s) from an onset envelope ``[n]`` at ``rate`` Hz (sample i at ``(i + 0.5) / rate``): the
    period whose autocorrelation, weighted by a log-normal prior around 120 bpm, is highest within ``bpm``, at the phase that collects the most onset
    strength on the grid. Empty when the envelope is flat."""
    e = env - env.mean()
    if not np.any(e > 0) or len(e) < 4:
        return np.zeros(0)
    lags = np.arange(int(rate * 60 / bpm[1]), int(rate * 60 / bpm[0]) + 1)
    lags = lags[lags < len(e) // 2]
    if not len(lags):
        return np.zeros(0)
    ac = np.array([np.dot(e[:-k], e[k:]) / (len(e) - k) for k in lags])
    prior = np.exp(-0.5 * np.log2(60 * rate / lags / 120.0) ** 2)     # tempi near 120 bpm are likelier
    k = int(lags[np.argmax(ac * prior)])
    phase = int(np.argmax([env[p::k].sum() for p in range(k)]))
    return (np.arange(phase, len(env), k) + 0.5) / rate


def track_beats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Beat times (s) of a recording ``[C, N]``: `beat_times` of its onset strength."""
    return beat_times(_onset_envelope(_mono16k(audio, sample_rate)))


def _chroma(x: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """``[len(frame_times), 12]`` pitch-class energy (55 Hz to 4 kHz), each frame scaled to a peak of 1."""
    hop, n_fft = 160, 2048
    power = _spectrogram(x, n_fft, hop)                             # frame i at i * hop / 16000 s
    f = np.fft.rfftfreq(n_fft, 1 / 16000)
    band = (f >= 55) & (f <= 4000)
    pc = np.round(12 * np.log2(f[band] / 440.0) + 69).astype(int) % 12
    chroma = np.zeros((len(power), 12))
    for c in range(12):
        chroma[:, c] = power[:, band][:, pc == c].sum(1)
    chroma /= chroma.max(1, keepdims=True) + 1e-9
    t = np.arange(len(power)) * hop / 16000
    return np.stack([np.interp(frame_times, t, chroma[:, c]) for c in range(12)], axis=1)


def music_features(audio: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    """``[len(times), MUSIC_DIM]`` float32 at ``times`` (s, the audio latents' timestamps): onset strength
    (peak 1), a beat pulse (1 on a beat, a 30 ms Gaussian around it) and 12 chroma bins."""
    x = _mono16k(audio, sample_rate)
    times = np.asarray(times, dtype=np.float64)
    env = _onset_envelope(x)
    env_t = (np.arange(len(env)) + 0.5) / RATE
    beats = beat_times(env)                       # = track_beats, without analysing the sound twice
    if len(beats):
        d = np.min(np.abs(times[:, None] - beats[None]), axis=1)
        pulse = np.exp(-0.5 * (d / 0.03) ** 2)
    else:
        pulse = np.zeros(len(times))
    onset = np.interp(times, env_t, np.convolve(env, np.ones(3) / 3, mode="same"))
    return np.concatenate([onset[:, None], pulse[:, None], _chroma(x, times)], axis=1).astype(np.float32)


MAX_REFERENCE_SECONDS = 60.0


def read_reference(path, sample_rate: int, max_seconds: float = MAX_REFERENCE_SECONDS) -> np.ndarray:
    """The sound of an audio or video file as float32 ``[1, N]`` mono at ``sample_rate`` (at most ``max_seconds``);
    an unreadable file, one without sound, or a silent one is a one-line `DuettoError`."""
    import av
    path = str(path)
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise DuettoError(f"{path}: no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            pieces, total = [], 0
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    total += pieces[-1].size
                if total >= max_seconds * sample_rate:
                    break
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise DuettoError(f"{path}: not a readable audio or video file ({e.__class__.__name__})") from None
    x = np.concatenate(pieces)[: int(max_seconds * sample_rate)] if pieces else np.zeros(0, np.float32)
    if x.size < sample_rate // 10 or not np.isfinite(x).all() or np.abs(x).max() < 1e-4:
        raise DuettoError(f"{path}: the reference is silent or shorter than 0.1 s")
    return x[None].astype(np.float32)
