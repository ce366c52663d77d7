"""`duetto-train joint` end to end on a few latent clips: a run that learns, its resume, the ablation
switches, and one-line errors with exit code 2."""
import json

import pytest
import torch

from shard_utils import synth_shard
from duetto.audio.vae import AudioVAE
from duetto.audio.vae import preset as audio_preset
from duetto.data.autoencoder import load_autoencoder
from duetto.data.cli import main as data_main
from duetto.data.synth import SynthConfig
from duetto.train.cli import main
from duetto.video.vae import VideoVAE
from duetto.video.vae import preset as video_preset

SIZE = 32
COMMON = ["--preset", "micro", "--text-encoder", "hashing-16", "--batch-size", "2", "--warmup", "1",
          "--log-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def latents(tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    torch.manual_seed(0)
    v = VideoVAE(video_preset("tiny")).save_pretrained(root / "v")
    a = AudioVAE(audio_preset("tiny")).save_pretrained(root / "a")
    cfg = SynthConfig(seconds=1.0, fps=25.0, size=SIZE)
    synth_shard(root / "clips", "impacts", [0, 1, 2], cfg, prefix="i")
    out = root / "latents"
    assert data_main(["encode", str(root / "clips"), "--video-vae", str(v), "--audio-vae", str(a), "--out", str(out),
                      "--size", str(SIZE), "--quiet"]) == 0
    return out


def test_a_joint_run_trains_resumes_and_exports(latents, tmp_path):
    out = tmp_path / "run"
    args = ["joint", "--data", str(latents), "--out", str(out), "--ckpt-every", "2", "--eval-every", "2",
            "--held-out", "0.3"] + COMMON
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert {"video", "audio", "eval/flow_video", "eval/flow_audio"} <= set(log[1])
    model = load_autoencoder(out / "model")
    assert type(model).__name__ == "JointDiT" and model.config.text_dim == 16 and model.config.window == 0.2
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["vae"]["video"]["weights_sha256"]


@pytest.mark.parametrize("cross,window,has_cross", [("global", None, True), ("none", 0.2, False)])
def test_the_ablations_are_one_switch(latents, tmp_path, cross, window, has_cross):
    out = tmp_path / cross
    assert main(["joint", "--data", str(latents), "--out", str(out), "--steps", "1", "--cross", cross] + COMMON) == 0
    cfg = load_autoencoder(out / "model").config
    assert cfg.window == window and cfg.cross_modal == has_cross


def test_video_patch_sets_the_video_tokens(latents, tmp_path):
    out = tmp_path / "p4"
    assert main(["joint", "--data", str(latents), "--out", str(out), "--steps", "1", "--video-patch", "4"] + COMMON) == 0
    model = load_autoencoder(out / "model")
    assert model.config.video_patch == 4 and model.video_in.in_features == model.config.video_channels * 16


def test_bad_joint_inputs_are_one_line_errors(latents, tmp_path, capsys):
    base = ["joint", "--out", str(tmp_path / "r"), "--steps", "1"] + COMMON
    for extra, message in [(["--data", str(tmp_path / "none.tar")], "none.tar"),
                           (["--data", str(latents), "--preset", "huge"], "unknown joint model preset"),
                           (["--data", str(latents), "--text-encoder", str(tmp_path)], "not a local text encoder"),
                           (["--data", str(latents), "--crop-seconds", "5"], "a crop of 31 video latents does not fit clips of 7"),
                           (["--data", str(latents), "--crop-seconds", "-1"], "--crop-seconds must be positive"),
                           (["--data", str(latents), "--video-patch", "3"], "grid 4x4 is not a multiple of --video-patch 3")]:
        assert main(base + extra) == 2                 # a repeated option: the last one counts
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_export_a_bundle_with_the_vaes_of_its_latents(latents, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["joint", "--data", str(latents), "--out", str(run), "--steps", "1", "--held-out", "0"] + COMMON) == 0
    root = latents.parent
    out = tmp_path / "bundle"
    assert main(["export", str(run), "--video-vae", str(root / "v"), "--audio-vae", str(root / "a"),
                 "--size", str(SIZE), "--sample-steps", "2", "--guidance", "6", "--video-guidance", "3",
                 "--guidance-max-t", "0.85", "--sync-scale", "2", "--half", "--out", str(out)]) == 0
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(out)
    trained = load_autoencoder(run / "model")
    for (name, p), q in zip(pipe.model.state_dict().items(), trained.state_dict().values()):
        assert torch.equal(p, q.half().float()), name
    assert pipe.config.size == SIZE and pipe.config.steps == 2 and pipe.config.text_encoder == "hashing-16"
    assert (pipe.config.video_scale, pipe.config.audio_scale) == (3.0, 6.0)    # --video-guidance sets the picture's
    assert pipe.config.guidance_max_t == 0.85
    assert pipe.config.video_sync_scale == pipe.config.audio_sync_scale == 2.0
    clip = pipe.generate("a ball drops", seconds=0.5, seed=1)[0]
    assert clip.video.shape[1:] == (SIZE, SIZE, 3)
    # VAEs other than the ones the latents came from are refused
    other = AudioVAE(audio_preset("tiny")).save_pretrained(tmp_path / "other")
    capsys.readouterr()
    assert main(["export", str(run), "--video-vae", str(root / "v"), "--audio-vae", str(other), "--out",
                 str(tmp_path / "b2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not the audio VAE the run's latents came from (weights sha256" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "b2").exists()
    assert main(["export", str(run), "--out", str(tmp_path / "b3")]) == 2
    assert "needs --video-vae and --audio-vae" in capsys.readouterr().err


def test_a_run_starts_from_a_bundle_and_drops_the_cross_modal_blocks_for_some_clips(latents, tmp_path, capsys, monkeypatch):
    first, root = tmp_path / "first", latents.parent
    assert main(["joint", "--data", str(latents), "--out", str(first), "--steps", "2", "--lr", "1e-2"] + COMMON) == 0
    bundle = tmp_path / "bundle"                               # a shipped-style bundle: float16 weights
    assert main(["export", str(first), "--video-vae", str(root / "v"), "--audio-vae", str(root / "a"),
                 "--size", str(SIZE), "--half", "--out", str(bundle)]) == 0
    start = {k: t.half().float() for k, t in load_autoencoder(first / "model").state_dict().items()}
    from duetto.joint.model import JointDiT
    seen = []
    forward = JointDiT.forward

    def spy(self, *args, cross_keep=None, **kw):
        seen.append(None if cross_keep is None else cross_keep.tolist())
        return forward(self, *args, cross_keep=cross_keep, **kw)
    monkeypatch.setattr(JointDiT, "forward", spy)
    out = tmp_path / "second"
    args = ["joint", "--data", str(latents), "--out", str(out), "--init", str(bundle), "--cross-dropout", "0.5",
            "--eval-every", "1000"] + COMMON
    assert main(args + ["--steps", "4", "--lr", "1e-12"]) == 0
    after = load_autoencoder(out / "model").state_dict()
    assert all(torch.allclose(start[k], after[k], atol=1e-6) for k in start)       # it started from those weights
    masks = [k for k in seen if k is not None]                                     # the 4 updates (evaluation: None)
    assert len(masks) == 4 and all(len(k) == 2 for k in masks) and {True, False} <= set(sum(masks, []))
    assert json.loads((out / "run.json").read_text())["config"]["cross_dropout"] == 0.5
    # a fine-tuned teacher stored against the bundle it started from (beside it), loaded as the run's own model
    common = ["export", str(out), "--video-vae", str(root / "v"), "--audio-vae", str(root / "a"), "--size", str(SIZE)]
    assert main(common + ["--delta", "full", "--out", str(tmp_path / "d")]) == 2
    assert "needs --delta-base" in capsys.readouterr().err
    assert main(common + ["--delta", "8", "--delta-base", str(bundle), "--out", str(tmp_path / "d")]) == 2
    assert "its video VAE is not the run's" in capsys.readouterr().err       # --half made the base's VAEs others
    assert main(["export", str(first), "--video-vae", str(root / "v"), "--audio-vae", str(root / "a"), "--size",
                 str(SIZE), "--out", str(tmp_path / "base")]) == 0
    assert main(common + ["--delta", "8", "--delta-base", str(tmp_path / "base"), "--out", str(tmp_path / "d")]) == 0
    from duetto.joint.pipeline import Pipeline
    capsys.readouterr()
    assert (tmp_path / "d" / "delta").is_dir() and not (tmp_path / "d" / "joint").exists()
    mine, whole = Pipeline.load(tmp_path / "d").model.state_dict(), load_autoencoder(out / "model").state_dict()
    assert all(torch.allclose(mine[k], whole[k].float(), atol=1e-3) for k in whole)
    capsys.readouterr()
    for extra, message in [(["--init", str(tmp_path / "nowhere")], "no such folder"),
                           (["--init", str(first / "model"), "--video-patch", "4"], "a different model: video_patch (4 here, 2 there)"),
                           (["--init", str(bundle), "--cross", "global"], "a different model: window (None here, 0.2 there)"),
                           (["--init", str(root / "v")], "holds VideoVAE weights, not JointDiT"),
                           (["--cross-dropout", "1"], "--cross-dropout must be in [0, 1)"),
                           (["--cross-dropout", "0.2", "--cross", "none"], "--cross-dropout needs cross-modal attention"),
                           (["--change-weight", "-1"], "--change-weight must be a finite number >= 0"),
                           (["--high-noise", "1.5"], "--high-noise and --given-prefix must be in [0, 1]"),
                           (["--given-prefix", "-0.1"], "--given-prefix must be in [0, 1]"),
                           (["--video-given", "0.5", "--audio-given", "0.5"], "with a sum of at most 0.8")]:
        assert main(["joint", "--data", str(latents), "--out", str(tmp_path / "bad"), "--steps", "1"] + COMMON + extra) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    bundle.rename(tmp_path / "moved")                          # a resume reads its checkpoint, not --init again
    assert main(args + ["--steps", "5", "--lr", "1e-12"]) == 0
    assert json.loads((out / "run.json").read_text())["resumes"][-1]["step"] == 4


def test_change_weight_and_given_shares_reach_the_loss_and_the_run_record(latents, tmp_path, monkeypatch):
    import duetto.train.joint_task as jt
    seen = []
    loss = jt.flow_loss

    def spy(*args, cfg, **kw):
        seen.append((cfg.change_weight, cfg.video_given, cfg.audio_given, cfg.high_noise, cfg.prefix))
        return loss(*args, cfg=cfg, **kw)
    monkeypatch.setattr(jt, "flow_loss", spy)
    out = tmp_path / "run"
    assert main(["joint", "--data", str(latents), "--out", str(out), "--steps", "2", "--change-weight", "2.5",
                 "--video-given", "0.3", "--high-noise", "0.25", "--given-prefix", "0.2"] + COMMON) == 0
    assert seen == [(2.5, 0.3, 0.05, 0.25, 0.2)] * 2
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["change_weight"] == 2.5 and config["video_given"] == 0.3 and "audio_given" not in config
    assert config["high_noise"] == 0.25 and config["given_prefix"] == 0.2 and config["model"]["known_prefix"] is True


def test_crops_keep_the_audio_that_spans_the_video_window(latents):
    from dataclasses import replace

    import numpy as np

    from duetto.data.latents import load_latents
    from duetto.joint.config import preset
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.joint_task import JointTask
    clips = load_latents([str(latents)])
    c0 = clips[0]
    cfg = replace(preset("micro"), video_channels=c0["video"].shape[0], audio_channels=c0["audio"].shape[0], text_dim=16)
    task = JointTask(JointDiT(cfg), clips, [], load_text_encoder("hashing-16"), batch_size=2, crop_seconds=0.48)
    vt, at = c0["video_times"].double(), c0["audio_times"].double()
    assert len(vt) == 7 and len(at) == 50           # 1 s at 25 fps: 1 + 4 * 6 frames; 50 audio latents per second
    starts = set()
    for step in range(1, 40):
        b = task.batch(step)
        assert b["video"].shape[2] == 3 and b["audio"].shape[2] == 24 == b["music"].shape[1]
        # a video latent (after the first) stands for 4 frames, 160 ms: its window is [t - 80 ms, t + 80 ms)
        lo, hi = float(b["video_times"][0]) - 0.08, float(b["video_times"][-1]) + 0.08
        assert np.allclose([lo + 0.01, hi - 0.01], [float(b["audio_times"][0]), float(b["audio_times"][-1])])
        i, j = int(torch.searchsorted(vt, b["video_times"][0])), int(torch.searchsorted(at, b["audio_times"][0]))
        assert i >= 1 and torch.equal(b["video_times"], vt[i:i + 3]) and torch.equal(b["audio_times"], at[j:j + 24])
        for v, a in zip(b["video"], b["audio"]):      # the latents of one clip, at those very places
            assert any(torch.equal(v, c["video"][:, i:i + 3]) and torch.equal(a, c["audio"][:, j:j + 24]) for c in clips)
        starts.add(i)
    assert starts == {1, 2, 3, 4}
    with pytest.raises(Exception, match="does not fit"):
        JointTask(JointDiT(cfg), clips, [], load_text_encoder("hashing-16"), crop_seconds=1.12)


def test_a_cropped_speech_window_gets_the_words_spoken_in_it(latents):
    """Word times on the clip's clock pick the words whose middle falls in the crop's window (a video latent
    spans [t - 80 ms, t + 80 ms)); without a crop, or without word times, the whole transcript is given."""
    from dataclasses import replace

    import numpy as np

    from duetto.data.latents import load_latents
    from duetto.joint.conditioning import _ID, phoneme_ids, phonemize
    from duetto.joint.config import preset
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.joint_task import JointTask
    clips = load_latents([str(latents)])[:2]
    words = [("her", 0.10, 0.20), ("friend", 0.30, 0.45), ("carried", 0.50, 0.72), ("boats", 0.80, 0.96)]
    clips[0]["meta"] = {"speech": {"transcript": "her friend carried boats", "voice": "en-us",
                                   "words": [{"word": w, "start": a, "end": b} for w, a, b in words]}}
    clips[1]["meta"] = {"speech": {"transcript": "a paper boat", "voice": "en-us"}}        # no word times
    c0 = clips[0]
    cfg = replace(preset("micro"), video_channels=c0["video"].shape[0], audio_channels=c0["audio"].shape[0], text_dim=16)
    task = JointTask(JointDiT(cfg), clips, [], load_text_encoder("hashing-16"), batch_size=4, crop_seconds=0.48,
                     condition_dropout=0.0)
    ipa = phonemize("her friend carried boats").split(" ")
    seen = set()
    for step in range(40):
        b = task.batch(step)
        lo = float(b["video_times"][0]) - 0.08
        hi = float(b["video_times"][-1]) + 0.08
        expected = [k for k, (_, a, e) in enumerate(words) if lo <= (a + e) / 2 < hi]
        for row, v in zip(b["speech"], b["video"]):
            ids = row[row > 0].numpy()
            if torch.equal(v, c0["video"][:, int(torch.searchsorted(c0["video_times"].double(), b["video_times"][0])):][:, :3]):
                assert np.array_equal(ids, [_ID[ch] for ch in " ".join(ipa[k] for k in expected)])
                seen.add(tuple(expected))
            else:
                assert np.array_equal(ids, phoneme_ids("a paper boat"))
    assert seen == {(0, 1), (1, 2), (2, 3)}          # windows of 0.48 s from 0.02, 0.18, 0.34 and 0.5 s
    whole = JointTask(JointDiT(cfg), clips, [], load_text_encoder("hashing-16"), batch_size=4, condition_dropout=0.0)
    b = whole.batch(0)
    for row, v in zip(b["speech"], b["video"]):                      # uncropped: every clip its whole transcript
        words = "her friend carried boats" if torch.equal(v, c0["video"]) else "a paper boat"
        assert np.array_equal(row[row > 0].numpy(), phoneme_ids(words))


def test_family_weights_draw_a_family_more_often(latents):
    from dataclasses import replace

    from duetto.data.errors import DuettoError
    from duetto.data.latents import load_latents
    from duetto.joint.config import preset
    from duetto.joint.model import JointDiT
    from duetto.joint.text import load_text_encoder
    from duetto.train.joint_task import JointTask
    clips = load_latents([str(latents)])
    assert len(clips) == 3
    clips[0]["meta"] = dict(clips[0]["meta"] or {}, family="speech")       # the other two stay impacts
    c0 = clips[0]
    cfg = replace(preset("micro"), video_channels=c0["video"].shape[0], audio_channels=c0["audio"].shape[0], text_dim=16)
    enc = load_text_encoder("hashing-16")

    def speech_share(**kw):
        task = JointTask(JointDiT(cfg), clips, [], enc, batch_size=4, **kw)
        drawn = [torch.equal(v, c0["video"]) for step in range(150) for v in task.batch(step)["video"]]
        return sum(drawn) / len(drawn)

    assert abs(speech_share() - 1 / 3) < 0.07                                   # uniform: 1 of 3 clips
    assert abs(speech_share(family_weights={"speech": 4}) - 4 / 6) < 0.07        # 4 : 1 : 1
    assert speech_share(family_weights={"impacts": 0}) == 1.0
    with pytest.raises(DuettoError, match="no training clips of family music"):
        JointTask(JointDiT(cfg), clips, [], enc, family_weights={"music": 2})
    with pytest.raises(DuettoError, match="leave no clip"):
        JointTask(JointDiT(cfg), clips, [], enc, family_weights={"speech": 0, "impacts": 0})


@pytest.mark.parametrize("value, message", [("speech", "give FAMILY=W"), ("speech=x", "give FAMILY=W"),
                                            ("impacts=-1", "finite numbers >= 0"),
                                            ("music=2", "no training clips of family music")])
def test_bad_family_weights_exit_2_with_one_line(latents, tmp_path, capsys, value, message):
    assert main(["joint", "--data", str(latents), "--out", str(tmp_path / "r"), "--steps", "1",
                 "--family-weight", value] + COMMON) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()                    # nothing written before the weights were checked


def test_family_weights_are_recorded_with_the_run(latents, tmp_path):
    out = tmp_path / "r"
    assert main(["joint", "--data", str(latents), "--out", str(out), "--steps", "1", "--family-weight", "impacts=2"]
                + COMMON) == 0
    assert json.loads((out / "run.json").read_text())["config"]["family_weights"] == {"impacts": 2.0}
    assert main(["joint", "--data", str(latents), "--out", str(out), "--steps", "2"] + COMMON) == 2   # another run
