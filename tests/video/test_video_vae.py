"""Video VAE: shapes, the causal frame-to-latent map and its timestamps, chunked == one-shot, saving."""
import json

import numpy as np
import pytest
import torch

from duetto.data.autoencoder import Autoencoder, load_autoencoder
from duetto.data.errors import DuettoError
from duetto.video.losses import psnr, ssim, vae_loss
from duetto.video.vae import VideoVAE, VideoVAEConfig, preset, thumbnail

SMALL = {4: VideoVAEConfig(base_channels=8, latent_channels=4, temporal_factor=4),
         1: VideoVAEConfig(base_channels=8, latent_channels=4, temporal_factor=1)}


def model(k: int, shortcut: bool = False) -> VideoVAE:
    """A small model; with the thumbnail shortcut it needs 12 latent channels."""
    torch.manual_seed(0)
    cfg = SMALL[k] if not shortcut else VideoVAEConfig(base_channels=8, latent_channels=12, temporal_factor=k,
                                                       shortcut=True)
    return VideoVAE(cfg).eval()


@pytest.mark.parametrize("k,frames,latents", [(4, 17, 5), (4, 16, 5), (4, 1, 1), (4, 18, 6), (1, 7, 7)])
def test_shapes_follow_the_causal_frame_map(k, frames, latents):
    m = model(k)
    assert isinstance(m, Autoencoder)
    x = torch.rand(2, 3, frames, 32, 48) * 2 - 1
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
    assert z.shape == (2, 4, latents, 4, 6) and m.latent_length(frames) == latents
    assert y.shape == (2, 3, 1 + k * (latents - 1), 32, 48)


@pytest.mark.parametrize("shortcut", [False, True])
@pytest.mark.parametrize("k", [4, 1])
def test_each_latent_sees_its_own_frames_and_no_later_ones(k, shortcut):
    """Latent 0 covers frame 0 alone; latent i covers frames 1+k(i-1) .. k*i. Changing frame f changes
    latent i(f) and later ones, never an earlier one: a one-frame slip in the map fails this."""
    m = model(k, shortcut)
    x = torch.rand(1, 3, 17, 16, 16) * 2 - 1
    with torch.no_grad():
        z0 = m.encode(x)
        for f in range(17):
            x2 = x.clone()
            x2[:, :, f] = -x2[:, :, f]
            changed = (m.encode(x2) - z0).abs().amax(dim=(0, 1, 3, 4)) > 1e-6
            owner = 0 if f == 0 else 1 + (f - 1) // k
            assert changed[owner] and not changed[:owner].any(), (f, changed.tolist())


@pytest.mark.parametrize("k", [4, 1])
def test_timestamps_are_the_centre_of_each_latents_frames(k):
    m = model(k)
    fps = m.config.fps
    ts = m.timestamps(5)
    for i, t in enumerate(ts):
        frames = [0] if i == 0 else list(range(1 + k * (i - 1), k * i + 1))
        assert abs(t - np.mean(frames) / fps) < 1e-9
    if k == 4:
        assert np.allclose(ts[:3] * 1000, [0.0, 100.0, 260.0])      # 25 fps: frames 1-4, 5-8
    assert m.latents_per_second == fps / k


@pytest.mark.parametrize("k", [4, 1])
def test_the_decoder_puts_a_latent_on_its_own_frames(k):
    """Changing latent i changes decoded frames from 1+k(i-1) on, never earlier ones."""
    m = model(k)
    z = torch.randn(1, 4, 5, 2, 2)
    with torch.no_grad():
        y0 = m.decode(z)
        for i in range(5):
            z2 = z.clone()
            z2[:, :, i] += 3.0
            changed = (m.decode(z2) - y0).abs().amax(dim=(0, 1, 3, 4)) > 1e-6
            first = 0 if i == 0 else 1 + k * (i - 1)
            assert changed[first] and not changed[:first].any(), (i, changed.tolist())


@pytest.mark.parametrize("shortcut", [False, True])
@pytest.mark.parametrize("k", [4, 1])
def test_chunked_encode_and_decode_match_one_shot(k, shortcut):
    m = model(k, shortcut)
    x = torch.rand(1, 3, 29, 32, 32) * 2 - 1
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
        zc = m.chunked_encode(x, chunk_latents=2)
        yc = m.chunked_decode(z, chunk_latents=3)
    assert zc.shape == z.shape and (zc - z).abs().max() < 1e-4
    assert yc.shape == y.shape and (yc - y).abs().max() < 1e-4
    parts = list(m.decode_chunks(z, chunk_latents=3))           # what a long clip's writer converts one at a time
    assert len(parts) == -(-z.shape[2] // 3) and torch.equal(torch.cat(parts, 2), yc)


@pytest.mark.parametrize("k", [4, 1])
def test_the_shortcut_thumbnail_passes_blocks_through_on_their_own_frames(k):
    """With the residual networks silenced, a video that is constant over each 4x4 block and each latent's
    k frames comes back exactly, through the 12 thumbnail channels alone (the causal map and chunking with the
    shortcut are in the tests above)."""
    m = model(k, shortcut=True)
    cells = torch.rand(1, 3, 5, 8, 12) * 2 - 1                           # 5 latents of 8x12 cells
    frames = torch.cat([cells[:, :, :1], cells[:, :, 1:].repeat_interleave(k, dim=2)], dim=2)
    x = frames.repeat_interleave(4, dim=3).repeat_interleave(4, dim=4)    # [1, 3, 1 + 4k, 32, 48]
    t = thumbnail(torch.cat([x[:, :, :1].expand(-1, -1, k - 1, -1, -1), x], dim=2), k)
    assert t.shape == (1, 12, 5, 4, 6)
    # channel (colour, row, column) = (red, 0, 1) at latent 2, position (1, 2): cell row 2, column 5
    assert torch.allclose(t[0, 0 * 4 + 0 * 2 + 1, 2, 1, 2], cells[0, 0, 2, 2, 5])
    with torch.no_grad():
        assert (m.decode_raw(m.encode_dist(x).mean) - x).abs().max() > 0.1     # the networks' share, before
        for net in (m.encoder.net, m.decoder.net):
            torch.nn.init.zeros_(net.layers[-1].conv.weight)
            torch.nn.init.zeros_(net.layers[-1].conv.bias)
        assert (m.decode_raw(m.encode_dist(x).mean) - x).abs().max() < 1e-5
    with pytest.raises(DuettoError, match="shortcut"):
        VideoVAEConfig(latent_channels=8, shortcut=True)


def test_latent_scale_and_shift_come_from_the_config():
    torch.manual_seed(0)
    a = VideoVAE(VideoVAEConfig(base_channels=8, latent_channels=4)).eval()
    b = VideoVAE(VideoVAEConfig(base_channels=8, latent_channels=4, latent_scale=2.0, latent_shift=0.5)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        za, zb = a.encode(x), b.encode(x)
        assert torch.allclose(zb, (za - 0.5) * 2.0, atol=1e-6)
        assert torch.allclose(a.decode(za), b.decode(zb), atol=1e-5)


def test_save_and_load_round_trip_and_strictness(tmp_path):
    m = model(4)
    m.save_pretrained(tmp_path / "vae")
    meta = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert meta["class"] == "duetto.video.vae.VideoVAE" and meta["config"]["temporal_factor"] == 4
    back = load_autoencoder(tmp_path / "vae")
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(m.encode(x), back.encode(x))
    assert VideoVAE.from_pretrained(tmp_path / "vae").config == m.config
    # shipped in half precision: half the bytes, loaded back as float32 weights equal to the rounded ones
    m.save_pretrained(tmp_path / "half", dtype=torch.float16)
    size = lambda d: (tmp_path / d / "model.safetensors").stat().st_size           # noqa: E731
    assert size("half") < 0.55 * size("vae")
    half = load_autoencoder(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in half.parameters())
    assert all(torch.equal(a, b.half().float()) for a, b in zip(half.parameters(), m.parameters()))
    # weights of another shape
    VideoVAE(VideoVAEConfig(base_channels=16, latent_channels=4)).save_pretrained(tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text((tmp_path / "vae" / "config.json").read_text())
    with pytest.raises(DuettoError, match="wrong shape|does not match"):
        load_autoencoder(tmp_path / "other")
    # corrupt weights, a config that names something else, a missing folder
    (tmp_path / "vae" / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(DuettoError, match="corrupt weights"):
        load_autoencoder(tmp_path / "vae")
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"class": "os.system", "config": {}}))
    with pytest.raises(DuettoError, match="not a Duetto model"):
        load_autoencoder(tmp_path / "vae")
    with pytest.raises(DuettoError, match="no config.json"):
        load_autoencoder(tmp_path / "missing")


def test_presets_and_bad_configs():
    assert preset("tiny").temporal_factor == 4 and preset("tiny-x1").temporal_factor == 1
    with pytest.raises(DuettoError, match="unknown video VAE preset 'huge'"):
        preset("huge")
    with pytest.raises(DuettoError, match="temporal_factor"):
        VideoVAEConfig(temporal_factor=3)
    with pytest.raises(DuettoError, match="multiples of 8"):
        model(4).encode(torch.zeros(1, 3, 5, 20, 16))


def test_metrics_and_loss():
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    assert ssim(x, x).item() > 0.999 and psnr(x, x).item() > 90
    torch.manual_seed(0)
    x = torch.zeros(1, 3, 3, 32, 32)
    noisy = x + 0.1 * torch.randn_like(x)        # sigma 0.05 on [0, 1]: MSE 0.0025, 26.0 dB
    assert abs(psnr(x, noisy).item() - 26.0) < 0.2
    assert ssim(x, noisy).item() < 0.9
    m = VideoVAE(SMALL[4])
    loss, logs = vae_loss(m, torch.rand(1, 3, 5, 16, 16) * 2 - 1, m.config)
    loss.backward()
    assert set(logs) == {"l1", "moving_l1", "ssim", "kl"} and all(p.grad is not None for p in m.encoder.parameters())


def test_moving_pixels_are_where_an_object_is_and_was():
    from duetto.video.losses import moving
    x = torch.full((1, 3, 4, 16, 16), -0.5)
    for t in range(4):                          # a 2x2 white square moving right 3 px a frame
        x[:, :, t, 4:6, 3 * t:3 * t + 2] = 1.0
    m = moving(x)
    # frames 0 and 3: two places (now, and next or before); frames 1 and 2: three (before, now, next)
    assert m.shape == (1, 1, 4, 16, 16) and m.sum() == (2 + 3 + 3 + 2) * 4
    assert m[0, 0, 0, 4, 0] == 1 and m[0, 0, 0, 4, 3] == 1 and m[0, 0, 0, 4, 6] == 0
    assert m[0, 0, 1, 4, 0] == 1 and m[0, 0, 1, 4, 6] == 1 and m[0, 0, 1, 6, 3] == 0
    assert moving(torch.zeros(1, 3, 4, 8, 8)).sum() == 0


class _Fixed(torch.nn.Module):
    """A stand-in model that returns a fixed reconstruction and no KL."""

    def __init__(self, rec):
        super().__init__()
        self.rec = rec

    def forward(self, video):
        return self.rec, torch.zeros(())


def test_the_motion_weight_makes_a_lost_object_cost_more_than_a_dim_background():
    x = torch.full((1, 3, 4, 16, 16), -0.5)
    for t in range(4):
        x[:, :, t, 4:6, 3 * t:3 * t + 2] = 1.0
    still = torch.full_like(x, -0.5)                     # the object lost: a still background
    dim = x - 0.1                                        # the object kept, the whole picture a little too dark
    for w, lost_costs_more in [(0.0, False), (20.0, True)]:
        cfg = VideoVAEConfig(motion_weight=w, ssim_weight=0.0)
        lost, logs = vae_loss(_Fixed(still), x, cfg)
        shaded, _ = vae_loss(_Fixed(dim), x, cfg)
        assert (lost.item() > shaded.item()) == lost_costs_more, (w, lost.item(), shaded.item())
    assert abs(logs["moving_l1"] - 1.5 * 16 / 40) < 1e-6     # 16 of the 40 moving pixels hold the object (error 1.5)
    with pytest.raises(DuettoError, match="motion_weight"):
        VideoVAEConfig(motion_weight=-1)
