"""The loader: fixed shapes, windows on the frame grid, both streams cut at the same instant, bad
samples skipped and counted across worker processes."""
import multiprocessing

import numpy as np
import pytest
from torch.utils.data import DataLoader

from duetto.data.testsignals import click_flash_clip
from shard_utils import meta_bytes, raw_tar, synth_shard
from duetto.data import encode_clip, read_clip, timebase
from duetto.data.events import audio_onsets, visual_events
from duetto.data.loader import ClipWindows, collate
from duetto.data.synth import SynthConfig

CFG = SynthConfig(seconds=3.0, fps=25, size=64, sample_rate=16000)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    synth_shard(d, "impacts", range(3), CFG, prefix="a")
    synth_shard(d, "music", range(3), CFG, prefix="b")
    return d


def test_windows_have_fixed_shapes_and_keep_events_in_sync(shards):
    ds = ClipWindows(shards, seconds=1.6, fps=25, size=32, sample_rate=8000, seed=1)
    items = list(ds)
    assert len(items) == 6 and ds.bad_counts() == {}
    for it in items:
        assert it["video"].shape == (40, 32, 32, 3) and it["audio"].shape == (1, 12800)
        first = it["start"] * 25
        assert abs(first - round(first)) < 1e-9                    # on the frame grid
        events = [e["time"] - it["start"] for e in it["meta"]["events"]]
        inside = [t for t in events if 0.1 < t < 1.45]
        found = visual_events(it["video"].numpy())
        for t in inside:                                          # picture: the exact frame
            assert timebase.frame_of(t, 25) in set(found.tolist()), (it["key"], t, found)
        onsets = audio_onsets(it["audio"].numpy(), 8000)
        for t in inside:                                          # sound: within 10 ms
            assert np.min(np.abs(onsets - t)) < 0.010, (it["key"], t, onsets)


def test_resampled_window_keeps_a_click_at_the_flash(tmp_path):
    """A 29.97 fps / 44.1 kHz source read as 25 fps / 16 kHz windows: the click stays on the flash."""
    clip, t = click_flash_clip(fps=30000 / 1001, sr=44100, frames=90, event_frame=30)   # 1.001 s: kept at 25 fps
    raw_tar(tmp_path / "a.tar", [("c.json", meta_bytes(duration=clip.duration, fps=clip.fps, sample_rate=44100)),
                                 ("c.mp4", encode_clip(clip, audio_codec="flac"))])
    ds = ClipWindows(tmp_path, seconds=1.0, fps=25, size=32, sample_rate=16000, windows_per_clip=8, seed=3)
    src = np.arange(90) * 1001 / 30000
    n = 0
    for it in ds:
        rel = t - it["start"]
        if 0.05 < rel < 0.95:
            v, a = it["video"].numpy(), it["audio"].numpy()
            click = float(np.argmax(np.abs(a[0]) > 0.2)) / 16000
            assert abs(click - rel) < 0.005
            lit = [k for k in range(len(v)) if v[k].mean() > 100]
            want = [k for k in range(len(v)) if np.argmin(np.abs(src - (it["start"] + k / 25))) == 30]
            assert lit == want                       # the frames whose nearest source frame is the flash
            assert all(abs(k / 25 - rel) <= 0.5 / 29.97 + 1e-3 for k in lit)
            n += bool(lit)
    assert n > 0


def test_bad_samples_are_skipped_and_counted_across_workers(shards, tmp_path):
    mp4 = encode_clip(click_flash_clip()[0], audio_codec="flac")
    raw_tar(tmp_path / "bad1.tar", [("x.json", b"{oops"), ("x.mp4", mp4),
                                    ("y.json", meta_bytes()), ("y.mp4", b"not a video"),
                                    ("z.json", meta_bytes(duration=0.5)), ("z.mp4", mp4),
                                    ("w.json", meta_bytes())])
    raw_tar(tmp_path / "bad2.tar", [("ok.json", meta_bytes()), ("ok.mp4", mp4)])
    for workers in (0, 2):
        ds = ClipWindows([tmp_path / "bad1.tar", tmp_path / "bad2.tar"], seconds=1.0, fps=25, size=32,
                         sample_rate=16000)
        dl = DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate,
                        timeout=120 if workers else 0)
        batches = list(dl)
        assert sum(len(b["key"]) for b in batches) == 1
        assert ds.bad_counts() == {"bad_json": 1, "bad_media": 1, "too_short": 1, "missing_member": 1}


def test_workers_split_the_data_without_duplicates(shards):
    ds = ClipWindows(shards, seconds=1.0, fps=25, size=32, shuffle=False)
    dl = DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate, timeout=120)
    keys = [k for b in dl for k in b["key"]]
    assert sorted(keys) == sorted(f"{f}-{s:07d}" for f in ("impacts", "music") for s in range(3))


def test_loader_is_reproducible_by_seed(shards):
    a = [it["start"] for it in ClipWindows(shards, seconds=1.0, seed=7)]
    b = [it["start"] for it in ClipWindows(shards, seconds=1.0, seed=7)]
    c = [it["start"] for it in ClipWindows(shards, seconds=1.0, seed=8)]
    assert a == b and a != c


def test_endless_loader_with_fewer_samples_than_workers_keeps_going(tmp_path):
    """A worker whose share is empty steps aside; only a share that is all bad stops the run."""
    synth_shard(tmp_path, "impacts", [0], SynthConfig(seconds=2.0, fps=25, size=32))
    ds = ClipWindows(tmp_path, seconds=1.0, size=32, epochs=None)
    it = iter(DataLoader(ds, batch_size=1, num_workers=2, collate_fn=collate, timeout=120))
    assert [next(it)["key"] for _ in range(3)] == [["impacts-0000000"]] * 3


def _read_small(path, q):
    q.put(read_clip(path, size=(24, 40)).video.shape)


def test_a_forked_worker_decodes_after_its_parent_did(tmp_path):
    """PyAV 18.1.1 keeps one swscale context per thread; a forked worker inherited the parent's without its slice
    threads and hung on its first scaled frame (CI timed out). Each decode now converts with a context of its own."""
    path = tmp_path / "c.mp4"
    path.write_bytes(encode_clip(click_flash_clip(size=64, frames=20)[0], audio_codec="flac"))
    assert read_clip(path, size=(24, 40)).video.shape == (20, 24, 40, 3)       # the parent scales first
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_read_small, args=(path, q))
    p.start()
    p.join(60)
    hung = p.is_alive()
    if hung:
        p.kill()
        p.join()
    assert not hung, "the forked child did not finish decoding in 60 s"
    assert q.get(timeout=5) == (20, 24, 40, 3)
