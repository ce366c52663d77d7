"""`duetto-train distil` on a micro teacher: the schedule points, the rollouts (resumable), a student that learns,
an exact resume after SIGKILL, and the exported student bundle that `duetto generate` runs with no flags."""
import json
import subprocess
import sys

import pytest
import torch

from shard_utils import synth_shard
from duetto.data.cli import main as data_main
from duetto.data.synth import SynthConfig
from duetto.joint.cli import main as generate_main
from duetto.joint.pipeline import Pipeline
from duetto.joint.sampling import schedule
from duetto.train.checkpoint import list_checkpoints
from duetto.train.testing import kill_at_checkpoint
from duetto.train.cli import main
from duetto.train.distil_task import segments
from duetto.train.rollouts import make_plan, student_points, teacher_sigmas

COMMON = ["--batch-size", "2", "--warmup", "1", "--log-every", "1", "--no-progress", "--device", "cpu"]


def test_student_points_hold_every_schedule_it_learns():
    pts = student_points(4, 3.0)
    assert pts == sorted(set(pts), reverse=True) and pts[0] == 1.0 and pts[-1] == 0.0
    for steps in (4, 2, 1):
        assert all(round(t, 12) in pts for t in schedule(steps, 3.0))
    assert len(pts) == 5                                        # 4 steps: 1, .9, .75, .5, 0; 2 steps adds none
    pairs = segments(pts, 4, 3.0)
    assert len(pairs) == 4 + 2 + 1 and all(a < b for a, b in pairs)
    sig = teacher_sigmas(25, 3.0, pts)
    assert set(round(t, 12) for t in schedule(25, 3.0)) <= set(sig) and set(pts) <= set(sig)


def test_a_plan_uses_every_clip_before_any_twice_and_is_reproducible():
    plan = make_plan(5, 12, seed=3, part=4)
    clips = [r[0] for r in plan.rows]
    assert sorted(clips[:5]) == list(range(5)) and plan.parts == 3
    assert make_plan(5, 12, seed=3, part=4) == plan and make_plan(5, 12, seed=4, part=4) != plan
    for i in range(plan.parts):                                  # one mode per part: one batched sampling run
        assert len({plan.rows[r][1] for r in plan.part_rows(i)}) == 1


@pytest.fixture(scope="module")
def latents(micro_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("distil")
    synth_shard(root / "clips", "impacts", [0, 1, 2, 3], SynthConfig(seconds=1.0, fps=25.0, size=32), prefix="i")
    out = root / "latents"
    assert data_main(["encode", str(root / "clips"), "--video-vae", str(micro_bundle / "video_vae"), "--audio-vae",
                      str(micro_bundle / "audio_vae"), "--out", str(out), "--size", "32", "--quiet"]) == 0
    return out


def _args(micro_bundle, latents, out, *extra):
    return ["distil", "--teacher", str(micro_bundle), "--data", str(latents), "--student-steps", "1",
            "--rollouts", "8", "--out", str(out), *COMMON, *extra]


def _losses(run):
    return {r["step"]: r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())}


def test_a_student_learns_the_teachers_path_and_ships_as_a_bundle(micro_bundle, latents, tmp_path, capsys):
    out = tmp_path / "student"
    assert main(_args(micro_bundle, latents, out, "--steps", "40", "--lr", "2e-3", "--eval-every", "40",
                      "--ema-decay", "0.5")) == 0
    parts = sorted((out / "rollouts").glob("part-*.safetensors"))
    assert len(parts) == 2                                       # 8 rollouts, 4 a part
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    first = sum(r["loss"] for r in log[:5]) / 5
    last = sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.7 * first, (first, last)                    # it learns the one-step jump
    base = json.loads((out / "baseline.json").read_text())       # the teacher's weights, unguided, at 1 step
    def total(r, prefix=""):                                     # a given stream has no error to count
        return r[f"{prefix}sample1_video"] + r[f"{prefix}sample1_audio"]
    assert 0 < total(log[-1], "eval/") < 0.8 * total(base), (log[-1], base)   # its 1-step samples land nearer the teacher's
    bundle = tmp_path / "bundle"
    assert main(["export", str(out), "--out", str(bundle)]) == 0
    gen = json.loads((bundle / "generation.json").read_text())
    assert gen["steps"] == 1 and gen["video_scale"] == gen["audio_scale"] == 1.0 and gen["video_sync_scale"] == 0.0
    teacher = Pipeline.load(micro_bundle)
    assert gen["shift"] == teacher.config.shift and gen["size"] == teacher.config.size
    passes = []
    pipe = Pipeline.load(bundle)
    model = pipe.model
    model.register_forward_hook(lambda *_: passes.append(1))
    pipe.generate("a ball drops", seed=1)
    assert len(passes) == 1                                      # one step, one model pass: no guidance
    assert generate_main(["generate", "a ball drops", "--checkpoint", str(bundle), "-o", str(tmp_path / "o.mp4"),
                          "--quiet"]) == 0
    assert (tmp_path / "o.mp4").stat().st_size > 0
    # stored as its difference from the teacher, beside it: the same student
    delta = micro_bundle.parent / f"student-{tmp_path.name}"
    assert main(["export", str(out), "--delta", "full", "--out", str(delta)]) == 0
    assert not (delta / "joint").exists()
    for k, v in Pipeline.load(delta).model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    assert main(["export", str(out), "--delta", "0", "--out", str(delta)]) == 2
    assert "--delta: '0': 'full' or a rank from 1 to 1024" in capsys.readouterr().err
    # a second run over the same folder keeps the rollouts it has (nothing is sampled again) and trains on
    stamp = [p.stat().st_mtime_ns for p in parts]
    assert main(_args(micro_bundle, latents, out, "--steps", "41", "--lr", "2e-3", "--eval-every", "40",
                      "--ema-decay", "0.5")) == 0
    assert [p.stat().st_mtime_ns for p in parts] == stamp and max(_losses(out)) == 41


def test_a_student_of_a_delta_teacher_is_stored_against_the_teachers_base(micro_bundle, latents, tmp_path):
    """Deltas do not chain: a teacher that is itself a delta bundle (the shipped default is one) lends its own base,
    and the exported student (int8 factors here) loads back as the student."""
    from duetto.joint.delta import save_delta_bundle
    base = Pipeline.load(micro_bundle)
    with torch.no_grad():
        for p in base.model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    teacher = save_delta_bundle(micro_bundle.parent / f"teacher-{tmp_path.name}", base.model, micro_bundle,
                                base.config, rank=None)
    out = tmp_path / "student"
    args = _args(micro_bundle, latents, out, "--steps", "2", "--eval-every", "0")
    args[args.index("--teacher") + 1] = str(teacher)
    assert main(args) == 0
    student = micro_bundle.parent / f"student-{tmp_path.name}"
    assert main(["export", str(out), "--delta", "4", "--int8", "--out", str(student)]) == 0
    assert json.loads((student / "delta" / "config.json").read_text())["base"] == micro_bundle.name
    assert main(["export", str(out), "--out", str(tmp_path / "whole")]) == 0
    got, want = Pipeline.load(student).model.state_dict(), Pipeline.load(tmp_path / "whole").model.state_dict()
    err = max(float((got[k].float() - want[k].float()).abs().max()) for k in want)
    assert 0 < err < 0.05, err              # rank 4 of a micro model's change, in int8: close, not exact


def test_a_student_may_start_from_another_bundle(micro_bundle, latents, tmp_path, capsys):
    """--student-init: re-distilling after the teacher changed starts from the earlier student. The run's baseline
    (its starting weights at the student's steps) is that bundle's, not the teacher's, and a model of another kind
    is refused in one line."""
    import shutil
    first = tmp_path / "first"
    assert main(_args(micro_bundle, latents, first, "--steps", "30", "--lr", "2e-3", "--eval-every", "0")) == 0
    earlier = micro_bundle.parent / f"earlier-{tmp_path.name}"
    assert main(["export", str(first), "--out", str(earlier)]) == 0
    fresh, again = tmp_path / "fresh", tmp_path / "again"
    assert main(_args(micro_bundle, latents, fresh, "--steps", "1", "--eval-every", "0")) == 0
    assert main(_args(micro_bundle, latents, again, "--steps", "1", "--eval-every", "0",
                      "--student-init", str(earlier))) == 0
    base = {r: json.loads((r / "baseline.json").read_text()) for r in (fresh, again)}
    total = {r: b["sample1_video"] + b["sample1_audio"] for r, b in base.items()}
    assert total[again] < 0.8 * total[fresh], total             # it starts where the earlier student had got to
    assert json.loads((again / "run.json").read_text())["config"]["student_init"] == str(earlier.resolve())
    other = micro_bundle.parent / f"other-{tmp_path.name}"
    shutil.copytree(micro_bundle, other)
    cfg = json.loads((other / "joint" / "config.json").read_text())
    cfg["config"]["rope_max_period"] = 2 * cfg["config"]["rope_max_period"]      # same weights, another model
    (other / "joint" / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(_args(micro_bundle, latents, tmp_path / "x", "--student-init", str(other))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--student-init" in err[0], err


def test_distillation_resumes_after_sigkill_to_the_same_losses(micro_bundle, latents, tmp_path):
    steps = 16
    reference = tmp_path / "reference"
    assert main(_args(micro_bundle, latents, reference, "--steps", str(steps), "--ckpt-every", "1")) == 0
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "duetto.train.cli", *_args(micro_bundle, latents, run, "--steps", str(steps),
                                                             "--ckpt-every", "1")]
    kill_at_checkpoint(cmd, run)
    killed_at = list_checkpoints(run)[-1][0]
    assert killed_at < steps
    assert main(_args(micro_bundle, latents, run, "--steps", str(steps), "--ckpt-every", "1")) == 0
    mine, ref = _losses(run), _losses(reference)
    assert sorted(mine) == list(range(1, steps + 1))
    for s in range(1, steps + 1):
        assert mine[s] == pytest.approx(ref[s], rel=1e-5, abs=1e-7), s


def test_bad_distil_inputs_are_one_line_errors(micro_bundle, latents, tmp_path, capsys):
    for extra, message in ((["--student-steps", "2"], "the teacher itself takes 2"),
                           (["--student-steps", "0"], "--student-steps must be in [1, 64]"),
                           (["--rollouts", "0"], "--rollouts must be in")):
        args = _args(micro_bundle, latents, tmp_path / "x", *extra)
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert main(["distil", "--teacher", str(tmp_path / "none"), "--data", str(latents), "--out", str(tmp_path / "y")]) == 2
    assert "no such bundle" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_device_the_machine_lacks_is_refused_before_anything_loads(micro_bundle, tmp_path, capsys):
    from duetto.train.cli import main as train_main
    for run, args in ((generate_main, ["generate", "x", "-o", str(tmp_path / "o.mp4"), "--checkpoint",
                                       str(micro_bundle), "--device", "cuda"]),
                      (train_main, ["eval", str(micro_bundle), "--prompts", str(tmp_path / "p.txt"),
                                    "--device", "cuda:1"]),
                      (generate_main, ["generate", "x", "-o", str(tmp_path / "o.mp4"), "--device", "cpu",
                                       "--dtype", "float16"])):
        (tmp_path / "p.txt").write_text("a ball drops\n")
        assert run(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("no CUDA GPU" in err or "needs a GPU" in err), err
    assert not (tmp_path / "o.mp4").exists()


def test_generate_and_eval_run_in_bfloat16_on_the_cpu(micro_bundle, tmp_path):
    from duetto.train.cli import main as train_main
    out = tmp_path / "bf16.mp4"
    assert generate_main(["generate", "a ball drops", "--checkpoint", str(micro_bundle), "-o", str(out),
                          "--device", "cpu", "--dtype", "bfloat16", "--quiet"]) == 0
    assert out.stat().st_size > 0
    (tmp_path / "p.txt").write_text("a ball drops\n")
    assert train_main(["eval", str(micro_bundle), "--prompts", str(tmp_path / "p.txt"), "--n", "1", "--device", "cpu",
                       "--dtype", "bfloat16", "--out", str(tmp_path / "eval"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["settings"]["dtype"] == "bfloat16" and report["settings"]["device"] == "cpu"
    pipe = Pipeline.load(micro_bundle).to("cpu", torch.bfloat16)
    assert next(pipe.model.parameters()).dtype == torch.bfloat16
    a = Pipeline.load(micro_bundle).generate("a ball drops", seed=3)[0]
    b = pipe.generate("a ball drops", seed=3)[0]
    assert a.audio.shape == b.audio.shape and a.video.shape == b.video.shape
    assert abs(a.video.astype(float) - b.video).mean() < 8          # the same clip, to bfloat16's precision


def test_two_processes_share_the_rollouts(micro_bundle, latents, tmp_path):
    """Under torchrun each process samples its own parts (on CPUs too: accelerate forms the job with cpu=True)."""
    import os

    from duetto.joint.parallel import launch_command
    r = subprocess.run(launch_command(2, "-m", "duetto.train.cli", *_args(micro_bundle, latents, tmp_path / "run",
                                                                          "--rollouts-only", "--rollouts", "16")),
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    import re
    made = [int(n) for n in re.findall(r"\((\d+) part\(s\) made now\)", r.stderr)]   # the ranks' lines may interleave
    assert sorted(made) == [2, 2]                                # 4 parts, two each, none twice
    assert len(list((tmp_path / "run" / "rollouts").glob("part-*.safetensors"))) == 4
