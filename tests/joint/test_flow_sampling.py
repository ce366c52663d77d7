"""Flow matching times and loss; samplers recover data exactly along a straight flow; guidance; schedules."""
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.flow import CHANGE_CAP, HIGH_NOISE_T, FlowConfig, add_noise, change_weights, flow_loss, flow_times
from duetto.joint.sampling import euler, guided, heun, schedule


def test_schedules_run_from_noise_to_data():
    assert schedule(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    s = schedule(4, shift=3.0)
    assert s[0] == 1.0 and s[-1] == 0.0 and s[2] == pytest.approx(0.75)       # 3 * 0.5 / (1 + 2 * 0.5)
    with pytest.raises(DuettoError):
        schedule(0)
    with pytest.raises(DuettoError, match="decreasing"):
        euler(lambda *a: a[:2], (torch.zeros(1), torch.zeros(1)), [0.0, 1.0])


def oracle(x0_video, x0_audio):
    """The exact velocity of the straight path through the data: ``(x - x0) / t``."""
    def fn(v, a, tv, ta):
        tv, ta = tv.view(-1, 1, 1), ta.view(-1, 1)
        return (v - x0_video) / tv.clamp_min(1e-12), (a - x0_audio) / ta.clamp_min(1e-12)
    return fn


@pytest.mark.parametrize("sampler,steps", [(euler, 1), (euler, 4), (heun, 3)])
def test_samplers_land_on_the_data_along_a_straight_flow(sampler, steps):
    g = torch.Generator().manual_seed(0)
    x0 = (torch.randn(2, 3, 5, generator=g), torch.randn(2, 7, generator=g))
    noise = (torch.randn(2, 3, 5, generator=g), torch.randn(2, 7, generator=g))
    calls = []
    v, a = sampler(oracle(*x0), noise, schedule(steps, 2.0), callback=lambda i, n: calls.append((i, n)))
    assert torch.allclose(v, x0[0], atol=1e-5) and torch.allclose(a, x0[1], atol=1e-5)
    assert calls == [(i, steps) for i in range(steps)]


def test_a_given_stream_stays_as_given_and_the_model_sees_it_clean():
    seen = []

    def fn(v, a, tv, ta):
        seen.append((tv.tolist(), ta.tolist()))
        return torch.ones_like(v), torch.ones_like(a)
    given = torch.randn(1, 3, 5)
    v, a = euler(fn, (torch.zeros(1, 3, 5), torch.zeros(1, 4)), [1.0, 0.5, 0.0], given_video=given)
    assert torch.equal(v, given) and torch.allclose(a, torch.full((1, 4), -1.0))
    assert seen == [([0.0], [1.0]), ([0.0], [0.5])]


def test_guidance_has_a_scale_per_stream():
    cond = lambda v, a, tv, ta: (torch.full_like(v, 2.0), torch.full_like(a, 2.0))   # noqa: E731
    uncond = lambda v, a, tv, ta: (torch.zeros_like(v), torch.zeros_like(a))         # noqa: E731
    fn = guided(cond, uncond, video_scale=3.0, audio_scale=1.5)
    dv, da = fn(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    assert torch.allclose(dv, torch.full((1, 2), 6.0)) and torch.allclose(da, torch.full((1, 2), 3.0))
    assert guided(cond, uncond, 1.0, 1.0) is cond


def test_cross_modal_guidance_adds_the_difference_the_other_stream_makes():
    cond = lambda v, a, tv, ta: (torch.full_like(v, 2.0), torch.full_like(a, 2.0))   # noqa: E731
    uncond = lambda v, a, tv, ta: (torch.zeros_like(v), torch.zeros_like(a))         # noqa: E731
    apart = lambda v, a, tv, ta: (torch.full_like(v, 1.5), torch.full_like(a, 0.5))   # noqa: E731
    args = (torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    dv, da = guided(cond, uncond, 3.0, 1.0, apart, video_sync=2.0, audio_sync=4.0)(*args)
    assert torch.allclose(dv, torch.full((1, 2), 6.0 + 2.0 * 0.5)) and torch.allclose(da, torch.full((1, 2), 2.0 + 4.0 * 1.5))
    dv, da = guided(cond, uncond, 1.0, 1.0, apart, video_sync=0.0, audio_sync=1.0)(*args)   # no caption guidance
    assert torch.allclose(dv, torch.full((1, 2), 2.0)) and torch.allclose(da, torch.full((1, 2), 3.5))
    assert guided(cond, uncond, 1.0, 1.0, apart, 0.0, 0.0) is cond


def test_guidance_is_skipped_at_flow_times_above_max_t():
    calls = []

    def cond(v, a, tv, ta):
        calls.append("cond")
        return torch.full_like(v, 2.0), torch.full_like(a, 2.0)

    def uncond(v, a, tv, ta):
        calls.append("uncond")
        return torch.zeros_like(v), torch.zeros_like(a)
    fn = guided(cond, uncond, 3.0, 3.0, max_t=0.85)
    x = torch.zeros(1, 2)
    dv, _ = fn(x, x, torch.full((1,), 0.9), torch.full((1,), 0.9))       # noisier than max_t: cond alone
    assert torch.allclose(dv, torch.full((1, 2), 2.0)) and calls == ["cond"]
    dv, _ = fn(x, x, torch.full((1,), 0.85), torch.full((1,), 0.85))     # at max_t: guided
    assert torch.allclose(dv, torch.full((1, 2), 6.0)) and calls[1:] == ["cond", "uncond"]
    dv, da = fn(x, x, torch.zeros(1), torch.full((1,), 0.9))             # a given picture (t = 0): the sound's time decides
    assert torch.allclose(da, torch.full((1, 2), 2.0))
    # a sampler run: of the flow times 1, 0.9, 0.5 only 0.5 is guided
    calls.clear()
    euler(fn, (torch.zeros(1, 2), torch.zeros(1, 2)), [1.0, 0.9, 0.5, 0.0])
    assert calls == ["cond", "cond", "cond", "uncond"]
    with pytest.raises(DuettoError, match="max_t"):
        guided(cond, uncond, 3.0, 3.0, max_t=0.0)


def test_flow_times_follow_their_shares():
    cfg = FlowConfig(independent=0.2, video_given=0.1, audio_given=0.1)
    tv, ta = flow_times(20000, cfg, torch.Generator().manual_seed(0))
    assert ((tv > 0) & (tv < 1)).float().mean() == pytest.approx(0.9, abs=0.01)
    assert (tv == 0).float().mean() == pytest.approx(0.1, abs=0.01)
    assert (ta == 0).float().mean() == pytest.approx(0.1, abs=0.01)
    shared = (tv == ta).float().mean()
    assert shared == pytest.approx(0.6, abs=0.015)                 # neither independent nor one given
    assert tv[tv > 0].median() == pytest.approx(0.5, abs=0.02)      # logit-normal around 0.5
    assert torch.allclose(add_noise(torch.zeros(2, 3), torch.ones(2, 3), torch.tensor([0.25, 1.0])),
                          torch.tensor([[0.25] * 3, [1.0] * 3]))


def test_a_high_noise_share_moves_times_near_one_and_keeps_everything_else():
    base = FlowConfig(independent=0.2, video_given=0.1, audio_given=0.1)
    g = lambda: torch.Generator().manual_seed(0)                                          # noqa: E731
    tv0, ta0 = flow_times(20000, base, g())
    tv, ta = flow_times(20000, FlowConfig(independent=0.2, video_given=0.1, audio_given=0.1, high_noise=0.3), g())
    moved = tv != tv0
    assert moved.float().mean() == pytest.approx(0.3 * 0.9, abs=0.015)     # a given picture stays given (t = 0)
    assert (tv[moved] >= HIGH_NOISE_T).all() and (tv[moved] <= 1).all()
    assert ((tv == 0) == (tv0 == 0)).all() and ((ta == 0) == (ta0 == 0)).all()
    both = moved & (ta0 > 0)
    assert torch.equal(tv[both], ta[both])                                   # one draw for both streams of a clip
    assert (tv[~moved] == tv0[~moved]).all()                                 # the rest keep their times exactly
    assert (tv0 > 0.95).float().mean() < 0.003 and (tv > 0.95).float().mean() > 0.12
    with pytest.raises(DuettoError, match="high_noise"):
        FlowConfig(high_noise=1.5)


def test_a_stream_given_clean_has_no_loss():
    video, audio = torch.randn(3, 2, 4), torch.randn(3, 5)
    zero = lambda v, a, tv, ta, *rest: (torch.zeros_like(v), torch.zeros_like(a))    # noqa: E731
    loss, parts = flow_loss(zero, video, audio, None, None, cfg=FlowConfig(independent=0, video_given=1.0, audio_given=0),
                            generator=torch.Generator().manual_seed(0))
    assert parts["video"] == 0.0 and parts["audio"] > 0.5 and loss.item() == pytest.approx(parts["audio"])


@pytest.mark.parametrize("steps", [1, 4])
def test_a_data_predicting_model_returns_the_velocity_to_its_clean_guess(steps):
    """``predicts="data"``: the head gives x0 and the model returns ``(x_t - x0) / t``, so a head that always
    says "x0 = c" is a straight flow into c: any Euler schedule lands on it, and a given stream (t = 0) stays
    finite through the clipped time."""
    from duetto.joint.config import JointConfig
    from duetto.joint.model import JointDiT
    model = JointDiT(JointConfig(video_channels=4, audio_channels=3, dim=32, depth=2, heads=2, cross_every=1,
                                 text_dim=16, predicts="data")).eval()
    with torch.no_grad():
        model.video_out.proj.bias.fill_(0.7)
        model.audio_out.proj.bias.fill_(-0.3)
    vt, at = torch.arange(3) / 25.0, torch.arange(6) / 50.0

    def fn(v, a, tv, ta):
        return model(v, a, tv, ta, vt, at)
    g = torch.Generator().manual_seed(0)
    noise = (torch.randn(2, 4, 3, 4, 4, generator=g), torch.randn(2, 3, 6, generator=g))
    v, a = euler(fn, noise, schedule(steps, 3.0))
    assert torch.allclose(v, torch.full_like(v, 0.7), atol=1e-5) and torch.allclose(a, torch.full_like(a, -0.3), atol=1e-5)
    dv, da = fn(noise[0], noise[1], torch.zeros(2), torch.tensor([0.5, 0.5]))
    assert torch.allclose(dv, (noise[0] - 0.7) / 0.05, atol=1e-4)               # t = 0 clipped to MIN_FLOW_TIME
    assert torch.allclose(da, (noise[1] + 0.3) / 0.5, atol=1e-5)
    velocity = JointDiT(JointConfig(video_channels=4, audio_channels=3, dim=32, depth=2, heads=2, text_dim=16))
    assert velocity.config.predicts == "velocity"                              # old configs keep their meaning
    with pytest.raises(DuettoError, match="predicts"):
        JointConfig(predicts="noise")


def test_change_weights_mark_where_and_when_latents_change():
    """A still video with one latent place that changes at frame 3, and audio with one step at latent 5: the
    weight rises on both sides of the change (into it and out of it), stays 1 elsewhere, and is capped."""
    video = torch.zeros(1, 2, 6, 2, 2)
    video[:, :, 3:, 1, 0] = 1.0                                     # place (1, 0) switches on at frame 3
    w = change_weights(video, 2.0)
    assert w.shape == (1, 1, 6, 2, 2)
    changed = torch.zeros(6, 2, 2, dtype=torch.bool)
    changed[2:4, 1, 0] = True                                       # frame 2 (change out of it), frame 3 (into it)
    assert torch.allclose(w[0, 0][~changed], torch.ones(())) and (w[0, 0][changed] == 1 + 2.0 * CHANGE_CAP).all()
    audio = torch.zeros(2, 3, 10)
    audio[0, :, 5:] = 1.0
    wa = change_weights(audio, 1.0)
    assert wa.shape == (2, 1, 10) and torch.equal(wa[0, 0].argsort(descending=True)[:2].sort().values, torch.tensor([4, 5]))
    assert torch.allclose(wa[1], torch.ones(1, 10))                 # nothing changes: a plain mean
    assert torch.allclose(wa[0, 0, 4], torch.tensor(1 + 5.0))       # 2 of 10 latents changed: 5x the mean, at the cap
    causal = torch.zeros(1, 1, 5, 1, 1)                             # a causal x4 VAE: latent 0 is one frame,
    causal[:, :, 0] = 3.0                                           # the others four, 160 ms apart
    causal[:, :, 3:] = 1.0
    times = torch.tensor([0.0, 0.1, 0.26, 0.42, 0.58])
    assert torch.allclose(change_weights(causal, 1.0)[0, 0, :, 0, 0], torch.tensor([2.875, 2.875, 1.625, 1.625, 1]))
    w = change_weights(causal, 1.0, times)[0, 0, :, 0, 0]          # 0 -> 1 is not a step of the scene
    assert torch.allclose(w, torch.tensor([1.0, 1, 3.5, 3.5, 1]))


def test_change_weight_moves_the_loss_towards_the_changing_latents():
    """An error only around the audio's one step costs more with a change weight; an error only on still latents
    costs less; without the weight both cost the same."""
    audio = torch.zeros(2, 1, 20)
    audio[:, :, 10:] = 1.0
    video = torch.zeros(2, 1, 3, 1, 1)

    def off(where):
        def fn(v, a, tv, ta, *rest):
            pred = (a - audio) / ta.view(-1, 1, 1)                       # the exact velocity target ...
            pred[..., slice(9, 11) if where == "change" else slice(0, 2)] += 1.0   # ... off by 1 on two latents
            return torch.zeros_like(v), pred
        return fn
    losses = {}
    for w in (0.0, 3.0):
        cfg = FlowConfig(independent=0, video_given=1.0, audio_given=0, change_weight=w)
        for where in ("change", "still"):
            losses[w, where] = flow_loss(off(where), video, audio, None, None, cfg=cfg,
                                         generator=torch.Generator().manual_seed(0))[1]["audio"]
    assert losses[0.0, "change"] == pytest.approx(losses[0.0, "still"]) == pytest.approx(2 / 20, rel=1e-4)
    assert losses[3.0, "change"] > 3 * losses[0.0, "change"]
    assert losses[3.0, "still"] < 0.5 * losses[0.0, "still"]
    with pytest.raises(DuettoError):
        FlowConfig(change_weight=-1.0)


def test_a_given_prefix_is_clean_marked_and_left_out_of_the_loss():
    from duetto.joint.flow import PREFIX_SHARE, known_prefix
    kv, ka = known_prefix(4000, 25, 50, 0.5, torch.Generator().manual_seed(0))
    nv, na = kv.sum(1), ka.sum(1)
    assert (nv > 0).float().mean() == pytest.approx(0.5, abs=0.03)
    assert torch.equal(na, 2 * nv)                                  # both streams cut at the same second
    assert nv.max() <= 24 and nv[nv > 0].min() >= round(PREFIX_SHARE[0] * 25)
    assert (kv[:, :-1].int() >= kv[:, 1:].int()).all()              # a prefix: known latents come first
    assert known_prefix(8, 2, 4, 1.0)[0].sum(1).eq(1).all()         # never the whole clip, at least one latent
    video, audio = torch.randn(6, 2, 5, 2, 2), torch.randn(6, 3, 10)
    seen = {}

    def model(v, a, tv, ta, vt, at, text, mask, **kw):
        seen.update(v=v, a=a, tv=tv, **kw)
        pv, pa = (v - video) / tv.view(-1, 1, 1, 1, 1), (a - audio) / ta.view(-1, 1, 1)   # exact where noised
        known_v = kw["video_known"][:, None, :, None, None]
        return torch.where(known_v, torch.full_like(pv, 1e6), pv), pa                     # garbage where known
    cfg = FlowConfig(independent=0, video_given=0, audio_given=0, prefix=1.0)
    loss, parts = flow_loss(model, video, audio, None, None, cfg=cfg, generator=torch.Generator().manual_seed(1))
    k = seen["video_known"]
    assert k.any(1).all() and not k.all(1).any()
    assert torch.equal(seen["v"][k[:, None, :, None, None].expand_as(video)], video[k[:, None, :, None, None].expand_as(video)])
    ka = seen["audio_known"][:, None, :].expand_as(audio)
    assert torch.equal(seen["a"][ka], audio[ka])                    # the known part is the clean latents
    assert parts["video"] < 1e-6 and parts["audio"] < 1e-6          # and the garbage there costs nothing
    with pytest.raises(DuettoError, match="prefix"):
        FlowConfig(prefix=2.0)
