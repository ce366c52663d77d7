"""The audio VAE (duetto.audio.vae) and its losses: shapes, the time base, saving, chunking, a short overfit."""
from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from duetto.audio.losses import (MelLoss, MultiResolutionSTFTLoss, ReconstructionLoss, discriminator_loss,
                                 generator_losses, make_discriminator, reconstruction_metrics, vae_loss)
from duetto.audio.vae import PRESETS, AudioVAE, preset
from duetto.data.autoencoder import Autoencoder, load_autoencoder
from duetto.data.errors import DuettoError

SR = 16000


def tiny(seed: int = 0, **changes) -> AudioVAE:
    torch.manual_seed(seed)
    return AudioVAE(dataclasses.replace(preset("tiny"), **changes)).eval()


def noise(*shape, seed: int = 1, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def clicks(n: int, times, sr: int = SR, floor: float = 0.01, seed: int = 2) -> torch.Tensor:
    """``[1, 1, n]``: faint noise with a 6 ms 900 Hz square burst (0.8) starting at each of ``times``."""
    x = noise(1, 1, n, seed=seed, scale=floor)
    burst = int(0.006 * sr)
    wave = 0.8 * torch.sign(torch.sin(torch.arange(burst) * 2 * np.pi * 900 / sr) + 1e-9)
    for t in times:
        i = int(round(t * sr))
        x[..., i:i + burst] += wave
    return x


# -- config and shapes -----------------------------------------------------------------------------------
def test_tiny_preset_time_base_and_shapes():
    m = tiny()
    assert isinstance(m, Autoencoder)
    assert (m.hop, m.latents_per_second, m.latent_channels, m.sample_rate, m.channels) == (320, 50.0, 8, SR, 1)
    x = noise(2, 1, SR)
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
    assert z.shape == (2, 8, 50) and y.shape == (2, 1, SR)
    np.testing.assert_allclose(m.timestamps(3), [0.01, 0.03, 0.05])


def test_every_preset_builds():
    for name, cfg in PRESETS.items():
        m = AudioVAE(cfg)
        assert 25 <= m.latents_per_second <= 50, name
        assert m.encoder_overlap > 0 and m.decoder_overlap > 0
    assert PRESETS["base"].sample_rate == 48000 and PRESETS["base"].channels == 2


def test_bad_preset_and_config():
    with pytest.raises(DuettoError, match="tiny, base"):
        preset("huge")
    for bad in ({"ratios": ()}, {"ratios": (8, 0)}, {"latent_channels": 0}, {"latent_scale": 0.0},
                {"lstm": -1}, {"sample_rate": 16000.5}):
        with pytest.raises(DuettoError):
            dataclasses.replace(preset("tiny"), **bad)


def test_lengths_not_a_multiple_of_hop():
    m = tiny()
    x = noise(1, 1, 1000)
    with torch.no_grad():
        z = m.encode(x)
        assert z.shape == (1, 8, 4) and m.latent_length(1000) == 4
        assert m.decode(z).shape == (1, 1, 4 * 320) == (1, 1, m.sample_count(4))
        assert m.decode(z, length=1000).shape == (1, 1, 1000)
        assert m.encode(noise(1, 1, 1)).shape == (1, 8, 1)
    for bad in (noise(1, 2, 1000), noise(1, 1000), noise(1, 1, 0)):
        with pytest.raises(DuettoError):
            m.encode(bad)
    with pytest.raises(DuettoError):
        m.decode(torch.zeros(1, 3, 4))


def test_latent_scale_and_shift_are_applied():
    m = tiny(latent_scale=2.0, latent_shift=0.5)
    x = noise(1, 1, 3200)
    with torch.no_grad():
        d = m.encode_dist(x)
        z = m.encode(x)
        torch.testing.assert_close(z, (d.mean - 0.5) * 2.0)
        torch.testing.assert_close(m.decode(z), m.decode_raw(d.mean))
        assert not torch.equal(m.encode(x, sample=True), z)


# -- saving --------------------------------------------------------------------------------------------
def test_save_and_load_round_trip(tmp_path):
    m = tiny(seed=3, latent_scale=0.7)
    x = noise(1, 1, 2000)
    m.save_pretrained(tmp_path / "vae")
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == ["config.json", "model.safetensors"]
    back = AudioVAE.from_pretrained(tmp_path / "vae")
    assert back.config == m.config and not back.training
    assert isinstance(load_autoencoder(tmp_path / "vae"), AudioVAE)
    with torch.no_grad():
        assert torch.equal(back.encode(x), m.encode(x))
        z = m.encode(x)
        assert torch.equal(back.decode(z), m.decode(z))
    copy.deepcopy(back)                             # trainers keep an EMA copy: weight norm must allow it


@pytest.mark.parametrize("change", [{"n_filters": 8}, {"latent_channels": 4}, {"ratios": [8, 5, 4]}])
def test_weights_for_another_config_are_refused(tmp_path, change):
    tiny().save_pretrained(tmp_path / "vae")
    path = tmp_path / "vae" / "config.json"
    meta = json.loads(path.read_text())
    meta["config"].update(change)
    path.write_text(json.dumps(meta))
    with pytest.raises(DuettoError):
        AudioVAE.from_pretrained(tmp_path / "vae")


# -- chunking ------------------------------------------------------------------------------------------
def test_chunked_matches_one_shot():
    m = tiny(seed=4)
    x = noise(1, 1, 24011)                          # ~1.5 s, not a multiple of the hop
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
    assert m.encoder_overlap == 4 and m.decoder_overlap == 4
    for chunk in (7, 20, 1000):
        zc = m.chunked_encode(x, chunk)
        assert zc.shape == z.shape
        assert (zc - z).abs().max() < 1e-4, chunk
        yc = m.chunked_decode(z, chunk, length=24011)
        assert yc.shape == (1, 1, 24011)
        assert (yc - y[..., :24011]).abs().max() < 1e-4, chunk
    # the overlap is the whole receptive field and no more: in float64 chunking is exact with it and
    # differs (by little: the far taps are small) with one latent less
    m.double()
    x = x.double()
    with torch.no_grad():
        z = m.encode(x)
        y = m.decode(z)
    for cut in (0, 1):
        m.encoder_overlap, m.decoder_overlap = 4 - cut, 4 - cut
        errors = ((m.chunked_encode(x, 7) - z).abs().max(), (m.chunked_decode(z, 7) - y).abs().max())
        assert all(e < 1e-12 for e in errors) if cut == 0 else all(e > 1e-9 for e in errors), (cut, errors)


# -- the time base ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0.2, 0.3117, 0.405, 0.61])
def test_a_click_moves_the_latent_at_its_timestamp(t):
    """Untrained weights are not centred, but the click's reach must be: the latents it changes are
    centred on the one whose timestamp is nearest (within half a latent), the change is centred on it
    (energy centroid within one latent), and that latent changes by at least a quarter of the most."""
    m = tiny(seed=5).double()
    base = noise(1, 1, SR, scale=0.01).double()
    burst = torch.zeros_like(base)
    i = int(round(t * SR))
    burst[..., i:i + 16] = 0.8                              # a 1 ms click: centre at (i + 7.5) / SR
    with torch.no_grad():
        dz = (m.encode(base + burst) - m.encode(base)).pow(2).sum(dim=1)[0]    # [L]
    ts = m.timestamps(dz.shape[0])
    near = int(np.argmin(np.abs(ts - (i + 7.5) / SR)))
    moved = torch.nonzero(dz > 1e-12 * dz.max())[:, 0]
    assert abs((moved.min() + moved.max()).item() / 2 - near) <= 0.5
    centroid = float((dz * torch.arange(len(dz))).sum() / dz.sum())
    assert abs(centroid - near) <= 1.5
    assert dz[near] >= 0.25 * dz.max()


@pytest.mark.parametrize("i", [5, 17, 30])
def test_a_latent_is_heard_at_its_timestamp(i):
    """Changing latent i changes samples centred on timestamps[i] (support and energy) within half a hop."""
    m = tiny(seed=6).double()
    with torch.no_grad():
        z = m.encode(noise(1, 1, 40 * 320, scale=0.05).double())
        dz = torch.zeros_like(z)
        dz[..., i] = 1.0
        dy = (m.decode(z + dz) - m.decode(z))[0].pow(2).sum(dim=0)                # [N]
    at = m.timestamps(z.shape[-1])[i] * SR - 0.5          # sample index at the centre of the span
    heard = torch.nonzero(dy > 1e-12 * dy.max())[:, 0]
    assert abs((heard.min() + heard.max()).item() / 2 - at) <= m.hop / 2
    centroid = float((dy * torch.arange(len(dy))).sum() / dy.sum())
    assert abs(centroid - at) <= m.hop / 2


# -- losses ----------------------------------------------------------------------------------------------
def test_reconstruction_losses_zero_when_equal_positive_otherwise():
    x, y = noise(2, 1, 4000, seed=7), noise(2, 1, 4000, seed=8)
    for loss in (MultiResolutionSTFTLoss(SR), MelLoss(SR)):
        assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
        assert loss(y, x).item() > 0.1
    assert MultiResolutionSTFTLoss(48000).fft_sizes == (2048, 4096, 8192)
    total, parts = ReconstructionLoss(SR)(y, x)
    assert total.item() == pytest.approx(parts["stft"] + parts["mel"], rel=1e-5)
    metrics = reconstruction_metrics(x[0], y[0, :, :4100 - 200], SR)      # [C, N], cut to the shorter
    assert set(metrics) == {"log_mel_l1", "multires_stft"} and all(type(v) is float and v > 0 for v in metrics.values())
    assert reconstruction_metrics(x, x, SR) == pytest.approx({"log_mel_l1": 0.0, "multires_stft": 0.0}, abs=1e-6)
    with pytest.raises(DuettoError):
        reconstruction_metrics(x, noise(2, 2, 4000), SR)


def test_training_stft_sizes_see_a_click_5_ms_early():
    """The tiny preset trains with 8 and 16 ms windows besides the reported 32-128 ms ones: a click put 5 ms
    (80 samples) early costs clearly more there, while the reported distance stays defined by STFT_SIZES."""
    burst = torch.hann_window(160) * torch.randn(160, generator=torch.Generator().manual_seed(0))

    def click(at: int) -> torch.Tensor:
        y = torch.zeros(1, 1, SR)
        y[0, 0, at:at + 160] = burst
        return y

    sizes = preset("tiny").stft_sizes
    assert MultiResolutionSTFTLoss(SR).fft_sizes == (512, 1024, 2048)
    assert ReconstructionLoss(SR, fft_sizes=sizes).stft.fft_sizes == (128, 256, 512, 1024, 2048)
    assert MultiResolutionSTFTLoss(48000, sizes).fft_sizes == (512, 1024, 2048, 4096, 8192)
    x, early = click(8000), click(8000 - 80)
    assert MultiResolutionSTFTLoss(SR, sizes)(early, x) > 1.5 * MultiResolutionSTFTLoss(SR)(early, x)
    with pytest.raises(DuettoError, match="stft_sizes"):
        dataclasses.replace(preset("tiny"), stft_sizes=(8,))


def test_gan_losses_run_through_the_discriminator():
    torch.manual_seed(9)
    disc = make_discriminator(SR, channels=1, filters=4)
    copy.deepcopy(disc)
    real = noise(2, 1, 4000, seed=10)
    fake = noise(2, 1, 4000, seed=11).requires_grad_()
    d_loss = discriminator_loss(disc, real, fake)
    d_loss.backward()
    assert fake.grad is None and d_loss.item() > 0
    assert any(p.grad is not None for p in disc.parameters())
    adv, fm = generator_losses(disc, real, fake)
    (adv + fm).backward()
    assert fake.grad is not None and adv.item() >= 0 and fm.item() > 0
    assert generator_losses(disc, real, real)[1].item() == pytest.approx(0.0, abs=1e-6)


def test_at_initialisation_the_decoder_output_depends_on_the_latents():
    """The figure in ``audio.vae._weight_norm_all``: with norm-1 filters the untrained decoder's output moves
    by about 0.17 (std) between the true latents and zeros for noise at 0.14; with PyTorch's default init it
    moved by 4e-5, and training learnt to ignore the latents."""
    torch.manual_seed(0)
    m = AudioVAE(preset("tiny")).eval()
    x = torch.randn(2, 1, SR) * 0.14
    with torch.no_grad():
        z = m.encode_dist(x).mean
        moved = (m.decode_raw(z) - m.decode_raw(torch.zeros_like(z))).std().item()
    assert moved > 0.05, moved


@pytest.mark.slow
def test_tiny_model_overfits_one_clip_with_clicks():
    """60 Adam steps (lr 3e-4, the trainer's) on 0.3 s with three clicks: the multi-resolution STFT loss of
    the reconstruction (posterior mean) drops by more than a quarter (measured: 3.33 -> 2.32). A few seconds
    on a 2-core CPU."""
    m = tiny(seed=12).train()
    x = clicks(4800, (0.05, 0.14, 0.22))
    stft, recon = MultiResolutionSTFTLoss(SR), ReconstructionLoss(SR, 1.0, m.config.wave_weight)

    def evaluate():
        with torch.no_grad():
            return stft(m.decode(m.encode(x), length=x.shape[-1]), x).item()

    before = evaluate()
    opt = torch.optim.Adam(m.parameters(), lr=3e-4)
    for _ in range(60):
        loss, parts, _ = vae_loss(m, x, m.config, recon)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(parts) == {"stft", "mel", "wave", "kl"}
    after = evaluate()
    assert after < 0.75 * before, (before, after)


# -- a pretrained EnCodec as a frozen latent space -------------------------------------------------------
def small_encodec(causal: bool = True):
    """A randomly initialised EnCodec with small SEANets, as `encodec` would build and save it."""
    import warnings

    from encodec import EncodecModel
    from encodec.modules import SEANetDecoder, SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer
    torch.manual_seed(13)
    kw = dict(channels=1, dimension=16, n_filters=4, ratios=[4, 4, 2], lstm=1, causal=causal, norm="weight_norm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = EncodecModel(SEANetEncoder(**kw), SEANetDecoder(**kw), ResidualVectorQuantizer(16, n_q=2, bins=16),
                             [1.5], sample_rate=SR, channels=1)
    return model.eval()


@pytest.mark.parametrize("suffix", [".th", ".safetensors"])
def test_encodec_checkpoint_as_frozen_latent_space(tmp_path, suffix):
    from safetensors.torch import save_file

    from duetto.audio.encodec_latent import EncodecLatent, EncodecLatentConfig, encodec_preset
    source = small_encodec()
    path = tmp_path / f"encodec{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    cfg = EncodecLatentConfig(sample_rate=SR, n_filters=4, dimension=16, ratios=(4, 4, 2), lstm=1, latent_scale=0.5)
    ae = EncodecLatent.from_encodec_checkpoint(path, cfg)
    assert isinstance(ae, Autoencoder) and ae.latent_channels == 16 and ae.latents_per_second == SR / 32
    assert not any(p.requires_grad for p in ae.parameters()) and not ae.train().training
    x = noise(1, 1, 1000)
    with torch.no_grad():
        emb = source.encoder(x)
        z = ae.encode(x)
        torch.testing.assert_close(z, 0.5 * emb, rtol=1e-5, atol=1e-6)
        assert z.shape == (1, 16, 32)                                       # ceil(1000 / 32)
        torch.testing.assert_close(ae.decode(z), source.decoder(emb), rtol=1e-5, atol=1e-6)
        assert ae.decode(z, length=1000).shape == (1, 1, 1000)
    ae.save_pretrained(tmp_path / "saved")
    back = load_autoencoder(tmp_path / "saved")
    with torch.no_grad():
        assert isinstance(back, EncodecLatent) and torch.equal(back.encode(x), z)
    with pytest.raises(DuettoError, match="not an EnCodec checkpoint"):
        EncodecLatent.from_encodec_checkpoint(path, encodec_preset("encodec_24khz"))
    with pytest.raises(DuettoError):
        EncodecLatent.from_encodec_checkpoint(tmp_path / "absent.th", cfg)
    (tmp_path / "junk.th").write_bytes(b"not a checkpoint")
    with pytest.raises(DuettoError, match="cannot read"):
        EncodecLatent.from_encodec_checkpoint(tmp_path / "junk.th", cfg)
