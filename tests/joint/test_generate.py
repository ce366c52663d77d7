"""`duetto generate` on a micro bundle (untrained weights): the clock of what it writes, reproducibility by
seed, a given stream kept as given, and one-line errors that leave no output file."""
from dataclasses import replace

import numpy as np
import pytest

from duetto.data import read_clip, timebase
from duetto.data.media import write_clip
from duetto.joint.cli import main
from duetto.joint.pipeline import Pipeline


@pytest.fixture(scope="module")
def bundle(micro_bundle):
    return micro_bundle


def test_layout_covers_the_request_on_both_clocks(bundle):
    pipe = Pipeline.load(bundle)
    lay = pipe.layout(1.0)                 # 25 frames at 25 fps -> 7 latents -> 25 frames (x4: 1 + 4 * 6)
    assert (lay["frames"], lay["n_video"], lay["samples"], lay["n_audio"]) == (25, 7, 16000, 50)
    assert lay["video_times"][1] == pytest.approx(0.1) and lay["audio_times"][0] == pytest.approx(0.01)   # centre of [0, 20 ms)
    lay = pipe.layout(1.05)                # 26 frames do not fill a latent: one more latent, 29 frames
    assert (lay["frames"], lay["n_video"], lay["samples"]) == (29, 8, timebase.n_samples_for_frames(29, 25.0, 16000))


def test_a_frame_by_frame_video_vae_gives_one_latent_per_frame(tmp_path):
    """The shipped `tiny-x1` video VAE with 4x4-latent video tokens: 25 latents for 25 frames at 0.04 s apart,
    and a generated clip of exactly those frames and samples."""

    import torch
    from conftest import MICRO_GENERATION

    from duetto.joint.config import preset
    torch.manual_seed(0)
    pipe = Pipeline.untrained(replace(preset("micro"), video_patch=4), MICRO_GENERATION, video_preset="tiny-x1")
    lay = pipe.layout(1.0)
    assert (lay["frames"], lay["n_video"], lay["samples"], lay["n_audio"]) == (25, 25, 16000, 50)
    assert lay["video_times"][1] == pytest.approx(0.04) and lay["video_times"][24] == pytest.approx(0.96)
    clip = Pipeline.load(pipe.save(tmp_path / "x1")).generate("a drum", seed=0, steps=1)[0]
    assert clip.video.shape == (25, 32, 32, 3) and clip.audio.shape == (1, 16000)


def test_generate_writes_a_synced_clip_reproducibly(bundle, tmp_path):
    out = tmp_path / "a.mp4"
    assert main(["generate", "a glass ball drops", "-o", str(out), "--checkpoint", str(bundle), "--seed", "3", "--quiet"]) == 0
    clip = read_clip(out)
    assert clip.video.shape == (25, 32, 32, 3) and clip.fps == 25.0 and clip.duration == pytest.approx(1.0)
    assert clip.audio.shape[1] == 16000
    again = Pipeline.load(bundle).generate("a glass ball drops", seed=3)[0]
    other = Pipeline.load(bundle).generate("a glass ball drops", seed=4)[0]
    first = Pipeline.load(bundle).generate("a glass ball drops", seed=3)[0]
    assert np.array_equal(first.video, again.video) and np.array_equal(first.audio, again.audio)
    assert not np.array_equal(first.audio, other.audio)
    assert main(["generate", "drums", "-o", str(tmp_path / "n.mp4"), "--checkpoint", str(bundle), "-n", "2",
                 "--steps", "1", "--quiet"]) == 0
    assert (tmp_path / "n-0.mp4").is_file() and (tmp_path / "n-1.mp4").is_file()


def test_a_given_picture_is_kept_and_gets_a_sound(bundle, tmp_path):
    pipe = Pipeline.load(bundle)
    given = pipe.generate("a drum", seed=1)[0]
    src = write_clip(tmp_path / "given.mkv", given)                 # lossless: the frames come back exactly
    out = tmp_path / "sound.mp4"
    assert main(["generate", "its sound", "--video", str(src), "-o", str(out), "--checkpoint", str(bundle), "--quiet"]) == 0
    kept = pipe.generate("its sound", video=read_clip(src, fps=25.0, size=32, sample_rate=16000, channels=1).video)[0]
    assert np.array_equal(kept.video, given.video)
    assert read_clip(out).video.shape == given.video.shape


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    """Reference recordings: a voice-like harmonic tone, a click track, a text file and a silent clip."""
    from duetto.data.clip import Clip
    d = tmp_path_factory.mktemp("refs")
    t = np.arange(32000) / 16000
    voice = (0.1 * sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6)))[None].astype(np.float32)
    clicks = np.zeros((1, 32000), np.float32)
    clicks[0, ::8000] = 0.9
    silent = Clip(np.zeros((25, 32, 32, 3), np.uint8), np.zeros((1, 16000), np.float32), 25.0, 16000)
    (d / "notes.txt").write_text("not media")
    black = np.zeros((50, 32, 32, 3), np.uint8)
    return {"VOICE": write_clip(d / "voice.mkv", Clip(black, voice, 25.0, 16000)),
            "MUSIC": write_clip(d / "music.mkv", Clip(black, clicks, 25.0, 16000)),
            "NOT_MEDIA": d / "notes.txt", "SILENT": write_clip(d / "silent.mkv", silent),
            "LONG": write_clip(d / "long.mkv", Clip(np.zeros((61 * 5, 16, 16, 3), np.uint8),
                                                    0.01 * np.ones((1, 61 * 16000), np.float32), 5.0, 16000))}


def test_speech_voice_and_music_conditions_reach_the_sound(bundle, refs, tmp_path):
    pipe = Pipeline.load(bundle)
    plain = pipe.generate("a person talks", seed=2)[0]
    said = pipe.generate("a person talks", seed=2, speech="hello there")[0]
    assert not np.array_equal(plain.audio, said.audio)                  # the phonemes are attended to
    out = tmp_path / "all.mp4"
    assert main(["generate", "a person talks", "-o", str(out), "--checkpoint", str(bundle), "--quiet",
                 "--speech", "hello there", "--voice", str(refs["VOICE"]), "--music", str(refs["MUSIC"])]) == 0
    assert read_clip(out).duration == pytest.approx(1.0)


@pytest.mark.parametrize("extra,message", [
    (["--checkpoint", "/nonexistent/bundle"], "no such model bundle"),
    (["--speech", "  "], "--speech is empty"),
    (["--voice", "NOT_MEDIA"], "not a readable audio or video file"),
    (["--music", "SILENT"], "the reference is silent"),
    (["--video", "/nonexistent.mp4"], "nonexistent.mp4"),
    (["-n", "0"], "-n must be 1-1000"),
    (["--steps", "1000000000000"], "--steps 1-1000"),
    (["--seed", "99999999999999999999999"], "--seed must be in"),
    (["--seed", "-1"], "--seed must be in"),
    (["--audio", "LONG"], "at most 60 s"),
])
def test_bad_requests_are_one_line_errors_and_leave_no_file(bundle, refs, tmp_path, capsys, extra, message):
    extra = [str(refs[x]) if x in refs else x for x in extra]
    out = tmp_path / "x.mp4"
    args = ["generate", "a ball", "-o", str(out), "--quiet"]
    if "--checkpoint" not in extra:
        args += ["--checkpoint", str(bundle)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_an_output_that_cannot_be_written_is_refused_before_any_work(bundle, tmp_path, capsys, monkeypatch):
    from duetto.joint import pipeline
    monkeypatch.setattr(pipeline.Pipeline, "load", lambda *a, **k: pytest.fail("loaded the model first"))
    (tmp_path / "dir.mp4").mkdir()
    (tmp_path / "file").write_text("x")
    for out, message in ((tmp_path / "dir.mp4", "is a directory"), (tmp_path / "file" / "x.mp4", "is a file")):
        assert main(["generate", "a ball", "-o", str(out), "--checkpoint", str(bundle), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_a_bundle_asking_for_unbounded_work_is_refused(bundle, tmp_path, capsys):
    import json
    import shutil
    hostile = tmp_path / "hostile"
    shutil.copytree(bundle, hostile)
    cfg = json.loads((hostile / "generation.json").read_text())
    cfg["steps"] = 1e12
    (hostile / "generation.json").write_text(json.dumps(cfg))
    assert main(["generate", "a ball", "-o", str(tmp_path / "x.mp4"), "--checkpoint", str(hostile), "--quiet"]) == 2
    assert "steps 1-1000" in capsys.readouterr().err


def test_an_empty_prompt_and_a_bad_bundle_are_refused(bundle, tmp_path, capsys):
    assert main(["generate", "  ", "-o", str(tmp_path / "x.mp4"), "--checkpoint", str(bundle)]) == 2
    assert "prompt is empty" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    assert main(["generate", "a ball", "-o", str(tmp_path / "x.mp4"), "--checkpoint", str(tmp_path / "bad")]) == 2
    assert "not a Duetto model bundle" in capsys.readouterr().err


def test_sampling_settings_override_the_bundle_per_run(bundle, tmp_path, capsys, monkeypatch):
    """`--sampler/--video-scale/--audio-scale/--shift` replace the bundle's settings for one run (the bundle's
    own stay the default); the samples change with them; bad values are one-line errors."""
    from duetto.joint.model import JointDiT
    real_forward = JointDiT.forward
    pipe = Pipeline.load(bundle)
    plain = pipe.with_sampling(video_scale=1.0, audio_scale=1.0, sampler="heun", steps=2)
    assert (plain.config.sampler, plain.config.video_scale, plain.config.steps) == ("heun", 1.0, 2)
    assert pipe.config.sampler == "euler" and pipe.with_sampling(shift=None).config == pipe.config
    a, b = plain.generate("a drum", seed=0)[0], pipe.generate("a drum", seed=0, steps=2)[0]
    assert np.abs(a.audio - b.audio).max() > 1e-3
    with pytest.raises(Exception, match="not a sampling setting: size"):
        pipe.with_sampling(size=32)
    synced = pipe.with_sampling(audio_sync_scale=2.0).generate("a drum", seed=0, steps=2)[0]   # cross-modal guidance
    assert np.abs(synced.audio - b.audio).max() > 1e-3 and pipe.config.audio_sync_scale == 0.0
    calls = []                                      # a model without cross-modal blocks: no pass with streams apart
    alone = Pipeline(JointDiT(replace(pipe.model.config, cross_modal=False)), pipe.video_vae, pipe.audio_vae,
                     pipe.text_encoder, replace(pipe.config, audio_sync_scale=2.0, video_scale=1.0, audio_scale=1.0))
    monkeypatch.setattr(JointDiT, "forward", lambda self, *x, cross_keep=None, **k: calls.append(cross_keep) or
                        real_forward(self, *x, cross_keep=cross_keep, **k))
    alone.generate("a drum", seed=0, steps=2)
    assert calls == [None, None]                    # one pass a step
    monkeypatch.undo()

    used = []
    real = Pipeline.generate
    monkeypatch.setattr(Pipeline, "generate", lambda self, *x, **k: used.append(self.config) or real(self, *x, **k))
    out = tmp_path / "p.mp4"
    assert main(["generate", "a drum", "-o", str(out), "--checkpoint", str(bundle), "--quiet", "--steps", "2",
                 "--sampler", "heun", "--video-scale", "1", "--audio-scale", "1.5", "--shift", "2",
                 "--video-sync-scale", "0.5", "--audio-sync-scale", "3", "--guidance-max-t", "0.8"]) == 0
    assert used[-1] == replace(pipe.config, sampler="heun", video_scale=1.0, audio_scale=1.5, shift=2.0, steps=2,
                               video_sync_scale=0.5, audio_sync_scale=3.0, guidance_max_t=0.8)
    for bad, word in ((["--shift", "0"], "shift"), (["--audio-sync-scale", "-1"], "sync scales"),
                      (["--guidance-max-t", "1.5"], "guidance_max_t"),
                      (["--video-sync-scale", "inf"], "must be finite"), (["--audio-scale", "nan"], "must be finite")):
        assert main(["generate", "a drum", "-o", str(tmp_path / "q.mp4"), "--checkpoint", str(bundle)] + bad) == 2
        err = capsys.readouterr().err.strip()
        assert word in err and len(err.splitlines()) == 1 and not (tmp_path / "q.mp4").exists()


def test_the_same_seed_gives_a_byte_identical_mp4_in_another_process(bundle, tmp_path):
    """Golden files are possible: two processes, the same prompt, seed and settings, the same bytes (x264 on one
    thread, no muxer time stamps); another seed, other bytes."""
    import subprocess
    import sys
    from pathlib import Path
    exe = Path(sys.executable).parent / "duetto"

    def make(name, seed):
        out = tmp_path / name
        r = subprocess.run([str(exe), "generate", "a ball bounces", "-o", str(out), "--checkpoint", str(bundle),
                            "--seed", str(seed), "--quiet"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return out.read_bytes()
    a, b, c = make("a.mp4", 7), make("b.mp4", 7), make("c.mp4", 8)
    assert a == b and a != c


def test_a_generated_clip_encodes_to_the_same_bytes_every_time(bundle):
    """x264's macroblock tree read memory left as it was on small frames: in a process that had sampled, the same
    generated 32 px clip gave 2-4 different files in 10 encodes (now `encode_clip` turns it off)."""
    import hashlib

    from duetto.data import encode_clip
    from duetto.joint.pipeline import Pipeline
    clip = Pipeline.load(bundle).generate("a ball bounces", seed=7)[0]
    assert len({hashlib.md5(encode_clip(clip)).hexdigest() for _ in range(24)}) == 1


def test_existing_outputs_are_not_replaced_without_overwrite(bundle, tmp_path, capsys):
    (tmp_path / "o-1.mp4").write_bytes(b"someone's file")
    args = ["generate", "a ball", "-o", str(tmp_path / "o.mp4"), "-n", "3", "--checkpoint", str(bundle), "--quiet"]
    assert main(args) == 2
    assert "o-1.mp4 exists" in capsys.readouterr().err and (tmp_path / "o-1.mp4").read_bytes() == b"someone's file"
    assert not (tmp_path / "o-0.mp4").exists()
    assert main(args + ["--overwrite"]) == 0 and read_clip(tmp_path / "o-1.mp4").duration > 0.5


def test_the_student_makes_one_window_and_its_teacher_a_longer_clip(tmp_path, capsys, monkeypatch):
    """Without --checkpoint, `duetto generate` samples the shipped student (2 model passes a clip); a clip longer
    than its window is made window by window by its teacher, and the command says so; a --checkpoint given wins."""
    from duetto.joint import cli
    used = []
    monkeypatch.setattr(cli, "_generate", lambda a, bundle, *rest: used.append(bundle.name) or 0)
    for extra in ([], ["--seconds", "4"], ["--seconds", "8"], ["--seconds", "8", "--checkpoint", "duetto-tiny"]):
        assert main(["generate", "a ball", "-o", str(tmp_path / "x.mp4")] + extra) == 0
    assert used == ["duetto-tiny-student", "duetto-tiny-student", "duetto-tiny-v2", "duetto-tiny"]
    err = capsys.readouterr().err
    assert err.count("made window by window by duetto-tiny-v2") == 1 and "8 s is longer than one window" in err


def test_a_captions_quoted_words_are_spoken_unless_speech_says_otherwise(tmp_path, capsys, monkeypatch):
    """`a man says "hello there"` speaks "hello there" (the model was trained with the quoted words' phonemes; told
    nothing, it babbles the whole clip); --speech wins; apostrophes and single quotes are not quotes."""
    from duetto.joint import cli
    said = []
    monkeypatch.setattr(cli, "_generate", lambda a, *rest: said.append(a.speech) or 0)
    out = ["-o", str(tmp_path / "x.mp4"), "--checkpoint", "duetto-tiny"]
    assert main(["generate", 'a man says "hello there" in a kitchen'] + out) == 0
    assert main(["generate", "a man says \u201cgood morning\u201d"] + out + ["--quiet"]) == 0
    assert main(["generate", 'a man says "hello there"', "--speech", "goodbye"] + out) == 0
    assert main(["generate", "the man's dog and the cat's 'toy'"] + out) == 0
    assert said == ["hello there", "good morning", "goodbye", None]
    assert capsys.readouterr().err.count("speaking the caption's quoted words: 'hello there'") == 1


def test_another_audio_vae_on_the_same_latents_decodes_the_sound(bundle, tmp_path, capsys):
    """--audio-vae: the same latents (the bundle's encoder, seed and picture), another decoder: a harmonic source
    added to the bundle's decoder changes the sound and nothing else; a VAE on other latents is refused."""
    import dataclasses

    import torch

    from duetto.audio.vae import AudioVAE
    from duetto.data.autoencoder import load_autoencoder
    base = load_autoencoder(bundle / "audio_vae")
    pitch = AudioVAE(dataclasses.replace(base.config, harmonics=8))
    pitch.load_state_dict(base.state_dict(), strict=False)
    with torch.no_grad():
        pitch.harmonic.head.bias[2].fill_(2.0)                  # an audible source
    pitch.save_pretrained(tmp_path / "pitch")
    other = AudioVAE(dataclasses.replace(base.config, latent_scale=base.config.latent_scale * 2))
    other.save_pretrained(tmp_path / "other")
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert main(["generate", "a bell", "-o", str(a), "--checkpoint", str(bundle), "--seed", "5", "--quiet"]) == 0
    assert main(["generate", "a bell", "-o", str(b), "--checkpoint", str(bundle), "--seed", "5", "--quiet",
                 "--audio-vae", str(tmp_path / "pitch")]) == 0
    ca, cb = read_clip(a), read_clip(b)
    assert np.abs(ca.video.astype(int) - cb.video.astype(int)).max() <= 2   # the picture: the same latents
    assert np.abs(ca.audio - cb.audio).max() > 0.05
    capsys.readouterr()
    assert main(["generate", "a bell", "-o", str(tmp_path / "c.mp4"), "--checkpoint", str(bundle), "--quiet",
                 "--audio-vae", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert "latent normalisation" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.mp4").exists()
    assert main(["generate", "a bell", "-o", str(tmp_path / "c.mp4"), "--checkpoint", str(bundle), "--quiet",
                 "--audio-vae", str(tmp_path / "missing")]) == 2
    assert "no such audio VAE folder" in capsys.readouterr().err
