"""The harmonic source beside the audio VAE's decoder (duetto.audio.harmonic): its time base, its oscillator, its
teaching targets, and the VAE that carries it (decode, chunked decode, saving)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from duetto.audio import harmonic as H
from duetto.audio.speaker import median_f0
from duetto.audio.vae import AudioVAE, preset
from duetto.data.autoencoder import load_autoencoder
from duetto.data.errors import DuettoError

SR, HOP = 16000, 320


def tone(segments, sr=SR):
    """Concatenated sines: ``[(seconds, hz, amplitude)]``, phase continuous."""
    f = np.concatenate([np.full(int(s * sr), hz) for s, hz, _ in segments])
    a = np.concatenate([np.full(int(s * sr), amp) for s, _, amp in segments])
    return a * np.sin(2 * np.pi * np.cumsum(f) / sr)


def frames_for(f0_hz, amps, voiced=True):
    """Frame values a source would predict: constant F0 (Hz) and partial amplitudes over ``L`` latents."""
    amps = torch.as_tensor(amps, dtype=torch.float32)                  # [K, L]
    L = amps.shape[1]
    return {"log_f0": torch.full((1, L), float(np.log(f0_hz))), "voicing": torch.full((1, L), 9.0 if voiced else -9.0),
            "amplitudes": amps[None]}


def test_f0_targets_sit_on_the_latents_clock():
    """100 Hz for 1 s, then 200 Hz: the change falls at 1.0 s on the latents' clock, within 15 ms:
    halfway between the last latent that reads 100 and the first that reads 200 (the one between straddles)."""
    x = tone([(1.0, 100, 0.5), (1.0, 200, 0.5)])
    L = len(x) // HOP
    f = H.f0_targets(x, SR, HOP, L)
    centres = (np.arange(L) + 0.5) * HOP / SR
    assert np.nanmedian(f[centres < 0.9]) == pytest.approx(100, rel=0.03)
    assert np.nanmedian(f[(centres > 1.1) & (centres < 1.9)]) == pytest.approx(200, rel=0.03)
    first_high = centres[np.isfinite(f) & (f > 150)].min()
    last_low = centres[np.isfinite(f) & (f < 150)].max()
    assert abs((first_high + last_low) / 2 - 1.0) <= 0.015     # a 40 ms slip of the clock moves this by 0.04


def test_f0_targets_of_silence_are_unvoiced():
    assert np.isnan(H.f0_targets(np.zeros(SR), SR, HOP, 50)).all()


def test_render_is_the_asked_sine_and_runs_on_across_blocks(monkeypatch):
    src = H.HarmonicSource(8, HOP, SR, harmonics=4)
    amps = np.zeros((4, 100))
    amps[0] = 0.5
    y = src.render(frames_for(200.0, amps))[0, 0].numpy()
    assert y.shape == (100 * HOP,)
    assert np.abs(y).max() == pytest.approx(0.5, rel=0.01)
    assert median_f0(y.astype(np.float64), SR) == pytest.approx(200, rel=0.02)
    monkeypatch.setattr(H, "BLOCK", 777)          # blocks of odd length: the same waveform
    y2 = src.render(frames_for(200.0, amps))[0, 0].numpy()
    np.testing.assert_allclose(y2, y, atol=1e-5)


def test_partials_over_nyquist_are_left_out():
    src = H.HarmonicSource(8, HOP, SR, harmonics=48)
    amps = np.zeros((48, 50))
    amps[39] = 0.5                                 # partial 40 of 300 Hz = 12 kHz, over 8 kHz
    assert np.abs(src.render(frames_for(300.0, amps)).numpy()).max() < 1e-6
    amps[39], amps[19] = 0.0, 0.5                  # partial 20 = 6 kHz: kept
    assert np.abs(src.render(frames_for(300.0, amps)).numpy()).max() == pytest.approx(0.5, rel=0.01)


def test_harmonic_amplitudes_read_each_partial():
    x = torch.from_numpy(tone([(1.0, 150, 0.3)]) + tone([(1.0, 300, 0.1)])).float()[None]
    L = x.shape[-1] // HOP
    f0 = torch.full((1, L), 150.0)
    f0[0, :5] = float("nan")                       # unvoiced latents: no partials
    a = H.harmonic_amplitudes(x, f0, HOP, SR, harmonics=3)
    assert a.shape == (1, 3, L)
    inner = a[0, :, 10:-10]
    assert inner[0].mean().item() == pytest.approx(0.3, rel=0.05)
    assert inner[1].mean().item() == pytest.approx(0.1, rel=0.05)
    assert inner[2].abs().max().item() < 0.01
    assert a[0, :, :5].abs().max().item() == 0.0


def test_the_source_learns_its_f0_and_partials():
    """A short overfit: fixed latents, a 150 Hz target with two partials; after 300 updates the source's F0 is
    within 3 % and its rendering is a 150 Hz tone."""
    torch.manual_seed(0)
    src = H.HarmonicSource(8, HOP, SR, harmonics=8)
    z = torch.randn(2, 8, 25)
    f0 = torch.full((2, 25), 150.0)
    amps = torch.zeros(2, 8, 25)
    amps[:, 0], amps[:, 1] = 0.3, 0.1
    opt = torch.optim.Adam(src.parameters(), lr=3e-3)
    for _ in range(300):
        loss, parts = H.harmonic_loss(src.frames(z), f0, amps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    fr = src.frames(z)
    assert fr["log_f0"].exp().median().item() == pytest.approx(150, rel=0.03)
    y = src.render(fr)[0, 0].detach().double().numpy()
    assert median_f0(y, SR) == pytest.approx(150, rel=0.03)


def test_vae_with_a_source_decodes_chunked_as_whole_and_saves(tmp_path):
    torch.manual_seed(0)
    vae = AudioVAE(dataclasses.replace(preset("tiny"), harmonics=16)).eval()
    with torch.no_grad():
        vae.harmonic.head.bias[2].fill_(1.0)      # audible
    z = torch.randn(1, 8, 120)
    with torch.no_grad():
        whole = vae.decode(z)
        plain = vae.decoder(vae.denormalise(z))
    assert whole.shape == (1, 1, 120 * HOP)
    assert (whole - plain).abs().max() > 1e-3     # the source adds something
    np.testing.assert_allclose(vae.chunked_decode(z, chunk_latents=17).numpy(), whole.numpy(), atol=2e-5)
    vae.save_pretrained(tmp_path / "v")
    back = load_autoencoder(tmp_path / "v")
    assert back.config.harmonics == 16
    with torch.no_grad():
        np.testing.assert_allclose(back.decode(z).numpy(), whole.numpy(), atol=1e-5)


def test_a_vae_without_a_source_is_unchanged():
    vae = AudioVAE(preset("tiny"))
    assert vae.harmonic is None
    assert not any(k.startswith("harmonic.") for k in vae.state_dict())


def test_harmonics_out_of_range_is_a_clear_error():
    with pytest.raises(DuettoError, match="harmonics"):
        dataclasses.replace(preset("tiny"), harmonics=-1)


def test_a_lenient_threshold_voices_a_noisy_low_voice_at_its_own_pitch():
    """A 65 Hz voice under noise (espeak-ng's low men are as creaky): YIN at 0.15 finds it in a few latents, at 0.35
    in all of them, at the same pitch."""
    t = np.arange(SR) / SR
    x = sum(np.sin(2 * np.pi * k * 65 * t) / k for k in range(1, 10)) + np.random.default_rng(0).normal(0, 0.4, SR)
    strict, lenient = H.f0_targets(x, SR, 320, 50), H.f0_targets(x, SR, 320, 50, threshold=0.35)
    assert np.isfinite(strict).sum() <= 5 and np.isfinite(lenient).sum() >= 45
    assert abs(np.nanmedian(lenient) - 65) < 0.05 * 65
