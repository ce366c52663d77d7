"""Turn a folder of real clips (+ caption sidecars) into shards, with a reason for every skipped clip."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import timebase
from .clip import Clip
from .errors import DuettoError
from .media import SHARD_AUDIO, encode_clip, read_clip
from .schema import MAX_JSON_BYTES, dump_meta, load_json
from .shards import ShardWriter

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts"}


@dataclass(frozen=True)
class IngestConfig:
    fps: float = 25.0
    size: int = 256
    sample_rate: int = 16000
    channels: int = 1
    segment: float = 10.0          # cut clips into pieces this long (0: keep whole)
    min_seconds: float = 1.0       # shorter clips / last pieces are dropped
    allow_uncaptioned: bool = False
    audio_codec: str = SHARD_AUDIO    # inside each mp4: flac keeps onsets sample-exact

    def check(self):
        """The same ranges as synthetic shards (`SynthConfig.check`): what the encoder and loader take."""
        if self.size % 2 or not 16 <= self.size <= 2048 or not 5 <= self.fps <= 240 \
                or not 8000 <= self.sample_rate <= 192_000 or self.channels < 1:
            raise DuettoError(f"bad ingest config: need an even size 16..2048, 5 <= fps <= 240, sample rate "
                              f"8000..192000 Hz, channels >= 1 (got size={self.size}, fps={self.fps}, "
                              f"sample_rate={self.sample_rate}, channels={self.channels})")


@dataclass
class IngestReport:
    written: list[dict] = field(default_factory=list)   # {key, source, duration}
    skipped: list[dict] = field(default_factory=list)   # {source, reason}
    shards: list[str] = field(default_factory=list)


MAX_CAPTION_CHARS = 2000   # a caption is a sentence or a paragraph; longer is a mistake (or a hostile file)


def _caption(text: str, name: str) -> str:
    """A sidecar's caption, checked: text (no control characters but line breaks and tabs), at most
    `MAX_CAPTION_CHARS` long. A bad one skips its clip with the reason, instead of being dropped later unseen."""
    text = text.strip()
    if len(text) > MAX_CAPTION_CHARS:
        raise DuettoError(f"caption sidecar {name} holds {len(text)} characters or more; at most {MAX_CAPTION_CHARS}")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise DuettoError(f"caption sidecar {name} holds control characters: not a caption")
    return text


def read_sidecar(video: Path) -> dict:
    """Caption and extra metadata from ``NAME.json`` (a ``caption`` field) or ``NAME.txt``."""
    js, txt = video.with_suffix(".json"), video.with_suffix(".txt")
    try:
        if js.exists():
            with js.open("rb") as f:                    # one byte past the cap, so "too large" is reported
                meta = load_json(f.read(MAX_JSON_BYTES + 1), f"caption sidecar {js.name}")
            if not isinstance(meta, dict) or not isinstance(meta.get("caption"), str):
                raise DuettoError(f"caption sidecar {js.name} has no \"caption\" string")
            return {**meta, "caption": _caption(meta["caption"], js.name)}
        if txt.exists():
            with txt.open("rb") as f:
                raw = f.read(MAX_CAPTION_CHARS * 4 + 1)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DuettoError(f"caption sidecar {txt.name} is not UTF-8 text") from None
            return {"caption": _caption(text, txt.name)}
    except OSError as e:
        raise DuettoError(f"caption sidecar unreadable ({e.strerror or e})") from None
    return {}


def shift_times(extra: dict, start: float, duration: float) -> dict:
    """Sidecar metadata for a piece ``[start, start + duration)`` of its clip: ``events`` (``time``),
    ``speech.words`` (``start``/``end``) and ``music.beats`` move to the piece's clock and are kept only
    when inside it. Other fields are copied unchanged."""
    out = dict(extra)

    def inside(t):
        return isinstance(t, (int, float)) and start <= t < start + duration

    if isinstance(extra.get("events"), list):
        out["events"] = [{**e, "time": round(e["time"] - start, 6)} for e in extra["events"]
                         if isinstance(e, dict) and inside(e.get("time"))]
    sp = extra.get("speech")
    if isinstance(sp, dict) and isinstance(sp.get("words"), list):
        words = [{**w, "start": round(w["start"] - start, 6), "end": round(w["end"] - start, 6)}
                 for w in sp["words"] if isinstance(w, dict) and inside(w.get("start"))
                 and isinstance(w.get("end"), (int, float))]
        out["speech"] = {**sp, "words": words, "transcript": " ".join(str(w.get("word", "")) for w in words)}
    mu = extra.get("music")
    if isinstance(mu, dict) and isinstance(mu.get("beats"), list):
        out["music"] = {**mu, "beats": [round(b - start, 6) for b in mu["beats"] if inside(b)]}
    return out


def _problem(clip: Clip) -> str | None:
    """Why a decoded clip is unusable for training, or None."""
    if np.abs(clip.audio).max() < 1e-3:
        return "silent audio"
    step = max(1, clip.n_frames // 50)
    diffs = np.abs(np.diff(clip.video[::step].astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    if len(diffs) == 0 or diffs.max() < 0.5:
        return "static picture"
    return None


MAX_FILES = 100_000


def ingest(src, out, cfg: IngestConfig = IngestConfig(), progress: bool = True) -> IngestReport:
    cfg.check()
    src = Path(src)
    if not src.is_dir():
        raise DuettoError(f"{src}: not a directory")
    # every name with a video suffix but a directory: a pipe, a broken or looping link is a skipped file with its
    # reason (read_clip's), never silently left out, and never opened (a pipe would block)
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and not p.is_dir())
    if len(files) > MAX_FILES:
        raise DuettoError(f"{src}: {len(files)} video files; at most {MAX_FILES} in one run (ingest it in parts)")
    if not files:
        raise DuettoError(f"{src}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
    report = IngestReport()
    used: set[str] = set()
    with ShardWriter(out, prefix="ingest") as writer:
        for path in tqdm(files, desc="ingest", unit="clip", disable=not progress):
            rel = str(path.relative_to(src))
            try:
                extra = read_sidecar(path)
                if not extra.get("caption") and not cfg.allow_uncaptioned:
                    raise DuettoError("no caption (add NAME.txt or NAME.json, or pass --allow-uncaptioned)")
                clip = read_clip(path, fps=cfg.fps, size=cfg.size, sample_rate=cfg.sample_rate,
                                 channels=cfg.channels)
            except DuettoError as e:
                report.skipped.append({"source": rel, "reason": str(e).replace(f"{path}: ", "")})
                continue
            if clip.duration < cfg.min_seconds:
                report.skipped.append({"source": rel, "reason": f"shorter than {cfg.min_seconds} s ({clip.duration:.2f} s)"})
                continue
            why = _problem(clip)
            if why:
                report.skipped.append({"source": rel, "reason": why})
                continue
            base = re.sub(r"[^A-Za-z0-9_-]+", "_", str(Path(rel).with_suffix("")))[:80] or "clip"
            while base in used:
                base += "_"
            used.add(base)
            try:   # build every piece first: a bad sidecar skips the clip, not the run
                pieces = []
                for i, piece in enumerate(_pieces(clip, cfg)):
                    key = f"{base}-{i:03d}"
                    meta = {"caption": "", **shift_times(extra, piece.start, piece.duration),
                            "key": key, "source": rel, "source_start": round(piece.start, 6),
                            "fps": piece.fps, "sample_rate": piece.sample_rate, "duration": piece.duration,
                            "width": piece.size[1], "height": piece.size[0], "channels": piece.channels}
                    pieces.append((key, piece, dump_meta(meta)))
            except (DuettoError, ValueError, TypeError, KeyError) as e:
                report.skipped.append({"source": rel, "reason": f"bad sidecar metadata ({str(e)[:100]})"})
                continue
            for key, piece, meta_json in pieces:
                writer.write(key, {"mp4": encode_clip(piece, audio_codec=cfg.audio_codec), "json": meta_json})
                report.written.append({"key": key, "source": rel, "duration": round(piece.duration, 3)})
    report.shards = [str(p) for p in writer.paths]
    return report


def _pieces(clip: Clip, cfg: IngestConfig):
    """Cut a clip into ``cfg.segment``-second pieces on frame boundaries (both streams at once)."""
    per = timebase.n_frames(cfg.segment, clip.fps) if cfg.segment > 0 else clip.n_frames
    min_frames = timebase.n_frames(cfg.min_seconds, clip.fps)
    for f0 in range(0, clip.n_frames, per):
        f1 = min(clip.n_frames, f0 + per)
        if f1 - f0 < min_frames:
            break
        s0 = timebase.n_samples_for_frames(f0, clip.fps, clip.sample_rate)
        n = timebase.n_samples_for_frames(f1 - f0, clip.fps, clip.sample_rate)
        audio = clip.audio[:, s0:s0 + n]
        if audio.shape[1] < n:   # rounding can ask for one sample past the end: silence
            audio = np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
        yield Clip(video=clip.video[f0:f1], audio=np.ascontiguousarray(audio), fps=clip.fps,
                   sample_rate=clip.sample_rate, start=clip.start + timebase.frame_time(f0, clip.fps))
