"""The voice metric (duetto.audio.speaker): the resemblyzer-style encoder's loading, front end and partials,
YIN F0 on tones, and with the shipped resemblyzer weights, espeak-ng voices told apart."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from duetto.audio import speaker
from duetto.audio.speaker import SpeakerEncoder
from duetto.data.errors import DuettoError

SR = 16000


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The LSTM's batches are small: on a busy 2-core machine more threads only wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tone(freqs, seconds=1.0, sr=SR, amps=None):
    t = np.arange(int(seconds * sr)) / sr
    amps = amps or [1.0] * len(freqs)
    return 0.3 * sum(a * np.sin(2 * np.pi * f * t + k) for k, (f, a) in enumerate(zip(freqs, amps)))


def made_weights(seed=0):
    """A state dict of the encoder's shapes with random values (not the module's own init)."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) * 0.1 for k, v in SpeakerEncoder().state_dict().items()}


def test_mel_filterbank_is_librosas_slaney():
    ta = pytest.importorskip("torchaudio.functional")      # same filters as librosa.filters.mel(16000, 400, 40)
    ref = ta.melscale_fbanks(201, 0.0, 8000.0, 40, SR, norm="slaney", mel_scale="slaney").numpy().T
    fb = speaker.mel_filterbank()
    assert fb.shape == (40, 201)
    np.testing.assert_allclose(fb, ref, atol=1e-5 * ref.max())   # torchaudio's are float32
    mel = speaker.mel_spectrogram(np.zeros(SR))
    assert mel.shape == (101, 40) and mel.dtype == np.float32


def test_partial_slices_follow_resemblyzer():
    assert [(s.start, s.stop) for s in speaker.partial_slices(3 * SR)] == [(0, 160), (77, 237), (154, 314)]
    assert [(s.start, s.stop) for s in speaker.partial_slices(SR // 2)] == [(0, 160)]   # always one
    # the third partial starts at frame 154 (1.54 s): 2.8 s covers 79 % of it (kept), 2.7 s 73 % (dropped)
    assert len(speaker.partial_slices(int(2.8 * SR))) == 3
    assert len(speaker.partial_slices(int(2.7 * SR))) == 2


def test_preprocess_raises_volume_and_cuts_long_silence():
    quiet = tone([200], seconds=1.0) / 300                       # about -60 dBFS: raised to -30 dBFS
    assert np.sqrt(np.mean(speaker.preprocess(quiet, SR) ** 2)) == pytest.approx(10 ** (-30 / 20), rel=0.02)
    loud = tone([200], seconds=1.0)                              # about -13 dBFS: left as it is
    np.testing.assert_allclose(speaker.preprocess(loud, SR), loud[: len(loud) // 480 * 480])
    gapped = np.concatenate([loud, np.zeros(3 * SR), loud])      # 3 s of silence shrink to about 0.15 s
    assert 2.05 * SR < len(speaker.preprocess(gapped, SR)) < 2.3 * SR


def test_loading_is_strict(tmp_path):
    state = made_weights()
    torch.save({"model_state": state, "step": 3}, tmp_path / "ckpt.pt")
    torch.save(state, tmp_path / "bare.pt")
    for name in ("ckpt.pt", "bare.pt"):
        enc = SpeakerEncoder.pretrained(tmp_path / name)
        assert not enc.training
        assert all(torch.equal(v, state[k]) for k, v in enc.state_dict().items())
    wrong = dict(state)
    wrong["linear.weights"] = wrong.pop("linear.weight")
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(DuettoError, match="keys differ.*linear.weight"):
        SpeakerEncoder.pretrained(tmp_path / "wrong.pt")
    torch.save({**state, "extra": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(DuettoError, match="unexpected \\['extra'\\]"):
        SpeakerEncoder.pretrained(tmp_path / "extra.pt")
    torch.save({**state, "linear.bias": torch.zeros(128)}, tmp_path / "shape.pt")
    with pytest.raises(DuettoError, match="linear.bias has shape"):
        SpeakerEncoder.pretrained(tmp_path / "shape.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DuettoError, match="not a readable"):
        SpeakerEncoder.pretrained(tmp_path / "junk.pt")
    with pytest.raises(DuettoError, match="not found"):
        SpeakerEncoder.pretrained(tmp_path / "absent.pt")


def test_embed_shapes_and_input_errors(tmp_path):
    torch.save(made_weights(), tmp_path / "w.pt")
    enc = SpeakerEncoder.pretrained(tmp_path / "w.pt")
    x = tone([150, 300, 450], seconds=2.0)
    e = speaker.embed(x, SR, encoder=enc)
    assert e.shape == (256,) and e.dtype == np.float32
    assert abs(np.linalg.norm(e) - 1) < 1e-5 and (e >= 0).all()
    np.testing.assert_allclose(speaker.embed(np.stack([x, x]), SR, encoder=enc), e, atol=1e-6)   # [C, N]
    assert speaker.similarity(e, e) == pytest.approx(1.0)
    x48 = tone([150, 300, 450], seconds=2.0, sr=48000)                 # resampled to 16 kHz first
    assert speaker.similarity(speaker.embed(x48, 48000, encoder=enc), e) > 0.99
    with pytest.raises(DuettoError, match="at most 60 s"):
        speaker.embed(np.zeros(61 * SR), SR, encoder=enc)
    with pytest.raises(DuettoError, match="no speech"):
        speaker.embed(np.zeros(SR), SR, encoder=enc)
    with pytest.raises(DuettoError, match="NaN"):
        speaker.embed(np.full(SR, np.nan), SR, encoder=enc)
    with pytest.raises(DuettoError, match="shape"):
        speaker.embed(np.zeros((1, 2, SR)), SR, encoder=enc)
    with pytest.raises(DuettoError, match="differ in size"):
        speaker.similarity(e, e[:10])


@pytest.mark.parametrize("f", [55.0, 110.0, 220.0, 440.0])
def test_median_f0_of_pure_tones(f):
    assert speaker.median_f0(tone([f]), SR) == pytest.approx(f, rel=0.03)


def test_median_f0_of_harmonic_tones():
    # a voice-like tone: 130 Hz with harmonics falling off, at 44.1 kHz in stereo
    h = tone([130 * k for k in range(1, 9)], sr=44100, amps=[1 / k for k in range(1, 9)])
    assert speaker.median_f0(np.stack([h, h]), 44100) == pytest.approx(130, rel=0.03)
    # a strong second harmonic must not halve the period (octave error)
    assert speaker.median_f0(tone([210, 420, 630], amps=[0.5, 1.0, 0.4]), SR) == pytest.approx(210, rel=0.03)


def test_median_f0_is_nan_without_voice():
    rng = np.random.default_rng(0)
    assert np.isnan(speaker.median_f0(np.zeros(SR), SR))
    assert np.isnan(speaker.median_f0(rng.standard_normal(SR) * 0.1, SR))     # white noise is unvoiced
    assert np.isnan(speaker.median_f0(np.zeros(100), SR))                      # shorter than one frame
    buzz = np.zeros(SR)
    buzz[::320] = 0.5                  # a 50 Hz pulse train (the audio VAE's frame rate): at the floor, not trusted
    assert np.isnan(speaker.median_f0(buzz, SR))
    assert speaker.median_f0(np.roll(buzz, 3)[: SR] + np.roll(buzz, 163)[: SR], SR) == pytest.approx(100, rel=0.03)


# -- the shipped resemblyzer weights on espeak-ng speech --------------------------------------------------

LOW, HIGH = ("en-us+m3", 20), ("en-us+f4", 80)


@pytest.fixture(scope="module")
def voices():
    try:
        speaker.default_weights_path()
    except DuettoError as e:
        pytest.skip(str(e))
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from duetto.data.synth.speech import speak_word

    def say(line, voice, pitch):
        gap = np.zeros(int(0.15 * SR))
        return np.concatenate([p for w in line.split() for p in (speak_word(w, voice, 160, pitch, SR), gap)])
    lines = ["the old man painted the red box yesterday", "my sister found seven apples by the river"]
    return {(v, i): say(line, *v) for v in (LOW, HIGH) for i, line in enumerate(lines)}


def test_shipped_encoder_tells_far_voices_apart(voices):
    e = {k: speaker.embed(x, SR) for k, x in voices.items()}
    for v, other in ((LOW, HIGH), (HIGH, LOW)):
        same = speaker.similarity(e[v, 0], e[v, 1])
        cross = max(speaker.similarity(e[v, i], e[other, j]) for i in (0, 1) for j in (0, 1))
        assert same > 0.85 and same > cross + 0.2, (v, same, cross)


def test_median_f0_of_espeak_voices(voices):
    low = [speaker.median_f0(voices[LOW, i], SR) for i in (0, 1)]
    high = [speaker.median_f0(voices[HIGH, i], SR) for i in (0, 1)]
    assert all(50 < f < 120 for f in low) and all(180 < f < 350 for f in high), (low, high)
    assert min(high) > 2 * max(low)
    assert abs(low[0] - low[1]) < 0.15 * low[1] and abs(high[0] - high[1]) < 0.15 * high[1]
