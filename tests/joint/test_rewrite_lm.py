"""The language-model rewriter, on a tiny random model the test builds and saves (no download, ever)."""
import json

import pytest

from duetto.data.errors import DuettoError
from duetto.joint.cli import main
from duetto.joint.rewrite import LMRewriter, _vocabulary

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 1-layer GPT-2 with a word-level tokenizer over the captions' words: random, so it writes nonsense."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    folder = tmp_path_factory.mktemp("lm") / "tiny-lm"
    words = sorted(_vocabulary() | {"Request", "Caption", ":", "says", '"', "Rewrite", "each", "request", "as", "a",
                                    "caption", "in", "the", "style", "of", "examples", "."})
    vocab = {w: i for i, w in enumerate(["[UNK]", "[EOS]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=2048, n_embd=32, n_layer=1, n_head=2,
                                  eos_token_id=1, bos_token_id=1)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(folder, safe_serialization=True)
    return folder


def test_whatever_the_model_writes_the_caption_is_one_the_generator_knows(tiny_lm):
    import re
    r = LMRewriter(tiny_lm, max_new_tokens=12).rewrite('a man with red hair says "hello there"')
    assert r.by in ("lm", "lm+embedded") and r.family == "speech" and r.speech == "hello there"
    assert '"hello there"' in r.caption                       # the user's words, verbatim
    vocab = _vocabulary()
    words = [w for w in re.findall(r"[a-z]+", re.sub(r'"[^"]*"', " ", r.caption.lower())) if len(w) > 2]
    assert words and all(w in vocab for w in words), r       # only words of the training captions


def test_the_commands_take_a_local_model(tiny_lm, capsys, tmp_path):
    assert main(["rewrite", "a blue ball bounces", "--model", str(tiny_lm), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] in ("lm", "lm+embedded") and out["caption"]
    assert main(["generate", "a ball", "-o", str(tmp_path / "x.mp4"), "--rewrite-model", str(tiny_lm)]) == 2
    assert "--rewrite-model goes with --rewrite" in capsys.readouterr().err


def test_pickled_or_missing_models_are_refused(tmp_path, tiny_lm):
    import shutil
    bad = tmp_path / "pickled"
    shutil.copytree(tiny_lm, bad)
    for f in bad.glob("*.safetensors"):
        f.unlink()
    (bad / "pytorch_model.bin").write_bytes(b"not even a pickle")
    with pytest.raises(DuettoError, match="no .safetensors weights"):
        LMRewriter(bad)
    with pytest.raises(DuettoError, match="no config.json"):
        LMRewriter(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "w.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(DuettoError, match="cannot load it"):
        LMRewriter(tmp_path)
