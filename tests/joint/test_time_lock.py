"""The joint model's time lock: attention between the streams is keyed on seconds, limited to a window, and
blind to where the clip sits in time."""
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.attention import time_window_mask
from duetto.joint.blocks import CrossModalBlock
from duetto.joint.config import JointConfig
from duetto.joint.model import JointDiT
from duetto.joint.rope import rope_angles, split_dims

CFG = JointConfig(dim=64, depth=2, heads=2, cross_every=1, window=0.2, text_dim=16)
# seconds, float64 as the VAEs' timestamps() give them
VIDEO_TIMES = torch.tensor([0.0, 0.1, 0.26, 0.42, 0.58, 0.74, 0.9, 1.06], dtype=torch.float64)   # x4 VAE, 25 fps
AUDIO_TIMES = (torch.arange(56, dtype=torch.float64) + 0.5) * 0.02                              # 50 latents/s


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random (the zero-initialised gates would hide everything)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module.eval()


def test_the_mask_keeps_keys_within_the_window_and_always_the_nearest():
    m = time_window_mask(torch.tensor([[0.0, 0.5, 2.0]]), torch.tensor([[0.0, 0.1, 0.3, 0.71]]), 0.2)
    assert m.shape == (1, 1, 3, 4)
    assert m[0, 0].tolist() == [[True, True, False, False],
                                [False, False, True, False],    # |0.5-0.3| = 0.2 is inside; 0.71 is 0.21 away
                                [False, False, False, True]]    # nothing within 0.2 s: the nearest key stays
    assert time_window_mask(torch.zeros(1, 3), torch.zeros(1, 4), None) is None


def test_video_and_audio_tokens_at_the_same_instant_share_a_phase():
    cos_v, sin_v = rope_angles(CFG, torch.tensor([[0.26]]), torch.tensor([[3]]), torch.tensor([[1]]))
    cos_a, sin_a = rope_angles(CFG, torch.tensor([[0.26]]))
    nt = split_dims(CFG)[0]
    assert torch.equal(cos_v[..., :nt], cos_a[..., :nt]) and torch.equal(sin_v[..., :nt], sin_a[..., :nt])
    # one video frame (40 ms) apart is a different phase in the fastest pair
    cos_b, _ = rope_angles(CFG, torch.tensor([[0.30]]))
    assert (cos_b[..., 0] - cos_a[..., 0]).abs().item() > 0.5


def cross_inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(1, len(VIDEO_TIMES), CFG.dim, generator=g)
    a = torch.randn(1, len(AUDIO_TIMES), CFG.dim, generator=g)
    c = torch.randn(1, CFG.dim, generator=g)
    return v, a, c


def run_cross(block, v, a, c, vt=VIDEO_TIMES, at=AUDIO_TIMES):
    vt, at = vt[None], at[None]
    return block(v, a, c, c, vt, at, rope_angles(CFG, vt), rope_angles(CFG, at))


def test_an_audio_token_does_not_see_video_tokens_outside_its_window():
    block = randomised(CrossModalBlock(CFG))
    v, a, c = cross_inputs()
    j = 20                                                       # audio token at 0.41 s
    far = (VIDEO_TIMES - AUDIO_TIMES[j]).abs() > CFG.window
    near = ~far
    assert far.any() and near.any()
    with torch.no_grad():
        _, a0 = run_cross(block, v, a, c)
        v_far = v.clone()
        v_far[0, far] += 5 * torch.randn(int(far.sum()), CFG.dim)
        _, a1 = run_cross(block, v_far, a, c)
        v_near = v.clone()
        v_near[0, near] += 5 * torch.randn(int(near.sum()), CFG.dim)
        _, a2 = run_cross(block, v_near, a, c)
    assert torch.allclose(a1[0, j], a0[0, j], atol=1e-6)
    assert not torch.allclose(a2[0, j], a0[0, j], atol=1e-3)
    # and the other way: a video token ignores audio tokens outside its window
    i = 3
    far_a = (AUDIO_TIMES - VIDEO_TIMES[i]).abs() > CFG.window
    a_far = a.clone()
    a_far[0, far_a] += 5 * torch.randn(int(far_a.sum()), CFG.dim)
    with torch.no_grad():
        v0, _ = run_cross(block, v, a, c)
        v1, _ = run_cross(block, v, a_far, c)
    assert torch.allclose(v1[0, i], v0[0, i], atol=1e-6)


def test_global_cross_attention_sees_everything():
    block = randomised(CrossModalBlock(JointConfig(**{**CFG.__dict__, "window": None})))
    v, a, c = cross_inputs()
    far = (VIDEO_TIMES - AUDIO_TIMES[20]).abs() > CFG.window
    v2 = v.clone()
    v2[0, far] += 5 * torch.randn(int(far.sum()), CFG.dim)
    with torch.no_grad():
        assert not torch.allclose(run_cross(block, v, a, c)[1][0, 20], run_cross(block, v2, a, c)[1][0, 20], atol=1e-3)


@pytest.mark.parametrize("shift", [0.04, 3.7, 61.0])
def test_moving_the_whole_clip_in_time_changes_nothing(shift):
    block = randomised(CrossModalBlock(CFG))
    v, a, c = cross_inputs()
    with torch.no_grad():
        v0, a0 = run_cross(block, v, a, c)
        v1, a1 = run_cross(block, v, a, c, VIDEO_TIMES + shift, AUDIO_TIMES + shift)
    assert torch.allclose(v0, v1, atol=1e-4) and torch.allclose(a0, a1, atol=1e-4)


def model_inputs(b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(b, CFG.video_channels, len(VIDEO_TIMES), 4, 4, generator=g)
    audio = torch.randn(b, CFG.audio_channels, len(AUDIO_TIMES), generator=g)
    t = torch.rand(b, generator=g)
    text = torch.randn(b, 5, CFG.text_dim, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)[:b]
    return video, audio, t, text, mask


def test_the_model_maps_latents_to_velocities_of_the_same_shapes_and_starts_at_zero():
    model = JointDiT(CFG).eval()
    video, audio, t, text, mask = model_inputs()
    with torch.no_grad():
        vv, va = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)
    assert vv.shape == video.shape and va.shape == audio.shape
    assert vv.abs().max() == 0 and va.abs().max() == 0               # zero-initialised output projections
    with pytest.raises(DuettoError, match="token times"):
        model(video, audio, t, t, VIDEO_TIMES[:-1], AUDIO_TIMES, text, mask)


def test_the_whole_model_is_blind_to_where_the_clip_starts():
    model = randomised(JointDiT(CFG), seed=3)
    video, audio, t, text, mask = model_inputs()
    with torch.no_grad():
        out0 = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)
        out1 = model(video, audio, t, t, VIDEO_TIMES + 7.3, AUDIO_TIMES + 7.3, text, mask)
        moved = model(video, audio, t, t, VIDEO_TIMES + 0.04, AUDIO_TIMES, text, mask)   # video one frame late
    for x, y in zip(out0, out1):
        assert torch.allclose(x, y, atol=1e-3, rtol=1e-3)
    assert not torch.allclose(out0[1], moved[1], atol=1e-3)             # a one-frame slip is seen


def test_without_cross_modal_attention_the_audio_never_sees_the_video():
    model = randomised(JointDiT(JointConfig(**{**CFG.__dict__, "cross_modal": False})))
    assert len(model.cross) == 0
    video, audio, t, text, mask = model_inputs()
    with torch.no_grad():
        a0 = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)[1]
        a1 = model(video * -1, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)[1]
    assert torch.allclose(a0, a1)


def test_streams_kept_apart_per_clip_are_the_model_without_cross_modal_attention():
    model = randomised(JointDiT(CFG), seed=5)
    apart = randomised(JointDiT(JointConfig(**{**CFG.__dict__, "cross_modal": False})), seed=5)
    apart.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("cross.")})
    video, audio, t, text, mask = model_inputs()
    with torch.no_grad():
        joint = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)
        alone = apart(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask)
        mixed = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask, cross_keep=torch.tensor([True, False]))
        none = model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask, cross_keep=torch.tensor([False, False]))
    for j, a, m, n in zip(joint, alone, mixed, none):
        assert not torch.allclose(j, a, atol=1e-3)                       # the cross-modal blocks matter here
        assert torch.allclose(m[0], j[0], atol=1e-5) and torch.allclose(m[1], a[1], atol=1e-5)
        assert torch.allclose(n, a, atol=1e-5)
    with pytest.raises(DuettoError, match="cross_keep"):
        model(video, audio, t, t, VIDEO_TIMES, AUDIO_TIMES, text, mask, cross_keep=torch.tensor([True]))


def test_a_dropped_caption_and_a_batch_with_its_own_times_work():
    model = randomised(JointDiT(CFG))
    video, audio, t, _, _ = model_inputs()
    times_v = torch.stack([VIDEO_TIMES, VIDEO_TIMES + 1.0])
    times_a = torch.stack([AUDIO_TIMES, AUDIO_TIMES + 1.0])
    with torch.no_grad():
        vv, va = model(video, audio, t, t, times_v, times_a, None, None)
        single = model(video[1:], audio[1:], t[1:], t[1:], VIDEO_TIMES, AUDIO_TIMES, None, None)
    assert torch.isfinite(vv).all() and torch.isfinite(va).all()
    assert torch.allclose(va[1:], single[1], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("window", [0.2, 0.01, 1e-4])
def test_the_band_attends_exactly_the_keys_the_dense_mask_allows(window):
    """The time-locked window as a band of keys per query gives the dense mask's attention (to 1e-5), including a
    window narrower than the other stream's spacing (each query keeps its nearest key)."""
    import torch.nn.functional as F

    from duetto.joint.attention import banded_attention, time_band
    g = torch.Generator().manual_seed(0)
    vt = torch.arange(100, dtype=torch.float64).repeat_interleave(4)[None].expand(2, -1) * 0.04 + 0.02  # 4 tokens a frame
    at = (torch.arange(200, dtype=torch.float64) * 0.02 + 0.01)[None].expand(2, -1)
    for qt, kt in ((vt, at), (at, vt)):
        q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (qt.shape[1], kt.shape[1], kt.shape[1]))
        band = time_band(qt, kt, window)
        mask = time_window_mask(qt, kt, window)
        allowed = band.allowed()
        assert torch.equal(allowed, mask[:, 0, :, : allowed.shape[-1]]) and not mask[:, 0, :, allowed.shape[-1]:].any()
        dense = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert float((banded_attention(q, k, v, band) - dense).abs().max()) <= 1e-5
    assert band.index.shape[-1] < kt.shape[1] / 2                                # a band, not every key
    with pytest.raises(ValueError, match="time order"):
        time_band(vt, at.flip(-1), 0.2)
