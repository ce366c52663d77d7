"""Data-parallel training divides the data: each process of a job takes its own slice of the step's draw, so
processes never train on the same clip in a step and 2 processes of B/2 draw what 1 process of B draws."""
import numpy as np
import pytest
import torch

from duetto.data.bank import Bank
from duetto.data.draw import draw_clips, mine


def _as(monkeypatch, rank, world):
    monkeypatch.setattr("duetto.data.draw.process", lambda: (rank, world))


def test_a_step_draws_distinct_clips_and_each_process_takes_its_slice():
    rng = np.random.default_rng([0, 5])
    idx = draw_clips(rng, 10, 8)
    assert len(set(idx.tolist())) == 8                           # no clip twice in a step while there are enough
    assert list(mine(idx, 4, 0)) + list(mine(idx, 4, 1)) == idx.tolist()
    assert len(draw_clips(np.random.default_rng(1), 3, 8)) == 8  # more than there are: repeats, no error
    p = np.array([0, 0, 1, 1, 1], float) / 3
    assert set(draw_clips(np.random.default_rng(2), 5, 3, p).tolist()) == {2, 3, 4}


def test_bank_batches_of_two_processes_are_disjoint_and_make_the_single_process_batch():
    videos = [np.full((6, 2, 2, 3), i, np.uint8) for i in range(12)]
    audios = [np.full((1, 40), i, np.float32) for i in range(12)]
    bank = Bank(videos, audios, [str(i) for i in range(12)], [{}] * 12, 25.0, 16000, {})
    whole = bank.video_batch(0, 3, 4, 2)
    halves = [bank.video_batch(0, 3, 2, 2, rank=r, world=2) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), whole)
    ids = [set(h[:, 0, 0, 0, 0].tolist()) for h in halves]
    assert not ids[0] & ids[1]
    a = [bank.audio_batch(1, 3, 3, 10, rank=r, world=2) for r in (0, 1)]
    assert torch.equal(torch.cat(a), bank.audio_batch(1, 3, 6, 10))


def test_joint_batches_of_two_processes_are_disjoint_and_make_the_single_process_batch(monkeypatch):
    from duetto.joint.config import preset
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.joint_task import JointTask
    from dataclasses import replace
    clips = [{"key": f"c{i}", "video": torch.full((4, 3, 4, 4), float(i)), "audio": torch.full((4, 12), float(i)),
              "video_times": torch.arange(3, dtype=torch.float64) * 0.16 + 0.02,
              "audio_times": torch.arange(12, dtype=torch.float64) * 0.04 + 0.02,
              "caption": f"clip {i}", "meta": {}, "voice": None, "music": None} for i in range(16)]
    enc = load_text_encoder("hashing-16")
    cfg = replace(preset("micro"), video_channels=4, audio_channels=4, video_patch=2, text_dim=16)

    def batch(per_process, rank, world):
        _as(monkeypatch, rank, world)
        task = JointTask(JointDiT(cfg), clips, [], enc, batch_size=per_process, seed=3, caption_dropout=0.5)
        return task.batch(7)
    whole = batch(6, 0, 1)
    parts = [batch(3, r, 2) for r in (0, 1)]
    for k in ("video", "audio", "text_mask", "voice"):
        assert torch.equal(torch.cat([p[k] for p in parts]), whole[k]), k
    ids = [set(p["video"][:, 0, 0, 0, 0].tolist()) for p in parts]
    assert not ids[0] & ids[1] and len(ids[0]) == 3
    assert parts[0]["noise_seed"] == whole["noise_seed"] != parts[1]["noise_seed"]


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    from dataclasses import replace

    from duetto.joint.config import preset
    from duetto.joint.model import JointDiT
    torch.manual_seed(0)
    model = JointDiT(replace(preset("micro"), video_channels=4, audio_channels=4, video_patch=2, text_dim=16))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    v, a = torch.randn(2, 4, 3, 4, 4), torch.randn(2, 4, 12)
    vt, at = torch.arange(3, dtype=torch.float64) * 0.16, torch.arange(12, dtype=torch.float64) * 0.04
    t = torch.tensor([0.3, 0.7])
    grads = []
    for ckpt in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = ckpt
        pv, pa = model(v, a, t, t, vt, at, torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1)))
        (pv.square().mean() + pa.square().mean()).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-6), k


def test_a_torchrun_job_of_two_processes_trains_on_the_whole_batch(tmp_path):
    """Two gloo processes under torchrun: one run folder, the log's global batch is both processes' clips."""
    import json
    import os
    import subprocess

    from shard_utils import synth_shard
    from duetto.audio.vae import AudioVAE
    from duetto.audio.vae import preset as audio_preset
    from duetto.data.cli import main as data_main
    from duetto.data.synth import SynthConfig
    from duetto.video.vae import VideoVAE
    from duetto.video.vae import preset as video_preset
    torch.manual_seed(0)
    v = VideoVAE(video_preset("tiny")).save_pretrained(tmp_path / "v")
    a = AudioVAE(audio_preset("tiny")).save_pretrained(tmp_path / "a")
    synth_shard(tmp_path / "clips", "impacts", [0, 1, 2, 3], SynthConfig(seconds=1.0, fps=25.0, size=32), prefix="i")
    assert data_main(["encode", str(tmp_path / "clips"), "--video-vae", str(v), "--audio-vae", str(a), "--out",
                      str(tmp_path / "lat"), "--size", "32", "--quiet"]) == 0
    from duetto.joint.parallel import launch_command
    out = tmp_path / "run"
    r = subprocess.run(launch_command(2, "-m", "duetto.train.cli", "joint", "--data", tmp_path / "lat", "--preset",
                                      "micro", "--text-encoder", "hashing-16", "--batch-size", "2", "--steps", "2",
                                      "--warmup", "1", "--log-every", "1", "--held-out", "0", "--out", out,
                                      "--no-progress"),
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2] and all(x["global_batch"] == 4 for x in log)
    assert log[-1]["items_per_s"] == pytest.approx(2 * log[-1]["items_per_s_process"])
    assert json.loads((out / "run.json").read_text())["num_processes"] == 2
