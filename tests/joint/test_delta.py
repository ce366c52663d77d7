"""A bundle stored as the bundle beside it plus a weight difference (joint.delta)."""
import json
import shutil

import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.delta import apply_delta, low_rank, save_delta_bundle, take_delta
from duetto.joint.pipeline import Pipeline


@pytest.fixture
def pair(micro_bundle, tmp_path):
    """(base bundle, a student: the base's model moved a little) in one folder."""
    base = tmp_path / "teacher"
    shutil.copytree(micro_bundle, base)
    pipe = Pipeline.load(base)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in list(pipe.model.parameters())[::2]:           # half the tensors change
            p.add_(torch.randn_like(p) * 0.01)
    return base, pipe


def test_low_rank_factors_are_the_best_approximation():
    torch.manual_seed(0)
    d = torch.randn(40, 3, dtype=torch.float64) @ torch.randn(3, 30, dtype=torch.float64)   # rank 3
    up, down = low_rank(d, 3)
    assert up.shape == (40, 3) and down.shape == (3, 30)
    assert torch.allclose((up @ down).double(), d, atol=1e-5)
    up1, down1 = low_rank(d, 1)
    s = torch.linalg.svdvals(d)
    assert torch.isclose(torch.linalg.norm(d - (up1 @ down1).double()), s[1:].norm(), rtol=1e-4)


def test_a_full_delta_bundle_is_the_student_and_keeps_its_own_settings(pair, tmp_path):
    base, student = pair
    student.config = student.config.__class__(**{**student.config.__dict__, "steps": 3, "video_scale": 1.0})
    out = save_delta_bundle(tmp_path / "student", student.model, base, student.config, rank=None, dtype=None)
    assert not (out / "joint").exists() and (out / "delta" / "delta.safetensors").is_file()
    loaded = Pipeline.load(out)
    for k, v in student.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k
    assert loaded.config.steps == 3 and loaded.config.video_scale == 1.0
    assert Pipeline.load(base).config.steps != 3                 # the base keeps its own
    with torch.no_grad():
        a = student.generate("a ball drops", seed=4, seconds=1.0)
        b = loaded.generate("a ball drops", seed=4, seconds=1.0)
    assert (a[0].video == b[0].video).all() and (a[0].audio == b[0].audio).all()


def test_a_low_rank_delta_is_smaller_and_close(pair, tmp_path):
    base, student = pair
    full = save_delta_bundle(tmp_path / "full", student.model, base, student.config, rank=None)
    small = save_delta_bundle(tmp_path / "small", student.model, base, student.config, rank=2)
    size = lambda b: (b / "delta" / "delta.safetensors").stat().st_size  # noqa: E731
    assert size(small) < 0.5 * size(full)
    want, teacher = student.model.state_dict(), Pipeline.load(base).model.state_dict()
    got = Pipeline.load(small).model.state_dict()
    moved = sum(float((want[k].float() - teacher[k].float()).norm() ** 2) for k in want)
    left = sum(float((want[k].float() - got[k].float()).norm() ** 2) for k in want)
    assert 0 < left < moved                                      # some of the move kept, not all: a rank-2 fit


def test_the_delta_applies_only_to_its_own_base(pair, tmp_path):
    base, student = pair
    out = save_delta_bundle(tmp_path / "student", student.model, base, student.config, rank=None)
    with pytest.raises(DuettoError, match="beside its base"):
        save_delta_bundle(tmp_path / "elsewhere" / "s", student.model, base, student.config, rank=None)
    cfg = json.loads((out / "delta" / "config.json").read_text())
    for bad in ("../teacher", "/etc", ".."):
        (out / "delta" / "config.json").write_text(json.dumps({**cfg, "base": bad}))
        with pytest.raises(DuettoError, match="must name a bundle folder"):
            Pipeline.load(out)
    (out / "delta" / "config.json").write_text(json.dumps(cfg))
    with torch.no_grad():                                         # the teacher is re-shipped: the delta no longer fits
        m = Pipeline.load(base).model
        m.save_pretrained(base / "joint", torch.float16)
    with pytest.raises(DuettoError, match="not the bundle this delta was taken from"):
        Pipeline.load(out)


def test_a_delta_that_does_not_fit_is_one_error():
    state = {"w": torch.zeros(4, 6), "b": torch.zeros(4)}
    with pytest.raises(DuettoError, match="factors of w"):
        apply_delta(state, {"w.up": torch.zeros(4, 2), "w.down": torch.zeros(3, 6)}, "d")
    with pytest.raises(DuettoError, match="fit no matrix"):
        apply_delta(state, {"x.up": torch.zeros(4, 2), "x.down": torch.zeros(2, 6)}, "d")
    with pytest.raises(DuettoError, match="has no .up"):
        apply_delta(state, {"w.down": torch.zeros(2, 6)}, "d")
    with pytest.raises(DuettoError, match="not a tensor of the base"):
        apply_delta(state, {"b": torch.zeros(5)}, "d")
    assert set(take_delta({"w": torch.ones(4, 6), "b": torch.zeros(4)}, state, 1)) == {"w.up", "w.down"}


def test_checkpoint_takes_a_shipped_models_name(tmp_path, monkeypatch):
    from duetto.joint import cli
    assert cli.bundle_path(None) == cli.DEFAULT_BUNDLE
    assert cli.bundle_path(None, long=True) == cli.LONG_BUNDLE == cli.TEACHER_BUNDLE   # beyond one window
    assert cli.bundle_path(type(tmp_path)("duetto-tiny"), long=True) == cli.BASE_BUNDLE  # a name given wins
    assert cli.bundle_path(type(tmp_path)("duetto-tiny")) == cli.BASE_BUNDLE
    monkeypatch.chdir(tmp_path)                                  # a folder of that name here wins over the shipped one
    (tmp_path / "duetto-tiny").mkdir()
    assert cli.bundle_path(type(tmp_path)("duetto-tiny")) == type(tmp_path)("duetto-tiny")
    with pytest.raises(DuettoError, match=r"no-such: no such model bundle \(shipped: .*duetto-tiny"):
        cli.bundle_path(type(tmp_path)("no-such"))


def test_a_model_grown_over_its_base_is_stored_as_a_delta_with_its_new_layers(pair, tmp_path):
    """A fine-tuned teacher that gained the speech track, its silence and known latents: its config rides in the
    delta, its new tensors whole; loading gives the grown model exactly (full delta) and refuses a delta that lacks
    a grown tensor or grows anything else."""
    from dataclasses import replace

    from duetto.joint.model import JointDiT
    base, pipe = pair
    grown = JointDiT(replace(pipe.model.config, speech_track=True, track_silence=True, known_prefix=True))
    state = {**grown.state_dict(), **pipe.model.state_dict()}
    state["track_in.weight"] = torch.randn_like(state["track_in.weight"])
    state["known_video"] = torch.randn_like(state["known_video"])
    grown.load_state_dict(state)
    out = save_delta_bundle(tmp_path / "grown", grown, base, pipe.config, rank=None, dtype=None)
    assert json.loads((out / "delta" / "model.json").read_text())["known_prefix"] is True
    loaded = Pipeline.load(out)
    assert loaded.model.config == grown.config
    assert all(torch.equal(v, grown.state_dict()[k]) for k, v in loaded.model.state_dict().items())
    from safetensors.torch import load_file, save_file
    delta = load_file(out / "delta" / "delta.safetensors")
    save_file({k: v for k, v in delta.items() if k != "known_audio"}, str(out / "delta" / "delta.safetensors"))
    with pytest.raises(DuettoError, match="holds no known_audio"):
        Pipeline.load(out)
    other = JointDiT(replace(pipe.model.config, depth=pipe.model.config.depth + 1))
    with pytest.raises(DuettoError, match=r"config differs from the model's \(depth\)"):
        save_delta_bundle(tmp_path / "other", other, base, pipe.config, rank=None, dtype=None)


def test_int8_factors_make_the_delta_to_a_percent_in_half_the_bytes(pair, tmp_path):
    from safetensors.torch import load_file

    from duetto.joint.delta import quantize
    x = torch.randn(50, 20)
    q, scale = quantize(x, 0)
    assert q.dtype == torch.int8 and scale.dtype == torch.float16 and scale.shape == (50,)
    assert (q.float() * scale.float()[:, None] - x).abs().max() <= scale.float().max() * 0.51
    q, scale = quantize(x, 1)
    assert scale.shape == (20,) and (q.float() * scale.float()[None, :] - x).abs().max() <= scale.float().max() * 0.51
    base, student = pair
    plain = save_delta_bundle(tmp_path / "plain", student.model, base, student.config, rank=4)
    small = save_delta_bundle(tmp_path / "small", student.model, base, student.config, rank=4, int8=True)
    a, b = (load_file(f / "delta" / "delta.safetensors") for f in (plain, small))
    factors = [k for k in a if k.endswith(".up")]
    assert factors and all(b[k].dtype == torch.int8 and f"{k}.scale" in b for k in factors)
    size = lambda d: sum(v.numel() * v.element_size() for v in d.values())   # noqa: E731
    of = lambda d: {k: v for k, v in d.items() if k.rsplit(".scale", 1)[0].endswith((".up", ".down"))}  # noqa: E731
    assert size(of(b)) < 0.6 * size(of(a)) and size(b) < size(a)
    pa, pb = Pipeline.load(plain).model.state_dict(), Pipeline.load(small).model.state_dict()
    base_state = Pipeline.load(base).model.state_dict()
    for k in (k[: -len(".up")] for k in factors):
        moved = (pa[k] - base_state[k]).norm()
        assert moved > 0 and (pb[k] - pa[k]).norm() < 0.02 * moved
    delta = dict(b)
    del delta[f"{factors[0]}.scale"]
    from safetensors.torch import save_file
    save_file(delta, str(small / "delta" / "delta.safetensors"))
    with pytest.raises(DuettoError, match="has no scale of its rank"):
        Pipeline.load(small)


def test_training_may_start_from_a_delta_bundle(pair, tmp_path):
    """`duetto-train joint --init` takes a delta bundle: the weights it starts from are the delta bundle's own."""
    from duetto.joint.model import JointDiT
    from duetto.train.cli import _init_from
    base, student = pair
    out = save_delta_bundle(tmp_path / "student", student.model, base, student.config, rank=None, dtype=None)
    model = JointDiT(student.model.config)
    _init_from(model, out, tmp_path / "run")
    want = Pipeline.load(out).model.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, want[k].to(v.dtype)), k
    assert any(not torch.equal(v, Pipeline.load(base).model.state_dict()[k]) for k, v in want.items())
