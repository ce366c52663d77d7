"""Sampling across processes (gloo on the CPU): 2 and 3 ranks give the latents one process gives, for guided
generation, video-to-audio and audio-to-video; the passes are shared; -n clips split across ranks."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


def torchrun(n, *args, timeout=300):
    from duetto.joint.parallel import launch_command
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    return subprocess.run(launch_command(n, *args),
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("world,mode", [(2, "guidance"), (3, "guidance"), (2, "sequence")])
def test_guidance_and_sequence_parallel_give_the_latents_of_one_process(micro_bundle, tmp_path, world, mode):
    from safetensors.torch import load_file

    sys.path.insert(0, str(HERE))
    from parallel_worker import SECONDS, latents, load
    torch.set_num_threads(1)
    pipe = load(micro_bundle)
    calls = []
    pipe.model.register_forward_hook(lambda *_: calls.append(1))
    alone = latents(pipe, SECONDS[mode])
    r = torchrun(world, HERE / "parallel_worker.py", micro_bundle, tmp_path / "out.safetensors", mode)
    assert r.returncode == 0, r.stderr[-3000:]
    got = load_file(str(tmp_path / "out.safetensors"))
    assert set(got) == set(alone)
    for k, v in alone.items():
        assert float((got[k] - v).abs().max()) <= 1e-4, k
    import re
    per_rank = sorted(int(n) for n in re.findall(r"rank \d+ of \d+: (\d+) passes", r.stdout))  # lines may interleave
    assert len(per_rank) == world
    if mode == "guidance":
        assert max(per_rank) < len(calls)                            # no rank made every pass
    else:
        assert per_rank == [len(calls)] * world                      # every rank takes part in every pass


def test_a_rank_count_that_cannot_split_the_heads_is_one_clear_error(micro_bundle, tmp_path):
    r = torchrun(3, HERE / "parallel_worker.py", micro_bundle, tmp_path / "out.safetensors", "sequence")
    assert r.returncode != 0
    import re
    errors = set(re.findall(r"rank \d+: error: (.*?attention heads do not split evenly)", r.stdout))
    assert len(errors) == 1 and "2 attention heads do not split evenly" in errors.pop()   # one message, every rank


def test_clips_are_split_across_ranks_and_each_is_its_own_seed(micro_bundle, tmp_path):
    r = torchrun(2, "-m", "duetto.joint.cli", "generate", "a ball drops", "--checkpoint", micro_bundle, "-n", "3",
                 "--seed", "5", "-o", tmp_path / "o.mp4", "--quiet", "--device", "cpu")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.glob("o-*.mp4")) == ["o-0.mp4", "o-1.mp4", "o-2.mp4"]
    from duetto.joint.pipeline import Pipeline
    pipe = Pipeline.load(micro_bundle)
    lay = pipe.layout(1.0)
    both = pipe.sample("a ball drops", lay, [5, 6])
    second = pipe.sample("a ball drops", lay, [6])                  # clip 1 of -n is the run of its own seed
    for x, y in zip(both, second):                                  # (to rounding: a batch of 2 sums in another order)
        assert float((x[1:] - y).abs().max()) < 1e-4
