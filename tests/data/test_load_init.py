"""Loading skips the random draws of weights it overwrites, and only those."""
import pytest
import torch
from torch import nn

from duetto.data.autoencoder import load_autoencoder, weights_to_be_loaded
from duetto.video.vae import VideoVAE, preset


def test_initialisers_do_nothing_inside_and_come_back_after_an_error():
    t = torch.full((3, 4), 7.0)
    with pytest.raises(RuntimeError):
        with weights_to_be_loaded():
            nn.init.normal_(t)
            nn.init.zeros_(t)
            assert torch.all(t == 7.0)
            raise RuntimeError("boom")
    nn.init.zeros_(t)
    assert torch.all(t == 0)


def test_a_loaded_model_is_the_saved_one(tmp_path):
    torch.manual_seed(0)
    vae = VideoVAE(preset("tiny")).eval()
    vae.save_pretrained(tmp_path / "v")
    again = load_autoencoder(tmp_path / "v")
    for (k, a), (_, b) in zip(vae.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(vae.decode(vae.encode(x)), again.decode(again.encode(x)))
