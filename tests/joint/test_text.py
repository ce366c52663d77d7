"""Caption encoders: the dependency-free hashing encoder, and clear errors for a missing local encoder."""
import pytest
import torch

from duetto.data.errors import DuettoError
from duetto.joint.text import HashingEncoder, TextEncoder, load_text_encoder


def test_hashing_encoder_tells_captions_apart_by_their_words():
    enc = load_text_encoder("hashing-32")
    assert isinstance(enc, TextEncoder) and isinstance(enc, HashingEncoder) and enc.dim == 32
    tokens, mask = enc(["A glass ball drops", "a glass BALL drops onto wood", ""])
    assert tokens.shape == (3, 6, 32) and mask.sum(1).tolist() == [4, 6, 0]
    assert torch.equal(tokens[0, :4], tokens[1, :4])                 # same words, same vectors
    assert not torch.equal(tokens[1, 4], tokens[1, 3])
    assert tokens[2].abs().sum() == 0
    assert torch.equal(enc(["drops"])[0][0, 0], tokens[0, 3])        # deterministic across calls


def test_a_missing_local_encoder_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DuettoError, match="not a local text encoder folder"):
        load_text_encoder(str(tmp_path))
