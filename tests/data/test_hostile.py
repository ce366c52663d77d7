"""Hostile and odd inputs found in review: each must give a clear error or a correct result, never a
crash of another exception type."""
import io
import tarfile
from fractions import Fraction

import av

import numpy as np
import pytest

from duetto.data.testsignals import click_flash_clip
from shard_utils import meta_bytes, raw_tar
from duetto.data import Clip, DuettoError, MediaError, encode_clip, probe, read_clip, timebase
from duetto.data.ingest import IngestConfig, _pieces, shift_times
from duetto.data.loader import ClipWindows
from duetto.data.shards import BadSample, iter_shard


@pytest.mark.parametrize("audio_codec", ["aac", "flac"])
def test_mutated_mp4s_give_media_errors_only(audio_codec):
    good = encode_clip(click_flash_clip(frames=25, size=32)[0], audio_codec=audio_codec)
    rng = np.random.default_rng(0)
    outcomes = {"clip": 0, "error": 0}
    for i in range(60):
        x = bytearray(good)
        if i % 3 == 0:
            x = x[: int(rng.integers(1, len(x)))]
        else:
            for _ in range(int(rng.integers(1, 20))):
                x[int(rng.integers(len(x)))] = int(rng.integers(256))
        for fn in (lambda b: read_clip(b, size=16, sample_rate=8000), probe):
            try:
                out = fn(bytes(x))
                outcomes["clip"] += 1
                assert not isinstance(out, Clip) or out.audio.shape[1] == timebase.n_samples_for_frames(
                    out.n_frames, out.fps, out.sample_rate)
            except MediaError as e:
                outcomes["error"] += 1
                assert "\n" not in str(e)
    assert outcomes["error"] > 0 and outcomes["clip"] > 0


def _pax_tar(record: bytes) -> bytes:
    def pad(b):
        return b + b"\0" * ((-len(b)) % 512)
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.size, pax.type = len(record), b"x"
    member = tarfile.TarInfo("a.json")
    member.size = 2
    return (pad(pax.tobuf(format=tarfile.GNU_FORMAT) + pad(record))
            + pad(member.tobuf(format=tarfile.GNU_FORMAT) + pad(b"{}")) + b"\0" * 1024)


@pytest.mark.parametrize("record", [b"30 GNU.sparse.map=1,2,3,x\n", b"99999999999999999999999 path=a\n"])
def test_malformed_pax_headers_are_corrupt_tar(tmp_path, record):
    p = tmp_path / "x.tar"
    p.write_bytes(_pax_tar(record))
    items = list(iter_shard(p))
    assert items and all(isinstance(i, BadSample) and i.reason in ("corrupt_tar", "missing_member") for i in items)


def test_mkv_with_audio_longer_than_video_is_not_called_truncated():
    """Matroska declares one duration for all streams; 2 s of video with 3 s of audio is complete."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        vs = out.add_stream("ffv1", rate=25)
        vs.width = vs.height = 16
        vs.pix_fmt = "bgr0"
        aus = out.add_stream("pcm_f32le", rate=16000, layout="mono")
        for i in range(50):
            f = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            out.mux(vs.encode(f))
        a = av.AudioFrame.from_ndarray(np.zeros((1, 3 * 16000), np.float32), format="flt", layout="mono")
        a.sample_rate, a.pts, a.time_base = 16000, 0, Fraction(1, 16000)
        out.mux(aus.encode(a))
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    clip = read_clip(buf.getvalue())
    assert clip.n_frames == 50 and clip.audio.shape[1] == 32000


@pytest.mark.parametrize("kw", [dict(duration=float("nan")), dict(start=float("inf")), dict(fps=0),
                                dict(sample_rate=-1), dict(size=0)])
def test_bad_read_requests_are_media_errors(kw):
    with pytest.raises(MediaError):
        read_clip(encode_clip(click_flash_clip()[0], ".mkv"), **kw)


@pytest.mark.parametrize("fps, sr", [(30000 / 1001, 44100), (25.0, 22050), (24.0, 48000), (15.0, 11025)])
def test_ingest_pieces_are_valid_at_awkward_rates(fps, sr):
    for frames in range(20, 140, 7):
        n = timebase.n_samples_for_frames(frames, fps, sr)
        clip = Clip(video=np.zeros((frames, 8, 8, 3), np.uint8), audio=np.zeros((1, n), np.float32), fps=fps,
                    sample_rate=sr)
        pieces = list(_pieces(clip, IngestConfig(segment=1.0, min_seconds=0.1)))   # Clip checks each
        per, tail = timebase.n_frames(1.0, fps), frames % timebase.n_frames(1.0, fps)
        kept_tail = tail if tail >= timebase.n_frames(0.1, fps) else 0
        assert [p.n_frames for p in pieces] == [per] * (frames // per) + ([kept_tail] if kept_tail else [])


def test_sidecar_times_move_to_each_piece():
    extra = {"caption": "c", "events": [{"time": 0.5}, {"time": 1.25}, {"time": 2.0}],
             "speech": {"words": [{"word": "a", "start": 1.1, "end": 1.3}, {"word": "b", "start": 0.2, "end": 0.4}]},
             "music": {"beats": [0.9, 1.4]}}
    piece = shift_times(extra, 1.0, 1.0)
    assert piece["events"] == [{"time": 0.25}]
    assert piece["speech"]["words"] == [{"word": "a", "start": 0.1, "end": 0.3}] and piece["speech"]["transcript"] == "a"
    assert piece["music"]["beats"] == [0.4] and piece["caption"] == "c"


def test_endless_loader_over_only_bad_samples_stops_with_an_error(tmp_path):
    raw_tar(tmp_path / "bad.tar", [("x.json", b"{oops"), ("x.mp4", b"junk")])
    ds = ClipWindows(tmp_path, seconds=1.0, epochs=None)
    with pytest.raises(DuettoError, match="no usable samples"):
        next(iter(ds))


def test_set_epoch_gives_new_windows(tmp_path):
    clip, _ = click_flash_clip(frames=250)
    raw_tar(tmp_path / "a.tar", [("c.json", meta_bytes(duration=10.0)), ("c.mp4", encode_clip(clip, audio_codec="flac"))])
    ds = ClipWindows(tmp_path, seconds=1.0, windows_per_clip=4, seed=1)
    first = [w["start"] for w in ds]
    assert [w["start"] for w in ds] == first
    ds.set_epoch(1)
    assert [w["start"] for w in ds] != first
