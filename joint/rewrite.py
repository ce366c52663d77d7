"""Prompt rewriting: a short request turned into a caption in the style the model was trained on.

Two rewriters, one protocol (``rewrite(request) -> Rewrite``):

- `EmbeddedRewriter` (the default) works offline with what ships: it retrieves the training-style caption nearest to
  the request (MiniLM, the packaged caption encoder, over `captions.txt`: 60 captions of each synthetic family), then
  puts into it what the request names that the model knows (a colour, an instrument, an object's shape, the words to
  say in quotes), and says what it could not keep (words no training caption uses: "a dog barks in a park" keeps
  nothing of the dog).
- `LMRewriter` asks a local instruction-tuned causal language model (a ``transformers`` folder with safetensors
  weights, never downloaded) to write the caption, shown examples of the training captions; an answer that leaves
  the training vocabulary is grounded by the embedded rewriter's retrieval and slot filling, so whatever the language
  model writes, the caption is one the generator knows how to make.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from duetto.data.synth.vocab import COLOURS

CAPTIONS = Path(__file__).with_name("captions.txt")
INSTRUMENTS = {"drum kit": "drum kit", "drums": "drum kit", "drum": "drum kit", "piano": "piano",
               "xylophone": "xylophone", "harp": "harp"}
SHAPES = ("ball", "block", "disc", "cube")
STOPWORDS = set("""a an the and or of in on at to with from by for is are be its it this that some into onto over
under very plays play playing says say saying said front background wall floor one two three four five six""".split())
MAX_REQUEST_CHARS = 500


@dataclass(frozen=True)
class Rewrite:
    request: str
    caption: str                     # in the training captions' style
    family: str                      # impacts, music or speech
    speech: str | None = None        # the words to say, when the request quotes them
    kept: list = field(default_factory=list)      # what of the request the caption carries
    dropped: list = field(default_factory=list)   # words of the request no training caption knows
    by: str = "embedded"             # embedded, lm (the language model's caption as it wrote it) or lm+embedded


@lru_cache(maxsize=1)
def _captions() -> list[tuple[str, str]]:
    rows = []
    for line in CAPTIONS.read_text().splitlines():
        if line and not line.startswith("#"):
            family, caption = line.split("\t", 1)
            rows.append((family, caption))
    return rows


@lru_cache(maxsize=1)
def _vocabulary() -> set[str]:
    return {w for _, c in _captions() for w in re.findall(r"[a-z]+", re.sub(r'"[^"]*"', " ", c.lower()))} | set(INSTRUMENTS)


def _known(word: str, vocab: set[str]) -> bool:
    """In the vocabulary, or is once a plural or -ing ending is taken off ("bouncing", "balls")."""
    forms = {word, word[:-1], word[:-2], word[:-3], word[:-3] + "e"} if len(word) > 4 else {word, word[:-1]}
    return any(f in vocab for f in forms)


@lru_cache(maxsize=2)
def _embed_all(encoder_name: str):
    import torch
    from duetto.joint.text import load_text_encoder
    enc = load_text_encoder(encoder_name)
    texts = [re.sub(r'says "[^"]*"', "says something", c) for _, c in _captions()]   # match the scene, not the line
    vecs = []
    for i in range(0, len(texts), 64):
        tokens, mask = enc(texts[i:i + 64])
        vecs.append(_pool(tokens, mask))
    return enc, torch.cat(vecs)


def _pool(tokens, mask):
    import torch
    m = mask.unsqueeze(-1).float()
    v = (tokens * m).sum(1) / m.sum(1).clamp(min=1)                   # mean over the caption's tokens
    return torch.nn.functional.normalize(v, dim=-1)


class EmbeddedRewriter:
    """Retrieval over training-style captions plus slot filling (see the module's docstring)."""

    def __init__(self, encoder: str = "minilm"):
        self.encoder = encoder

    def rewrite(self, request: str) -> Rewrite:
        text = _checked(request)
        speech = _quoted(text)
        low = text.lower()
        colours = [c for c in re.findall(r"[a-z]+", low) if c in COLOURS]
        instrument = next((INSTRUMENTS[k] for k in sorted(INSTRUMENTS, key=len, reverse=True)
                           if re.search(rf"\b{k}\b", low)), None)
        shape = next((s for s in SHAPES if re.search(rf"\b{s}s?\b", low)), None)
        family = "speech" if speech else "music" if instrument else None
        enc, bank = _embed_all(self.encoder)
        q = _pool(*enc([text]))[0]
        scores = bank @ q
        rows = _captions()
        order = scores.argsort(descending=True).tolist()
        best = next(i for i in order if family is None or rows[i][0] == family)
        family, caption = rows[best]
        kept = []
        if speech and family == "speech":
            caption = re.sub(r'says "[^"]*"', f'says "{speech}"', caption)
            kept.append(f'says "{speech}"')
        if instrument and family == "music":
            caption = re.sub(r"\b(drum kit|piano|xylophone|harp)\b", instrument, caption, count=1)
            kept.append(instrument)
        if shape and family == "impacts":
            caption = re.sub(r"\b(ball|block|disc|cube)\b", shape, caption, count=1)
            kept.append(shape)
        if colours:
            caption = _recolour(caption, family, colours[0])
            kept.append(colours[0])
        vocab = _vocabulary()
        words = [w for w in re.findall(r"[a-z]+", low.replace(speech.lower(), " ") if speech else low)]
        dropped = sorted({w for w in words if not _known(w, vocab) and w not in STOPWORDS and len(w) > 2})
        caption = re.sub(r"\b(a|an) ([aeiouAEIOU])", lambda m: f"an {m.group(2)}", caption)
        caption = re.sub(r"\ban ([^aeiouAEIOU\W])", r"a \1", caption)
        return Rewrite(request, caption, family, speech if family == "speech" else None, kept, dropped)


def _recolour(caption: str, family: str, colour: str) -> str:
    """The caption with its main subject's colour (what `duetto.data.synth.attributes` reads) replaced."""
    names = "|".join(sorted(COLOURS, key=len, reverse=True))
    if family == "speech":
        return re.sub(rf"\b({names}) shirt\b", f"{colour} shirt", caption, count=1)
    if family == "music":
        return re.sub(rf"^(a|an) ({names}) ", f"a {colour} ", caption, count=1)
    return re.sub(rf"\b(small|medium|large) ({names}) ", rf"\1 {colour} ", caption, count=1)


MAX_LM_BYTES = 2 << 30              # a rewriter folder's weights: at most 2 GiB


class LMRewriter:
    """A local causal language model writes the caption (see the module's docstring). ``folder``: config, tokenizer
    and ``*.safetensors`` weights in ``transformers`` format; pickled weights are refused."""

    def __init__(self, folder, max_new_tokens: int = 60, examples: int = 6):
        from duetto.data.errors import DuettoError
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise DuettoError(f"{folder}: not a language model folder (no config.json)")
        weights = list(folder.glob("*.safetensors"))
        if not weights:
            raise DuettoError(f"{folder}: no .safetensors weights (pickled weights are not loaded)")
        if sum(w.stat().st_size for w in weights) > MAX_LM_BYTES:
            raise DuettoError(f"{folder}: weights over {MAX_LM_BYTES >> 30} GiB")
        import os
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True,
                                                              use_safetensors=True).eval()
        except (OSError, ValueError, KeyError, ImportError) as e:
            raise DuettoError(f"{folder}: cannot load it as a causal language model ({str(e)[:120]})") from None
        self.max_new_tokens = max_new_tokens
        rows = _captions()
        pick = [rows[i * len(rows) // examples] for i in range(examples)]          # every family shown
        self.examples = "".join(f"Request: {_plain(c)}\nCaption: {c}\n" for _, c in pick)

    def rewrite(self, request: str) -> Rewrite:
        import torch
        text = _checked(request)
        prompt = ("Rewrite each request as a caption in the style of the examples.\n"
                  f"{self.examples}Request: {text}\nCaption:")
        enc = self.tokenizer(prompt, return_tensors="pt")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        answer = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        caption = _one_line(answer)
        quoted = _quoted(text)
        if quoted and f'"{quoted}"' not in caption:                # the words to say are the user's, verbatim
            caption = f'{caption} says "{quoted}"' if caption else f'a person says "{quoted}"'
        vocab = _vocabulary()
        unknown = [w for w in re.findall(r"[a-z]+", re.sub(r'"[^"]*"', " ", caption.lower()))
                   if w not in STOPWORDS and not _known(w, vocab)]
        if caption and not unknown:
            family = EmbeddedRewriter().rewrite(caption).family
            return Rewrite(request, caption, family, quoted if family == "speech" else None, ["the language model's caption"],
                           [], by="lm")
        grounded = EmbeddedRewriter().rewrite(caption or text)
        return Rewrite(request, grounded.caption, grounded.family, grounded.speech, grounded.kept,
                       sorted(set(grounded.dropped)), by="lm+embedded")


def _checked(request: str) -> str:
    from duetto.data.errors import DuettoError
    text = " ".join(request.split())
    if not text:
        raise DuettoError("the request is empty: say what is seen and heard")
    if len(text) > MAX_REQUEST_CHARS:
        raise DuettoError(f"the request is {len(text)} characters; at most {MAX_REQUEST_CHARS}")
    return text


def _quoted(text: str) -> str | None:
    """A request's quoted words: double or single quotes (a person asks `say 'hello'`)."""
    from duetto.joint.conditioning import DOUBLE_QUOTES, quoted_words
    return quoted_words(text, DOUBLE_QUOTES + "'")


def _plain(caption: str) -> str:
    """A training caption as a person might ask for it: its first clause, without the setting."""
    return re.split(r",| in front of| on a | with a ", caption, maxsplit=1)[0]


def _one_line(answer: str) -> str:
    """The language model's first non-empty line, printable characters only, at most 300 of them."""
    for line in answer.splitlines():
        line = "".join(ch for ch in line if ch.isprintable()).strip().strip("'").strip()
        if line:
            return line[:300]
    return ""


def load_rewriter(model: str | Path | None = None):
    """The embedded rewriter, or with ``model`` (a local folder) the language-model one."""
    return EmbeddedRewriter() if model is None else LMRewriter(model)


def rewrite(request: str, model: str | Path | None = None) -> Rewrite:
    return load_rewriter(model).rewrite(request)
