"""`fix`: remux a clip with its sound moved by an offset; the picture's packets are copied, not re-encoded."""
from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from duetto.data.errors import MediaError
from duetto.data.media import atomic_write, audio_frame, open_streams, read_luma

from .shift import shift_audio

LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1"}   # AAC here: up to 7 channels


def fix_offset(src, dst, offset_ms: float, audio_bitrate: int = 192_000) -> Path:
    """Write ``dst``: ``src`` with its sound moved so that an offset of ``offset_ms`` (positive: sound
    ahead) becomes 0. Video packets are copied bit for bit; the audio is re-encoded as AAC with
    explicit pts (the source's rate and every one of its channels, up to 7). An offset that is not a finite
    number, or as long as the clip (the sound would be moved out of it entirely), is refused."""
    src, dst = os.fspath(src), Path(dst)
    if dst.suffix.lower() != ".mp4":
        raise MediaError(dst, "fix writes .mp4 files")
    if not np.isfinite(offset_ms):
        raise MediaError(src, f"offset {offset_ms} ms is not a finite number")
    # the audio on the picture's clock, trimmed to it; the picture itself is only needed for its
    # timestamps, so it is decoded as a tiny luma image rather than full-size RGB
    clip = read_luma(src, size=16)
    if abs(offset_ms) >= 1000 * clip.duration:
        raise MediaError(src, f"offset {offset_ms:+.0f} ms is as long as the clip ({clip.duration:.2f} s): "
                              "the sound would leave it")
    if clip.audio.shape[0] not in LAYOUTS:
        raise MediaError(src, f"{clip.audio.shape[0]} audio channels: fix re-encodes at most {max(LAYOUTS)}")
    fixed = shift_audio(clip, -offset_ms)         # sound ahead by d: delay it by d
    audio = fixed.audio
    container, vs, _ = open_streams(src)
    buf = io.BytesIO()
    try:
        with av.open(buf, "w", format="mp4") as out:
            ovs = out.add_stream_from_template(vs)
            layout = LAYOUTS[audio.shape[0]]
            oas = out.add_stream("aac", rate=clip.sample_rate, layout=layout)
            oas.bit_rate = audio_bitrate
            oas.time_base = Fraction(1, clip.sample_rate)
            first = None
            for packet in container.demux(vs):
                if packet.dts is None:
                    continue
                if first is None and packet.pts is not None:
                    first = float(packet.pts * packet.time_base)
                packet.stream = ovs
                out.mux(packet)
            start = int(round((first or 0.0) * clip.sample_rate))   # sound starts with the picture
            chunk = oas.codec_context.frame_size or 1024
            for i in range(0, audio.shape[1], chunk):
                piece = np.ascontiguousarray(audio[:, i:i + chunk])
                out.mux(oas.encode(audio_frame(piece, "aac", layout, clip.sample_rate, start + i)))
            out.mux(oas.encode(None))
    except av.error.FFmpegError as e:
        raise MediaError(src, f"cannot remux ({e})") from None
    finally:
        container.close()
    atomic_write(dst, buf.getvalue())
    return dst
