"""`duetto-train vae` end to end on a tiny shard: a run, its resume, and one-line errors with exit code 2."""
import json
from pathlib import Path

import pytest
import torch

from duetto.data.autoencoder import load_autoencoder
from duetto.data.bank import load_bank
from duetto.data.errors import DuettoError
from duetto.data.synth import SynthConfig, render_sample
from duetto.data.shards import ShardWriter
from duetto.train.cli import main

SMALL = ["--frames", "5", "--size", "32", "--batch-size", "1", "--log-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    cfg = SynthConfig(seconds=1.0, fps=25, size=32)
    with ShardWriter(d, prefix="impacts") as w:
        for seed in range(3):
            key, files = render_sample("impacts", seed, cfg)
            w.write(key, files)
    return d


def test_bank_windows_depend_only_on_seed_and_step(shard):
    bank = load_bank([str(shard)], fps=25, size=32, sample_rate=16000, channels=1, min_seconds=0.5)
    assert len(bank) == 3 and bank.videos[0].shape == (25, 32, 32, 3) and bank.audios[0].shape == (1, 16000)
    a, b = bank.video_batch(0, 7, 2, 5), bank.video_batch(0, 7, 2, 5)
    assert a.shape == (2, 5, 32, 32, 3) and (a == b).all()
    assert not (bank.video_batch(0, 8, 2, 5) == a).all()
    train, held = bank.split(0.3)
    assert len(train) == 2 and len(held) == 1 and held.keys[0] == sorted(bank.keys)[1]
    with pytest.raises(DuettoError, match="no usable clips"):
        load_bank([str(shard)], fps=25, size=32, sample_rate=16000, channels=1, min_seconds=5.0)


def test_train_video_vae_writes_a_loadable_model_and_resumes(shard, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = ["vae", "--modality", "video", "--data", str(shard), "--out", str(out), "--ckpt-every", "2",
            "--eval-every", "2", "--preset", "tiny-x1"] + SMALL
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3"]) == 0                       # resumes at step 2, runs step 3
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    model = load_autoencoder(out / "model")
    assert model.config.temporal_factor == 1
    # the exported latents are calibrated to unit variance on the training clips
    from duetto.train.vae_tasks import calibration_inputs
    bank = load_bank([str(shard)], fps=25, size=32, sample_rate=16000, channels=1, min_seconds=0.5)
    z = torch.cat([model.encode(x).flatten() for x in calibration_inputs("video", bank.split(0.1)[0])])
    assert abs(z.mean().item()) < 1e-3 and abs(z.std().item() - 1) < 1e-3 and model.config.latent_scale != 1.0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["preset"] == "tiny-x1" and run["commit"] and len(run["resumes"]) == 1
    # a different run into the same folder is refused
    assert main(["vae", "--modality", "video", "--data", str(shard), "--out", str(out), "--preset", "tiny",
                 "--steps", "4"] + SMALL) == 2
    assert "holds a different run" in capsys.readouterr().err
    # the same data given another way (relative, from its folder) is the same run: it resumes
    monkeypatch.chdir(Path(shard).parent)
    assert main([a if a != str(shard) else Path(shard).name for a in args] + ["--steps", "4"]) == 0
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_train_audio_vae_with_the_discriminator(shard, tmp_path):
    out = tmp_path / "audio"
    assert main(["vae", "--modality", "audio", "--data", str(shard), "--out", str(out), "--steps", "2",
                 "--seconds", "0.5", "--gan-start", "1", "--eval-every", "2", "--batch-size", "1", "--log-every", "1",
                 "--no-progress"]) == 0
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert "aux_loss" not in logs[0] and "aux_loss" in logs[1] and "adv" in logs[1]
    assert {"eval/log_mel_l1", "eval/multires_stft", "eval/onsets_within_10ms"} <= set(logs[1])
    model = load_autoencoder(out / "model")
    assert model.latents_per_second == 50


@pytest.mark.parametrize("extra,message", [
    (["--preset", "huge"], "unknown video VAE preset 'huge'"),
    (["--frames", "6"], "--frames must be 1 + 4*n"),
    (["--size", "30"], "--size must be a positive multiple of 8"),
])
def test_bad_options_are_one_line_errors(shard, tmp_path, capsys, extra, message):
    args = ["vae", "--modality", "video", "--data", str(shard), "--out", str(tmp_path / "r"), "--steps", "1"]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_data_and_corrupt_checkpoint(shard, tmp_path, capsys):
    assert main(["vae", "--modality", "video", "--data", str(tmp_path / "nothing.tar"), "--out",
                 str(tmp_path / "r"), "--steps", "1"] + SMALL) == 2
    assert "nothing.tar" in capsys.readouterr().err
    out = tmp_path / "run"
    args = ["vae", "--modality", "video", "--data", str(shard), "--out", str(out), "--ckpt-every", "1",
            "--preset", "tiny-x1"] + SMALL
    assert main(args + ["--steps", "1"]) == 0
    weights = next((out / "checkpoints").glob("step-*")) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    assert main(args + ["--steps", "2"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "step-00000001/model.safetensors: corrupt weights" in errors[0]


def test_export_a_checkpoint_while_the_run_goes_on(shard, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["vae", "--modality", "video", "--data", str(shard), "--out", str(run), "--ckpt-every", "1",
                 "--eval-every", "0", "--preset", "tiny-x1", "--steps", "2"] + SMALL) == 0
    out = tmp_path / "vae-step1"
    assert main(["export", str(run), "--step", "1", "--half", "--out", str(out), "--no-progress"]) == 0
    model = load_autoencoder(out)
    ema = load_autoencoder(run / "checkpoints" / "step-00000001" / "ema")
    for (name, p), q in zip(model.state_dict().items(), ema.state_dict().values()):
        assert torch.equal(p, q.half().float()), name                  # the step-1 EMA weights, in float16
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    from duetto.train.vae_tasks import calibration_inputs
    bank = load_bank([str(shard)], fps=25, size=32, sample_rate=16000, channels=1, min_seconds=0.5)
    z = torch.cat([model.encode(x).flatten() for x in calibration_inputs("video", bank.split(0.1)[0])])
    assert abs(z.mean().item()) < 1e-2 and abs(z.std().item() - 1) < 1e-2
    capsys.readouterr()
    assert main(["export", str(run), "--step", "7", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint step-00000007 (have: 1, 2)" in err and len(err.splitlines()) == 1
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["export", str(run), "--guidance", "6", "--sync-scale", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()       # a bundle's sampling defaults mean nothing for a VAE: refused
    assert "--guidance, --sync-scale: for joint runs" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_init_starts_a_new_run_from_saved_weights(shard, tmp_path, capsys):
    from duetto.audio.vae import AudioVAE
    from duetto.audio.vae import preset as audio_preset
    from duetto.video.vae import VideoVAE, preset
    torch.manual_seed(3)
    start = VideoVAE(preset("tiny-x1")).save_pretrained(tmp_path / "start")
    run = tmp_path / "run"
    args = ["vae", "--modality", "video", "--data", str(shard), "--out", str(run), "--preset", "tiny-x1",
            "--eval-every", "0", "--steps", "1", "--lr", "1e-12"] + SMALL
    assert main(args + ["--init", str(start)]) == 0
    got, want = load_autoencoder(run / "model").state_dict(), load_autoencoder(start).state_dict()
    assert all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)       # the saved weights, barely moved
    assert json.loads((run / "run.json").read_text())["config"]["init"] == str(start)
    fresh = load_autoencoder(tmp_path / "start")
    assert main(args[:6] + [str(tmp_path / "fresh")] + args[7:]) == 0
    other = load_autoencoder(tmp_path / "fresh" / "model").state_dict()
    assert not all(torch.allclose(other[k], fresh.state_dict()[k], atol=1e-6) for k in other)
    AudioVAE(audio_preset("tiny")).save_pretrained(tmp_path / "audio")
    capsys.readouterr()
    assert main(args[:6] + [str(tmp_path / "r3")] + args[7:] + ["--init", str(tmp_path / "audio")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds AudioVAE weights, not VideoVAE" in err and len(err.splitlines()) == 1
