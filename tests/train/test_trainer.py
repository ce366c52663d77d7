"""The shared training base on the toy task: exact resume (in-process and after SIGKILL), atomic and
loadable checkpoints, clear errors for bad configs and damaged checkpoints, EMA arithmetic, run records."""
import json
import random
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from duetto.data.autoencoder import load_autoencoder
from duetto.data.errors import DuettoError
from duetto.data.lock import FolderLock
from duetto.train.checkpoint import CHECKPOINTS, find_checkpoint, list_checkpoints, load_checkpoint
from duetto.train.config import TrainConfig
from duetto.train.ema import EMA
from duetto.train.testing import ToyMLP, ToyTask, kill_at_checkpoint, toy_config
from duetto.train.trainer import Trainer

STEPS = 12


def train(run_dir, steps, tensorboard=False, **kw):
    cfg = toy_config(steps=steps, **kw)
    return Trainer(ToyTask(aux_from=3), cfg, run_dir, {"task": "toy", "steps": steps}, progress=False,
                   tensorboard=tensorboard).fit()


def log_lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def losses(run_dir) -> dict[int, tuple[float, float]]:
    return {r["step"]: (r["loss"], r.get("aux_loss", 0.0)) for r in log_lines(run_dir)}


def assert_same_losses(run, ref, steps):
    for s in steps:
        assert run[s] == pytest.approx(ref[s], abs=1e-6, rel=0), s


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of 12 steps (checkpoints every 3, the newest 3 kept), with TensorBoard."""
    run = tmp_path_factory.mktemp("ref") / "run"
    train(run, STEPS, tensorboard=True)
    return run


def test_log_run_record_checkpoints_and_final_model(reference):
    lines = log_lines(reference)
    assert [r["step"] for r in lines] == list(range(1, STEPS + 1))
    for r in lines:
        assert isinstance(r["loss"], float) and {"lr", "grad_norm", "items_per_s", "mae"} <= set(r)
    assert "aux_loss" not in lines[1] and "aux_loss" in lines[2]              # the critic starts at step 3
    assert [r["step"] for r in lines if "eval/mse" in r] == [3, 6, 9, 12]
    assert lines[0]["lr"] == pytest.approx(5e-3) and lines[1]["lr"] == pytest.approx(1e-2)   # warm-up
    assert lines[-1]["eval/mse"] < lines[2]["eval/mse"]                       # it learns
    info = json.loads((reference / "run.json").read_text())
    assert isinstance(info["commit"], str) and info["commit"]
    assert info["config"] == {"task": "toy", "steps": STEPS} and info["train"]["steps"] == STEPS
    assert list((reference / "tb").glob("events.out.tfevents.*"))
    assert [s for s, _ in list_checkpoints(reference)] == [6, 9, 12]        # keep_checkpoints=3
    assert (reference / CHECKPOINTS / "latest").read_text().strip() == "step-00000012"
    assert not list((reference / CHECKPOINTS).glob(".*"))
    final = load_autoencoder(reference / "model")                            # the EMA, for inference
    ema = load_autoencoder(reference / CHECKPOINTS / "step-00000012" / "ema")
    assert isinstance(final, ToyMLP)
    for k, v in final.state_dict().items():
        assert torch.equal(v, ema.state_dict()[k])


def test_resume_in_process_is_exact(tmp_path, reference):
    run = tmp_path / "run"
    train(run, 3)
    assert find_checkpoint(run).name == "step-00000003"
    torch.manual_seed(1234), np.random.seed(1234), random.seed(1234)          # as in a fresh process
    train(run, 6)                                                            # a new Trainer resumes at 3
    assert [r["step"] for r in log_lines(run)] == list(range(1, 7))
    assert_same_losses(losses(run), losses(reference), range(1, 7))
    info = json.loads((run / "run.json").read_text())
    assert [r["step"] for r in info["resumes"]] == [3] and info["resumes"][0]["train"]["steps"] == 6
    task = ToyTask(aux_from=3)
    mine, ref = ToyMLP(task.config), ToyMLP(task.config)
    from duetto.train.checkpoint import load_weights
    load_weights(run / CHECKPOINTS / "step-00000006" / "model.safetensors", mine)
    load_weights(reference / CHECKPOINTS / "step-00000006" / "model.safetensors", ref)
    for k, v in mine.state_dict().items():
        assert torch.allclose(v, ref.state_dict()[k], atol=1e-6, rtol=0), k


def test_resume_after_sigkill_is_exact(tmp_path, reference):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "duetto.train.testing", str(run), "--steps", str(STEPS), "--ckpt-every", "2",
           "--sleep", "0.15", "--aux"]
    kill_at_checkpoint(cmd, run, settle=0.2, timeout=60)
    found = list_checkpoints(run)
    assert found and found[-1][0] < STEPS
    for step, folder in found:                                               # every folder is complete
        task = ToyTask(aux_from=3)
        _, state = load_checkpoint(folder, model=task.model, ema=ToyMLP(task.config), aux=task.aux)
        assert state["step"] == step
    resumed_at = found[-1][0]
    train(run, STEPS, ckpt_every=2)
    mine = losses(run)
    assert sorted(mine) == list(range(1, STEPS + 1))
    assert_same_losses(mine, losses(reference), range(resumed_at + 1, STEPS + 1))
    assert_same_losses(mine, losses(reference), range(1, resumed_at + 1))   # the killed run's own lines
    assert find_checkpoint(run).name == f"step-{STEPS:08d}"


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("short") / "run"
    train(run, 3)
    return run


@pytest.mark.parametrize("name, damage", [
    ("model.safetensors", "truncate"),
    ("ema/model.safetensors", "truncate"),
    ("aux.safetensors", "delete"),
    ("optim.pt", "truncate"),
    ("trainer.json", "garbage"),
])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, short_run, name, damage):
    run = tmp_path / "run"
    shutil.copytree(short_run, run)
    f = run / CHECKPOINTS / "step-00000003" / name
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "delete":
        f.unlink()
    else:
        f.write_text('{"step": 3, "rng": ')
    with pytest.raises(DuettoError, match=name.split("/")[-1].replace(".", r"\.")):
        train(run, 6)


def test_a_finished_run_is_left_as_it_is(tmp_path, short_run):
    run = tmp_path / "run"
    shutil.copytree(short_run, run)
    before = (run / "log.jsonl").read_text()
    assert train(run, 3) == run / "model"
    assert (run / "log.jsonl").read_text() == before and find_checkpoint(run).name == "step-00000003"


@pytest.mark.parametrize("bad", [dict(steps=0), dict(lr=0.0), dict(lr=float("nan")), dict(ema_decay=1.0),
                                 dict(grad_clip=-1.0), dict(log_every=0), dict(keep_checkpoints=0),
                                 dict(mixed_precision="fp8"), dict(steps=2.5), dict(betas=(0.9,)),
                                 dict(warmup_steps=True)])
def test_bad_config_is_a_clear_error(tmp_path, bad):
    with pytest.raises(DuettoError, match="train config: " + next(iter(bad))):
        TrainConfig(**bad).check()
    with pytest.raises(DuettoError):
        Trainer(ToyTask(), TrainConfig(**bad), tmp_path, {})
    with pytest.raises(DuettoError, match="unknown config field"):
        TrainConfig.from_dict({"stepz": 3})


def test_ema_follows_a_known_sequence():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    ema = EMA(model, decay=0.5)
    expected = 0.0
    for w in (1.0, 2.0, 3.0):
        with torch.no_grad():
            model[0].weight.fill_(w)
            model[1].running_mean.fill_(w)
        ema.update(model)
        expected = 0.5 * expected + 0.5 * w
        assert ema.module[0].weight.item() == pytest.approx(expected)
        assert ema.module[1].running_mean.item() == w                         # buffers are copied
    assert expected == pytest.approx(2.125)
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())


def test_ema_warms_up_so_a_short_run_keeps_little_of_its_initial_weights():
    from duetto.train.ema import warmed_decay
    assert warmed_decay(0.999, 1) == pytest.approx(2 / 11) and warmed_decay(0.999, 100) == pytest.approx(101 / 110)
    assert warmed_decay(0.995, 5000) == 0.995 and warmed_decay(0.999, None) == 0.999
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)                                            # the "initial weights"
    ema, expected = EMA(model, decay=0.999), 0.0
    for step in range(1, 1501):
        with torch.no_grad():
            model.weight.fill_(1.0)                                        # trained weights, constant here
        ema.update(model, step)
        d = min(0.999, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * 1.0
    assert ema.module.weight.item() == pytest.approx(expected, rel=1e-5)
    # the initial weights' share after 1,500 updates: prod of the decays, against 0.999 ** 1500 = 0.22 without warm-up
    assert 1 - ema.module.weight.item() < 0.01 < 0.999 ** 1500


def test_ema_of_a_pretrained_model_leaves_the_global_rng_alone():
    task = ToyTask()
    before = torch.get_rng_state()
    ema = EMA(task.model, decay=0.9)
    assert torch.equal(before, torch.get_rng_state())
    for k, v in task.model.state_dict().items():
        assert torch.equal(v, ema.state_dict()[k])


def test_learning_rate_warms_up_then_follows_a_half_cosine_to_the_floor():
    from duetto.train.trainer import lr_factor
    f = lr_factor(TrainConfig(steps=1100, warmup_steps=100, decay="cosine", min_lr_ratio=0.1))
    assert f(0) == pytest.approx(0.01) and f(99) == 1.0                # update 1 and update 100
    assert f(599) == pytest.approx(0.55) and f(1099) == pytest.approx(0.1) and f(5000) == pytest.approx(0.1)
    assert lr_factor(TrainConfig(steps=1100, warmup_steps=100))(1099) == 1.0
    with pytest.raises(DuettoError, match="decay"):
        TrainConfig(decay="linear").check()


def test_a_second_training_into_the_same_folder_is_refused(tmp_path):
    """Two trainings, one run folder: the second is refused with one line naming the first (pid), exit 2, while
    the first goes on to its last step; after it ends, the folder is free again (the kernel drops the lock)."""
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "duetto.train.testing", str(run), "--steps", "10",
                              "--ckpt-every", "5", "--sleep", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (run / "log.jsonl").exists() and time.monotonic() < deadline:   # the first has the lock
            time.sleep(0.1)
        second = subprocess.run([sys.executable, "-m", "duetto.train.testing", str(run), "--steps", "10"],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"in use by another training (pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        first.kill()
    assert sorted(losses(run)) == list(range(1, 11))                 # the first's steps, once each
    with FolderLock(run, "check"):                                   # free again
        pass


def test_a_sigkill_loop_at_random_moments_ends_with_the_uninterrupted_weights(tmp_path, reference):
    """Kill the toy training with SIGKILL at random moments (seeded; a checkpoint every step, so many kills land in a
    checkpoint write) and resume it each time: the final model (the EMA export), the last checkpoint's weights
    and the logged losses equal those of the uninterrupted run."""
    import signal
    from duetto.train.checkpoint import load_weights
    rng = random.Random(3)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "duetto.train.testing", str(run), "--steps", str(STEPS), "--ckpt-every", "1",
           "--sleep", "0.05", "--aux"]
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 4.0))                 # imports take ~1-2 s, then a step every ~0.1 s
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert kills >= 2
    assert sorted(losses(run)) == list(range(1, STEPS + 1))
    assert_same_losses(losses(run), losses(reference), range(1, STEPS + 1))
    for rel in ("model/model.safetensors", f"{CHECKPOINTS}/step-{STEPS:08d}/model.safetensors"):
        mine, ref = ToyMLP(ToyTask().config), ToyMLP(ToyTask().config)
        load_weights(run / rel, mine)
        load_weights(reference / rel, ref)
        for k, v in mine.state_dict().items():
            assert torch.allclose(v, ref.state_dict()[k], atol=1e-6, rtol=0), (rel, k)
