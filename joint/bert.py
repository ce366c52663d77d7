"""A BERT encoder in plain torch, for the packaged all-MiniLM-L6-v2 caption encoder.

``transformers`` takes seconds to import (it pulls in much of torch's compiler and distributed stack), which
was most of what ``duetto generate`` spent before its first step. A BERT forward pass is a few lines; this one
reads the same ``config.json`` and ``model.safetensors`` (names as ``transformers.BertModel`` saves them) and the
fast tokenizer's ``tokenizer.json`` through the small ``tokenizers`` package. Its token states match
``transformers``' to float rounding (tests/joint/test_text.py).

    tokens [B, L] ids, mask [B, L] -> states [B, L, hidden]
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from duetto.data.autoencoder import weights_to_be_loaded
from duetto.data.errors import DuettoError

MAX_VOCAB, MAX_HIDDEN, MAX_LAYERS = 250_000, 4096, 48       # a hostile config cannot ask for a huge model


class BertLayer(nn.Module):
    def __init__(self, d: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.up = nn.Linear(d, hidden)
        self.down = nn.Linear(hidden, d)
        self.norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(self.qkv(x), "b l (three h e) -> three b h l e", three=3, h=self.heads)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.norm1(x + self.out(rearrange(a, "b h l e -> b l (h e)")))
        return self.norm2(x + self.down(F.gelu(self.up(x))))


class Bert(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-12)
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type = nn.Embedding(cfg.get("type_vocab_size", 2), d)
        self.norm = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList(BertLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                    for _ in range(cfg["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.word(ids) + self.position(pos)[None] + self.token_type(torch.zeros_like(ids)))
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill(~mask.bool(), -math.inf)
        bias = bias[:, None, None, :]                                # [B, 1, 1, L]: padding is never attended
        for layer in self.layers:
            x = layer(x, bias)
        return x


def _state_dict(raw: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """``transformers.BertModel`` names -> this module's."""
    out = {"word.weight": raw["embeddings.word_embeddings.weight"],
           "position.weight": raw["embeddings.position_embeddings.weight"],
           "token_type.weight": raw["embeddings.token_type_embeddings.weight"],
           "norm.weight": raw["embeddings.LayerNorm.weight"], "norm.bias": raw["embeddings.LayerNorm.bias"]}
    for i in range(layers):
        p, q = f"encoder.layer.{i}.", f"layers.{i}."
        for part in ("weight", "bias"):
            out[q + "qkv." + part] = torch.cat([raw[f"{p}attention.self.{n}.{part}"] for n in ("query", "key", "value")])
            out[q + "out." + part] = raw[f"{p}attention.output.dense.{part}"]
            out[q + "norm1." + part] = raw[f"{p}attention.output.LayerNorm.{part}"]
            out[q + "up." + part] = raw[f"{p}intermediate.dense.{part}"]
            out[q + "down." + part] = raw[f"{p}output.dense.{part}"]
            out[q + "norm2." + part] = raw[f"{p}output.LayerNorm.{part}"]
    return out


def is_bert_folder(folder: Path) -> bool:
    """A ``transformers`` BERT folder this module can run: BertModel weights in safetensors and a fast tokenizer."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(cfg, dict) and cfg.get("model_type") == "bert" and cfg.get("hidden_act") == "gelu"
            and cfg.get("position_embedding_type", "absolute") == "absolute"
            and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file())


class BertEncoder:
    """Token states of a local BERT folder (frozen, no gradients), as `joint.text.TextEncoder`."""

    def __init__(self, folder: Path, max_tokens: int, device: str = "cpu"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from tokenizers import Tokenizer
        cfg = json.loads((folder / "config.json").read_text())
        sizes = (cfg.get("vocab_size"), cfg.get("hidden_size"), cfg.get("num_hidden_layers"))
        if not all(isinstance(x, int) and 0 < x <= cap for x, cap in zip(sizes, (MAX_VOCAB, MAX_HIDDEN, MAX_LAYERS))):
            raise DuettoError(f"{folder}/config.json: vocabulary, width or depth out of range")
        with weights_to_be_loaded():
            self.model = Bert(cfg)
        try:
            raw = load_file(str(folder / "model.safetensors"))
            self.model.load_state_dict(_state_dict(raw, cfg["num_hidden_layers"]), strict=True)
        except (OSError, SafetensorError, KeyError, RuntimeError) as e:
            raise DuettoError(f"{folder}/model.safetensors: not the BERT weights its config.json describes ({e})") from None
        self.model.eval().to(device)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.enable_padding(pad_id=cfg.get("pad_token_id", 0))
        self.dim, self.device, self.max_tokens, self.name = cfg["hidden_size"], device, max_tokens, folder.name

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.encode_batch(list(captions))
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long, device=self.device)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.bool, device=self.device)
        return self.model(ids, mask).float().cpu(), mask.cpu()
