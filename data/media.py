"""Media I/O with PyAV: decode any clip onto one clock, and mux clips whose streams both start at 0.

Reading places every decoded video frame and audio frame by its presentation timestamp, so variable
frame rates, codec priming (AAC's 1,024 samples, signalled by the muxer) and end padding never shift
the clock. Time 0 of a clip is the presentation time of the source's first video frame.
"""
from __future__ import annotations

import io
import math
import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Union

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from einops import rearrange

from . import timebase
from .clip import Clip
from .errors import MediaError

Source = Union[str, os.PathLike, bytes, BinaryIO]


@dataclass(frozen=True)
class Limits:
    """Caps on what a (possibly hostile) file may make us decode."""

    max_side: int = 8192                 # pixels, either dimension of the source picture
    max_video_bytes: int = 4 << 30       # decoded output frames, uint8
    max_seconds: float = 4 * 3600.0      # source duration we are willing to walk through


DEFAULT_LIMITS = Limits()
_TIME_TOL = 5e-4  # seconds of pts rounding: a tie between two source frames goes to the earlier one


def file_problem(path) -> str | None:
    """Why ``path`` cannot be read as a media file before opening it (None: a regular file): missing, a directory,
    a link loop, or a pipe, device or socket (reading one could block for ever)."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except (OSError, RuntimeError) as e:             # a link loop, a name too long, no permission on the way
        return f"cannot be read ({e.strerror or type(e).__name__})".replace("(None)", "")
    if stat.S_ISDIR(mode):
        return "is a directory, not a media file"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, device or socket)"
    return None


def _open(src: Source, name: str):
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise MediaError(name, "empty file (0 bytes)")
        src = io.BytesIO(bytes(src))
    elif isinstance(src, (str, os.PathLike)):
        problem = file_problem(src)
        if problem:
            raise MediaError(name, problem)
        if Path(src).stat().st_size == 0:
            raise MediaError(name, "empty file (0 bytes)")
        src = str(src)
    try:
        return av.open(src, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise MediaError(name, f"not a readable media file ({_reason(e)})") from None


def open_streams(src: Source, name: str | None = None):
    """Open a media file for remuxing: ``(container, video stream, audio stream)``; `MediaError` if it
    is unreadable or lacks either stream. The caller closes the container."""
    name = name or str(src)
    container = _open(src, name)
    try:
        return (container, *_streams(container, name))
    except MediaError:
        container.close()
        raise


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).split(":")[0] or type(e).__name__


def _streams(container, name: str):
    if not container.streams.video and not container.streams.audio:
        raise MediaError(name, "no audio or video streams (truncated, or not a media file)")
    if not container.streams.video:
        raise MediaError(name, "no video stream")
    if not container.streams.audio:
        raise MediaError(name, "no audio stream")
    vs, aus = container.streams.video[0], container.streams.audio[0]
    if vs.codec_context is None or aus.codec_context is None:
        raise MediaError(name, "unknown or corrupt codec (no decoder for a stream)")
    return vs, aus


def _source_fps(vs) -> float:
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    if not rate or float(rate) <= 0 or float(rate) > 1000:
        return 0.0
    return float(rate)


def _frame_seconds(frame, fallback: float) -> float:
    if frame.pts is None or frame.time_base is None:
        return fallback
    return float(frame.pts * frame.time_base)


def _audio_array(frame) -> np.ndarray:
    """An AudioFrame as float32 ``[C, n]`` in [-1, 1], whatever its sample format."""
    a = frame.to_ndarray()
    if not frame.format.is_planar:
        a = a.reshape(-1, len(frame.layout.channels)).T
    if a.dtype == np.int16:
        a = a / 32768.0
    elif a.dtype == np.int32:
        a = a / 2147483648.0
    elif a.dtype == np.uint8:
        a = (a.astype(np.float32) - 128.0) / 128.0
    return np.ascontiguousarray(a, dtype=np.float32)


def _mix(audio: np.ndarray, channels: int | None) -> np.ndarray:
    """Mix ``[C, N]`` to ``channels``: mono is the mean; more channels fold round-robin and average."""
    c = audio.shape[0]
    if channels is None or channels == c:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if c == 1:
        return np.repeat(audio, channels, axis=0)
    out = np.zeros((channels, audio.shape[1]), np.float32)
    counts = np.zeros(channels)
    for i in range(c):
        out[i % channels] += audio[i]
        counts[i % channels] += 1
    return out / counts[:, None].clip(min=1)


class _FrameSink:
    """Turns decoded source frames (in presentation order) into frames at ``t_i = start + i / fps``.

    Output frame i shows the source frame whose pts is nearest to t_i (ties go to the earlier one),
    so a variable-rate source is resampled by its timestamps and the picture is never biased late:
    showing "the frame on screen at t_i" instead would lag by half a source frame on average.
    Frames are converted only when used.
    """

    def __init__(self, fps: float, start: float, count: int | None, size, limits: Limits, name: str,
                 pix: str = "rgb24"):
        self.fps, self.start, self.count, self.size, self.pix = fps, start, count, size, pix
        self.limits, self.name = limits, name
        self.frames: list[np.ndarray] = []
        self.prev = None          # (time, av.VideoFrame)
        self.prev_array = None
        self.bytes = 0
        self.gray_table = None    # `_native_gray`'s lookup table once a frame has chosen it (False: none)...
        self.gray_key = None      # ...for frames of this (pixel format, range, width, height)
        self.sws = VideoReformatter()   # this decode's own swscale context: see `_array`

    def _t(self, i: int) -> float:
        return self.start + i / self.fps

    def _full(self) -> bool:
        return self.count is not None and len(self.frames) >= self.count

    def _emit_prev_until(self, limit: float):
        """Give the held source frame to every pending output frame whose time is before ``limit``."""
        while not self._full() and self._t(len(self.frames)) < limit:
            if self.prev_array is None:
                self.prev_array = self._convert(self.prev[1])
            self.frames.append(self.prev_array)
            self.bytes += self.prev_array.nbytes
            if self.bytes > self.limits.max_video_bytes:
                raise MediaError(self.name, f"decoded video exceeds {self.limits.max_video_bytes >> 20} MiB; "
                                 "ask for a smaller size= or a shorter duration=")

    def push(self, t: float, frame) -> bool:
        """Feed the next source frame (time relative to the clip origin); False once no more are needed."""
        if self.prev is not None:   # up to the midpoint (inclusive, within pts rounding): nearest
            self._emit_prev_until(0.5 * (self.prev[0] + t) + _TIME_TOL)
        self.prev, self.prev_array = (t, frame), None
        return not self._full()

    def finish(self, end: float) -> list[np.ndarray]:
        """Flush the last source frame until ``end`` (the source's end time)."""
        if self.prev is not None:
            self._emit_prev_until(end - _TIME_TOL)
        return self.frames

    def _array(self, frame, **reformat) -> np.ndarray:
        """``frame`` converted (`VideoReformatter.reformat` arguments) through this decode's own swscale context.
        PyAV 18.1.1's `VideoFrame.reformat` and `to_ndarray(format=)` share one per thread; a forked DataLoader worker
        inherits the parent's without its slice threads and waits forever on its first frame."""
        return self.sws.reformat(frame, **reformat).to_ndarray()

    def _convert(self, frame) -> np.ndarray:
        if self.size is None:
            return self._array(frame, format=self.pix)
        h, w = self.size
        sh, sw = frame.height, frame.width
        scale = max(h / sh, w / sw)                     # cover the target, then centre-crop
        ih, iw = max(h, round(sh * scale)), max(w, round(sw * scale))
        if (ih, iw) == (sh, sw):
            arr = self._native_gray(frame) if self.pix == "gray" else None
            if arr is None:
                arr = self._array(frame, format=self.pix)
        elif self.pix == "gray" and frame.format.name in _LUMA_FIRST:
            arr = _fast_luma(frame, ih, iw)
        else:
            arr = self._array(frame, width=iw, height=ih, format=self.pix, interpolation="AREA")
        y0, x0 = (ih - h) // 2, (iw - w) // 2
        return np.ascontiguousarray(arr[y0:y0 + h, x0:x0 + w])

    def _native_gray(self, frame) -> np.ndarray | None:
        """The luma plane at the source size through the lookup table that swscale's gray conversion amounts to
        (limited-range Y stretched to 0-255), or None where that does not hold: checked against ``to_ndarray``
        exactly on the first frame, and again whenever the pixel format, range or size changes, then used for the
        frames that follow (2-8x faster than swscale per frame)."""
        if frame.format.name not in _LUMA_FIRST:
            return None
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8)[: plane.line_size * frame.height]
        y = y.reshape(frame.height, plane.line_size)[:, : frame.width]
        key = (frame.format.name, getattr(frame, "color_range", None), frame.width, frame.height)
        if self.gray_table is None or key != self.gray_key:
            ref = self._array(frame, format="gray")
            self.gray_table = next((t for t in (_LIMITED_TO_FULL, _IDENTITY) if np.array_equal(t[y], ref)), False)
            self.gray_key = key
            return ref
        if self.gray_table is False:
            return None
        import cv2
        return cv2.LUT(y, self.gray_table)


_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
_IDENTITY = np.arange(256, dtype=np.uint8)
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}


def _fast_luma(frame, h: int, w: int) -> np.ndarray:
    """The luma plane read in place (limited-range Y, no conversion), decimated by a whole step that
    keeps it at least ``(h, w)``, then area-averaged to ``(h, w)``: twice as fast as swscale for 720p,
    with some aliasing from the decimation; for analysis only."""
    import cv2
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8)[: plane.line_size * frame.height]
    y = rows.reshape(frame.height, plane.line_size)[:, : frame.width]
    step = max(1, int(min(frame.height / h, frame.width / w)))
    return cv2.resize(y[::step, ::step], (w, h), interpolation=cv2.INTER_AREA)


def read_clip(src: Source, *, fps: float | None = None, size=None, sample_rate: int | None = None,
              channels: int | None = None, start: float = 0.0, duration: float | None = None,
              name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Clip:
    """Decode a media file (path, bytes or file object) into a `Clip` on one clock.

    fps / sample_rate / channels: resample to these (default: the source's). size: ``(H, W)`` or an int
    for a square; the picture is scaled to cover it and centre-cropped. start / duration (seconds from
    the first video frame) cut both streams at the same instant. The audio always spans exactly the
    frames returned: codec padding is trimmed and missing audio is silence.
    Raises `MediaError` (naming the file and the problem) on anything unreadable.
    """
    video, audio, fps, sr, meta = _read(src, fps, size, sample_rate, channels, start, duration, name, limits)
    return Clip(video=video, audio=audio, fps=fps, sample_rate=sr, start=float(start), metadata=meta)


@dataclass(frozen=True)
class LumaClip:
    """What a measurement needs, decoded cheaply: luma ``[T, H, W]`` uint8 (BT.601 Y, not RGB),
    audio float32 ``[C, N]`` on the same clock as `Clip` (frame i at i / fps)."""
    luma: np.ndarray
    audio: np.ndarray
    fps: float
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.luma.shape[0] / self.fps


def read_luma(src: Source, *, size=None, sample_rate: int | None = None, channels: int | None = None,
              name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> LumaClip:
    """Like `read_clip` (same frame and sample placement, the same audio), but only the luma plane, and
    H.264/HEVC decoded without the in-loop deblocking filter: a blurrier picture in half the time. The
    picture is for analysis (sync measurement), never for training or writing."""
    video, audio, fps, sr, _ = _read(src, None, size, sample_rate, channels, 0.0, None, name, limits, fast=True)
    return LumaClip(luma=video, audio=audio, fps=fps, sample_rate=sr)


def _read(src, fps, size, sample_rate, channels, start, duration, name, limits, fast=False):
    name = name or (str(src) if isinstance(src, (str, os.PathLike)) else "<bytes>")
    if isinstance(size, int):
        size = (size, size)
    _check_request(name, fps, size, sample_rate, channels, start, duration)
    container = _open(src, name)
    try:
        return _decode(container, fps, size, sample_rate, channels, start, duration, name, limits, fast)
    except MediaError:
        raise
    except av.error.FFmpegError as e:
        raise MediaError(name, f"corrupt or truncated media ({_reason(e)})") from None
    except Exception as e:  # hostile input must not crash a run: name it, as one line
        raise MediaError(name, f"corrupt media ({type(e).__name__}: {str(e)[:120]})") from None
    finally:
        container.close()


def _check_request(name, fps, size, sample_rate, channels, start, duration):
    def finite(x):
        return x is None or (isinstance(x, (int, float)) and math.isfinite(x))
    if not all(finite(x) for x in (fps, sample_rate, start, duration)):
        raise MediaError(name, "fps, sample_rate, start and duration must be finite numbers")
    if start < 0 or (duration is not None and duration <= 0):
        raise MediaError(name, f"bad window: start={start} duration={duration}")
    if (fps is not None and not 0 < fps <= 1000) or (sample_rate is not None and not 0 < sample_rate <= 384_000):
        raise MediaError(name, f"bad target rate: fps={fps} sample_rate={sample_rate}")
    if (size is not None and min(size) < 1) or (channels is not None and channels < 1):
        raise MediaError(name, f"bad target size/channels: size={size} channels={channels}")


def _decode(container, fps, size, sample_rate, channels, start, duration, name, limits, fast):
    """``(video [T, H, W, 3] or luma [T, H, W] when fast, audio [C, N], fps, sample rate, metadata)``."""
    vs, aus = _streams(container, name)
    vs.thread_type = "AUTO"   # frame + slice threads: same frames, decoded on every core
    cc = vs.codec_context
    if fast and cc.name in ("h264", "hevc"):
        cc.options = {"skip_loop_filter": "all"}
    if max(cc.width or 0, cc.height or 0) > limits.max_side:
        raise MediaError(name, f"picture {cc.width}x{cc.height} exceeds the {limits.max_side}px limit")
    src_fps = _source_fps(vs)
    if not src_fps and not fps:
        raise MediaError(name, "video stream has no frame rate; pass fps=")
    fps = float(fps or src_fps)
    count = timebase.n_frames(duration, fps) if duration is not None else None
    stop = start + duration if duration is not None else None
    sink = _FrameSink(fps, start, count, size, limits, name, "gray" if fast else "rgb24")

    origin = None
    pending_audio: list[tuple[float, np.ndarray]] = []  # (absolute seconds, [C, n])
    audio_sr = None
    last_video_t, video_done, audio_done = None, False, False
    declared = _declared_seconds(container, vs)
    for packet in container.demux(vs, aus):
        if packet.stream.type == "video" and not video_done:
            for frame in packet.decode():
                t_abs = _frame_seconds(frame, (last_video_t or 0.0) + 1.0 / (src_fps or fps))
                if origin is None:
                    origin = t_abs
                if t_abs - origin > limits.max_seconds:
                    raise MediaError(name, f"longer than the {limits.max_seconds:.0f} s limit")
                last_video_t = t_abs
                if not sink.push(t_abs - origin, frame):
                    video_done = True
                    break
        elif packet.stream.type == "audio" and not audio_done:
            for frame in packet.decode():
                audio_sr = audio_sr or frame.sample_rate
                if frame.sample_rate != audio_sr:
                    raise MediaError(name, "audio sample rate changes mid-stream")
                t_abs = _frame_seconds(frame, None if not pending_audio else
                                       pending_audio[-1][0] + pending_audio[-1][1].shape[1] / audio_sr)
                if t_abs is None:
                    t_abs = 0.0
                pending_audio.append((t_abs, _audio_array(frame)))
                if stop is not None and origin is not None and t_abs - origin > stop + 0.5:
                    audio_done = True
        if video_done and audio_done:     # both past the window's end (only when a duration is asked)
            break
    if origin is None:
        raise MediaError(name, "video stream has no decodable frames")
    src_end = last_video_t - origin + 1.0 / (src_fps or fps)
    decoded_end = max(src_end, max((t - origin + a.shape[1] / audio_sr for t, a in pending_audio), default=0.0))
    if declared and decoded_end < declared - max(0.5, 2.0 / (src_fps or fps)) and not video_done:
        raise MediaError(name, f"truncated: streams declare {declared:.2f} s, only {decoded_end:.2f} s decodes")
    frames = sink.finish(src_end)
    if count is not None and len(frames) < count:
        raise MediaError(name, f"asked for {duration:.3f} s from {start:.3f} s, but the video is only "
                         f"{src_end:.3f} s long")
    if not frames:
        raise MediaError(name, f"no video frames at or after {start:.3f} s (video is {src_end:.3f} s)")
    video = np.stack(frames)
    sr = int(sample_rate or audio_sr or 16000)
    n_out = timebase.n_samples_for_frames(len(frames), fps, sr)
    audio = _place_audio(pending_audio, origin, audio_sr, sr, start, n_out)
    if audio is None:
        raise MediaError(name, "audio stream has no decodable frames")
    audio = _mix(audio, channels)
    meta = {"source_fps": src_fps, "source_sample_rate": audio_sr,
            "source_size": [cc.height, cc.width], "source_duration": src_end}
    return video, np.ascontiguousarray(audio, np.float32), fps, sr, meta


def _declared_seconds(container, vs) -> float | None:
    if vs.duration and vs.time_base:
        return float(vs.duration * vs.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _place_audio(chunks, origin: float, src_sr: int | None, sr: int, start: float, n_out: int):
    """Lay decoded chunks on the clip clock by pts and resample to ``n_out`` samples at ``sr``."""
    if not chunks or not src_sr:
        return None
    c = max(a.shape[0] for _, a in chunks)
    g = math.gcd(src_sr, sr)
    step = src_sr // g                              # source samples per whole number of target samples
    margin = step * max(1, math.ceil(0.05 * src_sr / step))  # >= 50 ms of context for the filter
    first = timebase.sample_of(start, src_sr) - margin
    length = int(math.ceil(n_out * src_sr / sr)) + 2 * margin
    buf = np.zeros((c, length), np.float32)
    for t, a in chunks:
        i0 = timebase.sample_of(t - origin, src_sr) - first
        j0, j1 = max(0, -i0), min(a.shape[1], length - i0)
        if j1 > j0:
            buf[: a.shape[0], i0 + j0: i0 + j1] = a[:, j0:j1]
    buf = timebase.resample(buf, src_sr, sr, axis=1).astype(np.float32, copy=False)
    skip = margin * sr // src_sr
    out = buf[:, skip: skip + n_out]
    if out.shape[1] < n_out:
        out = np.pad(out, ((0, 0), (0, n_out - out.shape[1])))
    return out


def decode_plain(src: Source, name: str | None = None):
    """A deliberately plain decode, sharing nothing with `read_clip` but the sample-format conversion:
    what any player does.

    Every audio frame is laid at its own pts (channel 0, source rate, no trimming or resampling) and
    every video frame is kept with its pts. Used to check that written files are in sync for others.
    Returns ``(audio [N] float64 from t = 0, sample_rate, [(pts_seconds, rgb uint8 [H, W, 3])])``.
    """
    name = name or str(src)
    container = _open(src, name)
    try:
        vs, aus = _streams(container, name)
        sr = aus.codec_context.sample_rate
        pieces, frames, sws = [], [], VideoReformatter()   # its own: see `_FrameSink._array`
        for packet in container.demux(vs, aus):
            for f in packet.decode():
                if packet.stream.type == "audio":
                    pieces.append((float(f.pts * f.time_base), _audio_array(f)[0].astype(np.float64)))
                else:
                    frames.append((float(f.pts * f.time_base), sws.reformat(f, format="rgb24").to_ndarray()))
    finally:
        container.close()
    end = max(t + len(a) / sr for t, a in pieces)
    audio = np.zeros(int(np.ceil(end * sr)) + 1)
    for t, a in pieces:
        i = int(round(t * sr))
        audio[max(i, 0): i + len(a)] = a[max(-i, 0): len(audio) - i]
    frames.sort(key=lambda x: x[0])
    return audio, sr, frames


@dataclass(frozen=True)
class Probe:
    """What a file's headers say, without decoding."""

    duration: float
    fps: float
    width: int
    height: int
    video_codec: str
    sample_rate: int
    channels: int
    audio_codec: str


def probe(src: Source, name: str | None = None) -> Probe:
    name = name or (str(src) if isinstance(src, (str, os.PathLike)) else "<bytes>")
    container = _open(src, name)
    try:
        vs, aus = _streams(container, name)
        return _probe(container, vs, aus)
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(name, f"corrupt media ({type(e).__name__}: {str(e)[:120]})") from None
    finally:
        container.close()


def _probe(container, vs, aus) -> Probe:
    return Probe(duration=_declared_seconds(container, vs) or 0.0, fps=_source_fps(vs),
                 width=vs.codec_context.width, height=vs.codec_context.height,
                 video_codec=vs.codec_context.name, sample_rate=aus.codec_context.sample_rate,
                 channels=aus.codec_context.channels, audio_codec=aus.codec_context.name)


# ----------------------------------------------------------------------------------------- writing

FORMATS = {  # suffix -> (container format, video codec, pixel format, default audio codec)
    ".mp4": ("mp4", "libx264", "yuv420p", "aac"),
    ".mkv": ("matroska", "ffv1", "bgr0", "pcm_f32le"),   # lossless, for tests
}
AUDIO_CODECS = {  # codec -> (sample format, planar)
    "aac": ("fltp", True),          # what every player reads; adds ~10 ms of pre-echo before transients
    "flac": ("s16", False),         # lossless inside mp4: onsets stay sample-exact (training shards)
    "pcm_f32le": ("flt", False),
}


SHARD_AUDIO = "flac"   # shards keep onsets sample-exact; `write_clip` defaults to AAC for players


def audio_frame(piece: np.ndarray, codec: str, layout: str, sr: int, pts: int):
    fmt, planar = AUDIO_CODECS[codec]
    if fmt == "s16":
        piece = np.round(np.clip(piece, -1.0, 1.0) * 32767.0).astype(np.int16)
    arr = piece if planar else piece.T.reshape(1, -1)     # packed formats interleave the channels
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = sr, pts, Fraction(1, sr)
    return frame


_BT601 = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
                  np.float32) / 255.0


YUV_BLOCK = 64               # frames converted to YUV at once when writing


def rgb_to_yuv420p(video: np.ndarray) -> np.ndarray:
    """RGB uint8 ``[T, H, W, 3]`` (even H, W) to planar YUV 4:2:0, BT.601 limited range -- what decoders
    assume for untagged video -- as PyAV's layout ``[T, H * 3 // 2, W]``: the Y, U and V planes one after
    the other, flat (a chroma plane of H/2 rows of W/2 fills whole rows of W only when 4 divides H)."""
    t, h, w, _ = video.shape
    ycc = video.astype(np.float32) @ _BT601.T + np.array([16.0, 128.0, 128.0], np.float32)
    y = ycc[..., 0]
    c = ycc[..., 1:].reshape(t, h // 2, 2, w // 2, 2, 2).mean(axis=(2, 4))      # 2x2 chroma average
    planes = [rearrange(p, "t h w -> t (h w)") for p in (y, c[..., 0], c[..., 1])]
    flat = np.clip(np.rint(np.concatenate(planes, axis=1)), 0, 255).astype(np.uint8)
    return flat.reshape(t, h * 3 // 2, w)


def encode_clip(clip: Clip, suffix: str = ".mp4", *, audio_codec: str | None = None, crf: int = 18,
                preset: str = "veryfast", audio_bitrate: int = 128_000) -> bytes:
    """Mux a clip into bytes: ``.mp4`` is H.264 + AAC (or ``audio_codec="flac"``, lossless), ``.mkv`` is
    lossless FFV1 + float PCM.

    Both streams start at 0 and every frame carries an explicit pts, so the muxer signals the AAC
    encoder's priming and players start the sound on time.
    """
    if suffix not in FORMATS:
        raise MediaError(f"*{suffix}", f"unsupported output type; use one of {sorted(FORMATS)}")
    fmt, vcodec, pix_fmt, acodec = FORMATS[suffix]
    acodec = audio_codec or acodec
    if acodec not in AUDIO_CODECS:
        raise MediaError(f"*{suffix}", f"unsupported audio codec {acodec!r}; use one of {sorted(AUDIO_CODECS)}")
    t, h, w, _ = clip.video.shape
    if vcodec == "libx264" and (h % 2 or w % 2):
        raise MediaError(f"*{suffix}", f"H.264 needs even width and height, got {w}x{h}")
    if clip.channels not in (1, 2):
        raise MediaError(f"*{suffix}", f"can write mono or stereo audio, got {clip.channels} channels")
    rate = timebase.fps_fraction(clip.fps)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        vs = out.add_stream(vcodec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.time_base = 1 / rate
        vs.codec_context.time_base = 1 / rate
        if vcodec == "libx264":
            # one thread: x264's threaded output differs run to run; callers parallelise across clips. No macroblock
            # tree: on small frames (32-64 px) its lookahead read memory left as it was, and the same clip gave
            # 2-4 different files in 10 encodes in one busy process (PyAV 18.1.1; none in 30 without it)
            vs.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": "mbtree=0"}
            vs.codec_context.thread_count = 1
        layout = "mono" if clip.channels == 1 else "stereo"
        aus = out.add_stream(acodec, rate=clip.sample_rate, layout=layout)
        if acodec == "aac":
            aus.bit_rate = audio_bitrate
        aus.time_base = Fraction(1, clip.sample_rate)
        chunk = aus.codec_context.frame_size or 1024
        sr, n_audio, a_next = clip.sample_rate, clip.audio.shape[1], 0
        for i in range(t + 1):
            if i < t:
                if pix_fmt == "yuv420p":   # converted here: PyAV's converter is slow per frame, and its output
                    if i % YUV_BLOCK == 0:  # varied run to run; a block at a time, so a long clip's memory is flat
                        yuv = rgb_to_yuv420p(clip.video[i: i + YUV_BLOCK])
                    vf = av.VideoFrame.from_ndarray(yuv[i % YUV_BLOCK], format="yuv420p")
                else:
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(clip.video[i]), format="rgb24")
                vf.pts, vf.time_base = i, 1 / rate
                out.mux(vs.encode(vf))
            # interleave: audio up to the end of this frame (or all of it after the last frame)
            a_stop = n_audio if i >= t - 1 else min(n_audio, timebase.n_samples_for_frames(i + 1, clip.fps, sr))
            while a_next < a_stop and (a_stop - a_next >= chunk or a_stop == n_audio):
                piece = clip.audio[:, a_next: a_next + chunk]
                out.mux(aus.encode(audio_frame(piece, acodec, layout, sr, a_next)))
                a_next += piece.shape[1]
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    return buf.getvalue()


def write_clip(path, clip: Clip, **kw) -> Path:
    """Write a clip to ``path`` (``.mp4`` H.264+AAC, ``.mkv`` lossless) atomically: all or nothing."""
    path = Path(path)
    data = encode_clip(clip, path.suffix.lower(), **kw)
    atomic_write(path, data)
    return path


def atomic_write(path: Path, data: bytes):
    """Write to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
