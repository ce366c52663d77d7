"""Latent caches: `duetto-data encode` on untrained tiny VAEs, the loader, the time base of stored latents,
and one-line errors (exit code 2) for bad VAE folders, data and output folders, and corrupt latent shards."""
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from shard_utils import meta_bytes, synth_shard
from duetto.audio.vae import AudioVAE
from duetto.audio.vae import preset as audio_preset
from duetto.data import encode_clip, read_clip
from duetto.data.cli import main
from duetto.data.errors import DuettoError
from duetto.data.latent_format import npy_bytes
from duetto.data.latents import LatentDataset, collate_latents, load_latents
from duetto.data.shards import ShardWriter, iter_shard
from duetto.data.synth import SynthConfig
from duetto.data.testsignals import click_flash_clip
from duetto.video.vae import VideoVAE, to_model_range
from duetto.video.vae import preset as video_preset

SIZE, FPS, SR = 32, 25.0, 16000
CFG = SynthConfig(seconds=1.2, fps=FPS, size=SIZE, sample_rate=SR)      # 30 frames: trimmed to 29 = 1 + 4 * 7
FLASH_FRAMES = (9, 12)         # the first and the last frame of video latent 3 (frames 9..12)


def _vaes(root, seed=0):
    torch.manual_seed(seed)
    v, a = VideoVAE(video_preset("tiny")).eval(), AudioVAE(audio_preset("tiny")).eval()
    return v, a, v.save_pretrained(root / f"video{seed}"), a.save_pretrained(root / f"audio{seed}")


@pytest.fixture(scope="module")
def vaes(tmp_path_factory):
    return _vaes(tmp_path_factory.mktemp("vaes"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two synthetic scenes, and two click-and-flash clips whose JSON carries a speech transcript."""
    d = tmp_path_factory.mktemp("clips")
    synth_shard(d, "impacts", [0], CFG, prefix="a")
    synth_shard(d, "music", [1], CFG, prefix="b")
    with ShardWriter(d, prefix="c") as w:
        for e in FLASH_FRAMES:
            clip, t = click_flash_clip(fps=FPS, sr=SR, frames=30, event_frame=e, size=SIZE)
            speech = {"transcript": "hi there", "words": [{"word": "hi", "start": t, "end": t + 0.2}]}
            meta = meta_bytes(duration=1.2, events=[{"time": t, "kind": "flash"}], speech=speech)
            w.write(f"flash{e}", {"mp4": encode_clip(clip, audio_codec="flac"), "json": meta})
    return d


def _encode(clips, vaes, out, *extra):
    return main(["encode", str(clips), "--video-vae", str(vaes[2]), "--audio-vae", str(vaes[3]), "--out", str(out),
                 "--size", str(SIZE), "--chunk-seconds", "0.5", "--quiet", *extra])


@pytest.fixture(scope="module")
def latents(clips, vaes, tmp_path_factory):
    out = tmp_path_factory.mktemp("latents") / "out"
    assert _encode(clips, vaes, out, "--shard-size", "3") == 0
    return out


def _sources(clips):
    return {s.key: s for shard in sorted(clips.glob("*.tar")) for s in iter_shard(shard)}


def test_round_trip_equals_encoding_the_decoded_clip(clips, vaes, latents):
    v, a = vaes[0], vaes[1]
    assert sorted(p.name for p in latents.iterdir()) == ["latents-000000.tar", "latents-000001.tar"]
    got = load_latents(latents, video_vae=vaes[2], audio_vae=vaes[3])
    src = _sources(clips)
    assert [c["key"] for c in got] == list(src)
    for c in got:
        s = src[c["key"]]
        clip = read_clip(s.files["mp4"], fps=FPS, size=SIZE, sample_rate=SR, channels=1)
        with torch.no_grad():                                      # one shot, trimmed to 29 frames by hand
            zv = v.encode(to_model_range(torch.from_numpy(clip.video[:29])[None]))[0]
            za = a.encode(torch.from_numpy(clip.audio[:, :18560])[None])[0]
        assert c["video"].dtype == torch.float32 and c["video"].shape == zv.shape == (v.latent_channels, 8, 4, 4)
        assert c["audio"].shape == za.shape == (a.latent_channels, 58)
        assert c["music"].shape == (58, 14) and c["voice"].shape == (66,)          # conditions from the sound
        torch.testing.assert_close(c["video"], zv, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(c["audio"], za, atol=1e-5, rtol=1e-5)
        assert np.array_equal(c["video_times"].numpy(), v.timestamps(8))
        assert np.array_equal(c["audio_times"].numpy(), a.timestamps(58))
        assert c["meta"] == json.loads(s.files["json"]) and c["caption"] == c["meta"]["caption"]
        assert c["info"]["source"] == {"shard": s.shard.rsplit("/", 1)[-1], "key": s.key}
    assert got[0]["meta"]["family"] == "impacts" and got[0]["meta"]["events"]
    assert got[2]["meta"]["speech"]["transcript"] == "hi there"


def test_time_base_is_exact(vaes, latents):
    """1.2 s at 25 fps is 30 frames; 29 (1 + 4 * 7) are encoded into 8 latents spanning 1.16 s, and the audio
    spans exactly the same 1.16 s in 58 latents of 20 ms. One frame (40 ms) off anywhere fails this."""
    c = load_latents(latents)[0]
    v, a = c["info"]["video"], c["info"]["audio"]
    assert (v["source_frames"], v["frames"], v["latents"], v["temporal_factor"]) == (30, 29, 8, 4)
    assert v["seconds"] == pytest.approx(1.16, abs=1e-12) and v["fps"] == FPS
    assert (a["samples"], a["latents"], a["padded_samples"]) == (18560, 58, 0)
    assert a["seconds"] == pytest.approx(1.16, abs=1e-12)
    vt, at = c["video_times"].numpy(), c["audio_times"].numpy()
    assert vt[:3] == pytest.approx([0.0, 0.1, 0.26], abs=1e-12)     # frame 0; frames 1-4; frames 5-8
    assert vt[-1] == pytest.approx(26.5 / 25, abs=1e-12)            # frames 25-28
    assert at[0] == pytest.approx(0.01, abs=1e-12) and at[-1] + 0.01 == pytest.approx(v["seconds"], abs=1e-12)


def test_flash_and_click_land_on_the_latents_at_their_time(vaes, latents):
    """Against ground truth, not against our own decoder: the flash at frame e first changes video latent
    ceil(e / 4) (the causal map), whose timestamp is within 1.5 frames of it; the click changes audio latents
    centred on the one nearest its time. A flash at 9 and one at 12 pin latent 3 from both sides."""
    v, a = vaes[0], vaes[1]
    with torch.no_grad():
        dark = v.encode(torch.full((1, 3, 29, SIZE, SIZE), 30 / 127.5 - 1))[0]
        silent = a.encode(torch.zeros(1, 1, 18560))[0]
    for c in load_latents(latents)[2:]:
        t = c["meta"]["events"][0]["time"]
        dv = (c["video"] - dark).pow(2).mean(dim=(0, 2, 3))                              # [L_v]
        first = int(torch.nonzero(dv > 1e-3 * dv.max())[0, 0])                           # causal: later ones change too
        assert first == 3 and abs(c["video_times"][first].item() - t) <= 1.5 / FPS + 1e-9, (c["key"], dv)
        da = (c["audio"] - silent).pow(2).sum(dim=0)                                     # [L_a]
        moved = torch.nonzero(da > 1e-6 * da.max())[:, 0]                                # chunking: 1e-12 noise
        centre = c["audio_times"][int(moved.min() + moved.max()) // 2].item()
        assert abs(centre - (t + 0.003)) <= 0.0201, (c["key"], t, centre)                # the 6 ms burst's centre


def test_dataset_batches_and_checks_the_vae(vaes, latents, tmp_path):
    ds = LatentDataset(latents, shuffle=True, seed=3, video_vae=vaes[0], audio_vae=vaes[1])
    batches = list(DataLoader(ds, batch_size=2, collate_fn=collate_latents))
    cv, ca = vaes[0].latent_channels, vaes[1].latent_channels
    assert [b["video"].shape for b in batches] == [(2, cv, 8, 4, 4)] * 2 and batches[0]["audio"].shape == (2, ca, 58)
    assert sorted(k for b in batches for k in b["key"]) == sorted(c["key"] for c in load_latents(latents))
    sha = load_latents(latents)[0]["info"]["vae"]["video"]["weights_sha256"]
    assert len(load_latents(latents, video_vae=sha)) == 4
    other = _vaes(tmp_path, seed=1)
    with pytest.raises(DuettoError, match="latents-000000.tar:.*different video VAE.*weights sha256"):
        load_latents(latents, video_vae=other[2])
    with pytest.raises(DuettoError, match="different audio VAE"):
        load_latents(latents, audio_vae=other[1])


def test_float16_storage_and_no_partial_shard_after_a_crash(clips, vaes, latents, tmp_path, monkeypatch):
    out = tmp_path / "half"
    assert _encode(clips, vaes, out, "--dtype", "float16") == 0
    for h, f in zip(load_latents(out), load_latents(latents)):
        assert h["info"]["dtype"] == "float16" and h["video"].dtype == torch.float32
        torch.testing.assert_close(h["video"], f["video"], atol=2e-3, rtol=1e-3)
        torch.testing.assert_close(h["audio"], f["audio"], atol=2e-3, rtol=1e-3)
    from duetto.data import encode
    calls = []

    def crash(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(self, *args)
    real = encode.ClipEncoder.sample
    monkeypatch.setattr(encode.ClipEncoder, "sample", crash)
    assert _encode(clips, vaes, tmp_path / "crash", "--shard-size", "1") == 4     # an internal error: one line
    assert sorted(p.name for p in (tmp_path / "crash").iterdir()) == ["latents-000000.tar"]   # no .tmp left


# -- bad input: one line, exit code 2 ------------------------------------------------------------------
def _one_line_error(capsys, *phrases):
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if "error:" in ln]
    assert len(err) == 1 and err[0].startswith("duetto-data: error: "), err
    for p in phrases:
        assert p in err[0], err[0]


@pytest.fixture(scope="module")
def bad_vaes(vaes, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    corrupt = d / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_bytes((vaes[2] / "config.json").read_bytes())
    (corrupt / "model.safetensors").write_bytes((vaes[2] / "model.safetensors").read_bytes()[:5000])
    garbage = d / "garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("{not json")
    return {"missing": d / "nope", "corrupt": corrupt, "garbage": garbage}


@pytest.mark.parametrize("case,phrases", [
    ("video_missing", ["--video-vae", "not a model folder"]),
    ("video_corrupt", ["--video-vae", "corrupt weights"]),
    ("video_garbage", ["--video-vae", "invalid JSON"]),
    ("video_as_audio", ["--audio-vae", "is a video autoencoder (VideoVAE), not audio"]),
    ("audio_as_video", ["--video-vae", "is an audio autoencoder (AudioVAE), not video"]),
    ("no_data", ["nowhere: no such shard"]),
    ("empty_dir", ["no .tar shards found"]),
    ("all_corrupt", ["no usable clips in 1 shard(s)"]),
    ("out_has_shards", ["already holds shards"]),
    ("out_is_file", ["exists and is not a directory"]),
    ("out_is_input", ["holds input shards"]),
    ("bad_size", ["--size 36 does not suit the video VAE", "multiples of 8"]),
])
def test_bad_input_is_one_line_and_exit_2(case, phrases, clips, vaes, bad_vaes, latents, tmp_path, capsys):
    video, audio, data, out, extra = str(vaes[2]), str(vaes[3]), str(clips), tmp_path / "o", []
    if case.startswith("video_") and case != "video_as_audio":
        video = str(bad_vaes[case.split("_")[1]])
    elif case == "video_as_audio":
        audio = str(vaes[2])
    elif case == "audio_as_video":
        video = str(vaes[3])
    elif case == "no_data":
        data = str(tmp_path / "nowhere")
    elif case == "empty_dir":
        (tmp_path / "empty").mkdir()
        data = str(tmp_path / "empty")
    elif case == "all_corrupt":
        (tmp_path / "bad.tar").write_bytes(b"\x00garbage" * 300)
        data = str(tmp_path / "bad.tar")
    elif case == "out_has_shards":
        out = latents
    elif case == "out_is_file":
        out.write_text("x")
    elif case == "out_is_input":
        out, data = clips, str(clips / "a-000000.tar")
    elif case == "bad_size":
        extra = ["--size", "36"]
    args = ["encode", data, "--video-vae", video, "--audio-vae", audio, "--out", str(out), "--quiet",
            "--size", str(SIZE), *extra]
    assert main(args) == 2
    _one_line_error(capsys, *phrases)


def test_a_corrupt_input_shard_is_skipped_with_its_reason(clips, vaes, tmp_path, capsys, caplog):
    data = tmp_path / "in"
    data.mkdir()
    (data / "good.tar").write_bytes((clips / "a-000000.tar").read_bytes())
    (data / "torn.tar").write_bytes((clips / "b-000000.tar").read_bytes()[:3000])
    assert _encode(data, vaes, tmp_path / "out", "--json") == 0
    rep = json.loads(capsys.readouterr().out)
    assert [w["key"] for w in rep["written"]] == ["impacts-0000000"]
    assert len(rep["skipped"]) == 1 and "torn.tar" in rep["skipped"][0]["source"]
    assert "corrupt_tar" in rep["skipped"][0]["reason"] and "torn.tar" in caplog.text


# -- corrupt latent shards: the loader names the file in one line ----------------------------------------
def _members(path):
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers()]


def _write(path, members):
    with tarfile.open(path, "w") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def _hostile_header(a):
    """A header that claims 1.6 PB: refused before anything is allocated."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": (99999999999, 8, 99999, 4)})
    return buf.getvalue() + a.tobytes()


CORRUPTIONS = {
    "truncated": (None, "corrupt_tar"),
    "bad_json": ("json", lambda d, a: b"{oops", "invalid JSON"),
    "not_latents_json": ("json", lambda d, a: b'{"caption": "x"}', "not a duetto-latents/1 sample"),
    "bad_time_base": ("json", lambda d, a: d.replace(b'"frames": 29', b'"frames": 30'), "inconsistent time base"),
    "hostile_npy": ("video.npy", lambda d, a: _hostile_header(a), "needs"),
    "nan": ("audio.npy", lambda d, a: npy_bytes(np.full_like(a, np.nan)), "NaN"),
    "wrong_dtype": ("audio.npy", lambda d, a: npy_bytes(a.astype(np.float64)), "expected a C-order 2-d array"),
    "wrong_shape": ("audio.npy", lambda d, a: npy_bytes(a[:, :-1]), "do not match the recorded shape"),
    "not_npy": ("video_times.npy", lambda d, a: b"hello", "not a readable .npy"),
    "missing_member": ("audio_times.npy", None, "no .audio_times.npy member"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_latent_shard_is_a_one_line_error_naming_the_file(case, latents, tmp_path):
    src = sorted(latents.glob("*.tar"))[0]
    bad = tmp_path / "bad.tar"
    if case == "truncated":                    # cut inside the last member's data, whatever the members' sizes
        with tarfile.open(src) as t:
            last = t.getmembers()[-1]
        bad.write_bytes(src.read_bytes()[: last.offset_data + last.size // 2])
    else:
        member, change, _ = CORRUPTIONS[case]
        out = []
        for name, data in _members(src):
            if name.endswith(f".{member}") and name.startswith("impacts"):
                if change is None:
                    continue
                arr = np.load(io.BytesIO(data)) if member.endswith(".npy") and data[:6] == b"\x93NUMPY" else None
                data = change(data, arr)
            out.append((name, data))
        _write(bad, out)
    phrase = CORRUPTIONS[case][-1]
    with pytest.raises(DuettoError) as e:
        load_latents(bad)
    assert str(bad) in str(e.value) and phrase in str(e.value) and "\n" not in str(e.value), str(e.value)
    ds = LatentDataset(bad, strict=False)
    assert len(list(ds)) < 3 and sum(ds.skipped.values()) == 1


def test_load_latents_gives_every_process_every_clip(latents, monkeypatch):
    """A training job's processes each hold the whole set (they take their share of each step's draw), so loading
    under an initialised process group must not split the shards as a streaming reader does."""
    from duetto.data import latents as module
    from duetto.data.latents import LatentDataset, load_latents
    alone = [c["key"] for c in load_latents(latents)]
    monkeypatch.setattr(module, "reader_slot", lambda: (1, 2, None))     # rank 1 of 2
    assert [c["key"] for c in load_latents(latents)] == alone
    streamed = [c["key"] for c in LatentDataset(latents)]
    assert len(streamed) < len(alone)                                     # a streaming reader still takes its share


def test_latents_recorded_before_a_later_config_field_still_match():
    """A VAE record leaves a `LATER_FIELDS` field out at its old value: latents encoded before ``harmonics`` existed
    (their record has no such field) match the same VAE today; a VAE with a harmonic source is another VAE."""
    import dataclasses

    from duetto.data.latent_format import record_mismatch, vae_record
    torch.manual_seed(0)
    vae = AudioVAE(audio_preset("tiny"))
    today = vae_record(vae)
    before = json.loads(json.dumps(today))
    before["config"].pop("harmonics", None)
    assert "harmonics" not in today["config"] and record_mismatch(before, today) is None
    other = AudioVAE(dataclasses.replace(audio_preset("tiny"), harmonics=8))
    assert "harmonics" in (record_mismatch(vae_record(other), today) or "")
