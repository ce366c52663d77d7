"""Media I/O: timing survives write -> read, for our reader and for an independent pts-based decode."""
import io
from fractions import Fraction

import av
import numpy as np
import pytest

from duetto.data.testsignals import click_flash_clip, click_time, flash_frame
from duetto.data import Clip, MediaError, encode_clip, probe, read_clip, timebase, write_clip
from duetto.data.media import decode_plain


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_round_trip_keeps_click_and_flash(tmp_path, suffix):
    clip, t = click_flash_clip(fps=25, sr=16000, frames=50, event_frame=17)
    path = write_clip(tmp_path / f"c{suffix}", clip)
    back = read_clip(path)
    assert back.video.shape == clip.video.shape and back.audio.shape == clip.audio.shape
    assert flash_frame(back.video) == 17
    assert abs(click_time(back.audio, back.sample_rate) - t) < 0.005
    assert abs(back.duration - clip.duration) < 1 / 25
    if suffix == ".mkv":   # lossless
        np.testing.assert_array_equal(back.video, clip.video)
        np.testing.assert_allclose(back.audio, clip.audio, atol=1e-6)


@pytest.mark.parametrize("audio_codec", ["aac", "flac"])
def test_written_mp4_is_in_sync_for_an_independent_decoder(tmp_path, audio_codec):
    # 44.1 kHz stereo at 29.97 fps, event between frames: nothing about it is round.
    fps, sr = 30000 / 1001, 44100
    clip, t = click_flash_clip(fps=fps, sr=sr, frames=60, event_frame=31, channels=2)
    path = tmp_path / "x.mp4"
    path.write_bytes(encode_clip(clip, audio_codec=audio_codec))
    buf, dsr, vframes = decode_plain(path)   # places audio by pts, as players do
    assert dsr == sr
    assert abs(click_time(buf[None], sr) - t) < 0.005        # AAC priming must not play as sound
    assert vframes[0][0] == 0.0 and len(vframes) == 60
    flash_pts = vframes[flash_frame(np.stack([v for _, v in vframes]))][0]
    assert abs(flash_pts - t) < 1e-3


@pytest.mark.parametrize("h, w", [(90, 102), (64, 64)])
def test_mp4_of_any_even_size_keeps_its_colours(tmp_path, h, w):
    """H.264 takes any even size; 4:2:0 chroma planes of H/2 rows fill whole rows of W only when 4 divides H,
    and such sizes (90, 170, 270 rows) once failed to write."""
    video = np.zeros((6, h, w, 3), np.uint8)
    video[:, : h // 2, :, 0] = 200          # red top half, blue bottom half
    video[:, h // 2:, :, 2] = 200
    path = write_clip(tmp_path / "x.mp4", Clip(video=video, audio=np.zeros((1, 3840), np.float32), fps=25,
                                               sample_rate=16000))
    _, _, frames = decode_plain(path)
    rgb = frames[3][1].astype(float)
    assert rgb.shape == (h, w, 3)
    top, bottom = rgb[4: h // 2 - 4].mean(axis=(0, 1)), rgb[h // 2 + 4: -4].mean(axis=(0, 1))
    assert top[0] > 150 and top[2] < 50 and bottom[2] > 150 and bottom[0] < 50, (top, bottom)


def test_writer_gives_audio_frames_pts_so_aac_priming_is_signalled(tmp_path):
    """Guard for the measured bug: AAC frames without pts ship 64 ms late at 16 kHz."""
    clip, t = click_flash_clip(sr=16000)
    path = write_clip(tmp_path / "x.mp4", clip)
    with av.open(str(path)) as c:
        first = next(c.decode(audio=0))
        assert float(first.pts * first.time_base) == pytest.approx(0.0, abs=1e-3)
    buf, sr, _ = decode_plain(path)
    assert abs(click_time(buf[None], sr) - t) < 0.005


def test_resampling_rate_size_fps_keeps_timing(tmp_path):
    fps, sr = 30000 / 1001, 44100
    t = 1.2345
    clip, _ = click_flash_clip(fps=fps, sr=sr, frames=75, size=96, channels=2, event_time=t)
    path = write_clip(tmp_path / "x.mkv", clip)
    back = read_clip(path, fps=25, size=(32, 48), sample_rate=16000, channels=1)
    assert back.video.shape == (timebase.n_frames(75 / fps, 25), 32, 48, 3)
    assert back.audio.shape == (1, timebase.n_samples_for_frames(back.n_frames, 25, 16000))
    assert abs(click_time(back.audio, 16000) - t) < 0.005
    # the 25 fps frames showing the flash are exactly those whose nearest source frame is the flash
    src = np.arange(75) / fps
    flash_src = timebase.frame_of(t, fps)
    lit = [k for k in range(back.n_frames) if back.video[k].mean() > 100]
    want = [k for k in range(back.n_frames) if np.argmin(np.abs(src - k / 25)) == flash_src]
    assert lit == want and lit
    assert all(abs(k / 25 - flash_src / fps) <= 0.5 / fps + 1e-3 for k in lit)   # never more than half a source frame


def test_start_and_duration_cut_both_streams_at_the_same_instant(tmp_path):
    clip, t = click_flash_clip(frames=100, event_frame=60)
    path = write_clip(tmp_path / "x.mkv", clip)
    back = read_clip(path, start=1.6, duration=1.0)          # frames 40..64
    assert back.n_frames == 25 and back.audio.shape[1] == 16000 and back.start == 1.6
    assert flash_frame(back.video) == 20
    assert abs(click_time(back.audio, 16000) - (t - 1.6)) < 0.001
    with pytest.raises(MediaError, match="only 4.000 s long"):
        read_clip(path, start=3.5, duration=1.0)


def test_variable_frame_rate_is_resampled_by_timestamps(tmp_path):
    """Frames at irregular pts (ms): each 25 fps output frame shows the source frame nearest in time."""
    pts_ms = [0, 30, 70, 80, 150, 200, 260, 330, 400, 410, 480, 560, 600, 700, 760, 800, 880, 950]
    buf = io.BytesIO()
    sr = 16000
    with av.open(buf, "w", format="matroska") as out:
        vs = out.add_stream("ffv1", rate=1000)
        vs.width = vs.height = 16
        vs.pix_fmt = "bgr0"
        vs.time_base = Fraction(1, 1000)
        aus = out.add_stream("pcm_f32le", rate=sr, layout="mono")
        for i, p in enumerate(pts_ms):
            f = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 10 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = p, Fraction(1, 1000)
            out.mux(vs.encode(f))
        a = av.AudioFrame.from_ndarray(np.zeros((1, sr), np.float32), format="flt", layout="mono")
        a.sample_rate, a.pts, a.time_base = sr, 0, Fraction(1, sr)
        out.mux(aus.encode(a))
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    clip = read_clip(buf.getvalue(), fps=25)
    for k in range(clip.n_frames):
        nearest = min(range(len(pts_ms)), key=lambda i: (abs(pts_ms[i] - k * 40), i))
        assert clip.video[k, 0, 0, 0] == 10 * nearest, k


def test_stereo_to_mono_and_back():
    clip, _ = click_flash_clip(channels=2)
    data = encode_clip(clip, ".mkv")
    assert read_clip(data, channels=1).channels == 1
    mono, _ = click_flash_clip(channels=1)
    st = read_clip(encode_clip(mono, ".mkv"), channels=2)
    assert st.channels == 2 and np.allclose(st.audio[0], st.audio[1])


def test_real_clips_frame_counts_and_durations(media):
    expected = {  # name: (frames, fps, sample rate)
        "chopping_2997fps.mp4": (241, 30000 / 1001, 44100), "drum_vas.mp4": (251, 25.0, 22050),
        "hitting_metal_15fps.mp4": (90, 15.0, 44100), "talking_face2.mp4": (125, 25.0, 44100),
        "talking_face3.mp4": (125, 25.0, 44100), "talking_face5.mp4": (122, 25.0, 44100),
        "talking_hdtf_512.mp4": (200, 25.0, 16000),
    }
    for name, (frames, fps, sr) in expected.items():
        clip = read_clip(media / name, size=32)
        assert clip.n_frames == frames, name
        assert clip.fps == pytest.approx(fps, rel=1e-4), name
        assert clip.sample_rate == sr
        assert clip.duration == pytest.approx(frames / fps, abs=1e-6)
        assert abs(clip.duration - probe(media / name).duration) <= 1 / fps + 1e-6, name
        assert clip.audio.shape[1] == timebase.n_samples_for_frames(frames, fps, sr)


def test_real_clip_resampled_window(media):
    clip = read_clip(media / "hitting_metal_15fps.mp4", fps=25, size=64, sample_rate=16000, channels=1,
                     start=1.0, duration=2.0)
    assert clip.video.shape == (50, 64, 64, 3) and clip.audio.shape == (1, 32000)
    full = read_clip(media / "hitting_metal_15fps.mp4", sample_rate=16000, channels=1)
    np.testing.assert_allclose(clip.audio[0, 2000:30000], full.audio[0, 18000:46000], atol=2e-3)


def test_clip_rejects_mismatched_streams():
    with pytest.raises(ValueError, match="samples"):
        Clip(video=np.zeros((10, 8, 8, 3), np.uint8), audio=np.zeros((1, 100), np.float32), fps=25, sample_rate=16000)


def test_channel_mixing_of_many_channels():
    from duetto.data.media import _mix
    six = np.stack([np.full(10, float(i), np.float32) for i in range(6)])   # 5.1: channels 0..5
    np.testing.assert_allclose(_mix(six, 1)[0], 2.5)                         # mono: mean of all
    st = _mix(six, 2)
    np.testing.assert_allclose(st[:, 0], [(0 + 2 + 4) / 3, (1 + 3 + 5) / 3])  # folded, averaged
    assert _mix(six, None) is six


def test_decode_limits_stop_hostile_sizes(tmp_path):
    from duetto.data.media import Limits
    clip, _ = click_flash_clip(frames=50, size=64)
    data = encode_clip(clip, ".mkv")
    with pytest.raises(MediaError, match="exceeds the 32px limit"):
        read_clip(data, limits=Limits(max_side=32))
    with pytest.raises(MediaError, match="decoded video exceeds"):
        read_clip(data, limits=Limits(max_video_bytes=64 * 64 * 3 * 10))
    with pytest.raises(MediaError, match="longer than"):
        read_clip(data, limits=Limits(max_seconds=1.0))


def test_mp4_frames_converted_a_block_at_a_time_keep_their_own_picture(tmp_path, monkeypatch):
    """The writer converts RGB to YUV a block of frames at a time (flat memory for long clips): every frame, on
    either side of each block boundary, decodes to its own grey level, and the bytes equal one whole-clip block's."""
    import duetto.data.media as M
    levels = np.linspace(30, 220, 11).round().astype(np.uint8)
    video = np.broadcast_to(levels[:, None, None, None], (11, 32, 32, 3)).copy()
    clip = Clip(video=video, audio=np.zeros((1, 7040), np.float32), fps=25, sample_rate=16000)
    whole = encode_clip(clip)
    monkeypatch.setattr(M, "YUV_BLOCK", 4)
    path = tmp_path / "x.mp4"
    path.write_bytes(encode_clip(clip))
    assert path.read_bytes() == whole
    _, _, frames = decode_plain(path)
    got = np.array([f.astype(float).mean() for _, f in frames])
    assert len(got) == 11 and np.abs(got - levels).max() < 3, (got, levels)


def test_encoding_is_reproducible_whatever_was_encoded_before():
    a, _ = click_flash_clip(frames=30, event_frame=5)
    b, _ = click_flash_clip(frames=30, event_frame=20, size=32)
    first = encode_clip(a)
    encode_clip(b)
    assert encode_clip(a) == first


def test_read_luma_places_frames_and_sound_like_read_clip(tmp_path):
    """The analysis decoder (luma only, no deblocking, decimated) keeps read_clip's clock: same frame
    count, the flash on the same frame, the click at the same sample, at 29.97 fps from 128x96."""
    from duetto.data.media import read_luma
    clip, t = click_flash_clip(fps=30000 / 1001, sr=44100, frames=60, event_frame=23, size=128, channels=2)
    path = write_clip(tmp_path / "c.mp4", clip)
    full = read_clip(path, size=(48, 64), sample_rate=16000, channels=1)
    luma = read_luma(path, size=(48, 64), sample_rate=16000, channels=1)
    assert luma.luma.shape == (60, 48, 64) and luma.luma.dtype == np.uint8
    assert luma.fps == full.fps and np.array_equal(luma.audio, full.audio)
    assert flash_frame(luma.luma[..., None]) == flash_frame(full.video) == 23
    assert abs(click_time(luma.audio, 16000) - t) < 0.005
    assert abs(luma.duration - 60 / (30000 / 1001)) < 1e-9


@pytest.mark.parametrize("pix", ["yuv420p", "yuvj420p"])
def test_read_luma_at_the_source_size_gives_swscales_gray_exactly(tmp_path, monkeypatch, pix):
    """At the source's own size the luma plane is read through a lookup table (limited-range Y stretched, or
    full-range Y kept) instead of swscale: every frame equal to PyAV's own gray conversion, whatever the range."""
    from duetto.data.media import read_luma
    rng = np.random.default_rng(0)
    path = tmp_path / f"{pix}.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, pix
        a = out.add_stream("aac", rate=16000, layout="mono")
        for k in range(8):                                          # 0.5 s of silence: a file needs its sound
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, 1024 * k
            for p in a.encode(f):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
        for i in range(12):
            rgb = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
            rgb[:, : 8 * i] = 255                                   # a white band that grows: each frame its own
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    from duetto.data import media
    got = read_luma(path, size=(64, 96)).luma
    monkeypatch.setattr(media._FrameSink, "_native_gray", lambda self, frame: None)   # swscale for every frame
    ref = read_luma(path, size=(64, 96)).luma
    assert got.shape == ref.shape == (12, 64, 96) and np.array_equal(got, ref)
    assert len(np.unique(ref)) > 200                                # a real picture, not a constant one
