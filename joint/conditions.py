"""What an absent condition is: one definition for training's dropout and sampling's unconditional pass.

A batch's conditions travel as a dict of the `JointDiT.forward` keyword arguments::

    text [B, Lt, text_dim], text_mask [B, Lt] bool, speech [B, Ls] ids (0 pads), voice [B, voice_dim],
    music [B, L, music_dim], speech_track [B, L] ids on the audio clock (0: none)

(any but ``text``/``text_mask`` may be missing). `drop` removes conditions per clip: the caption is masked (its
tokens stay, unattended; the pooled caption becomes ``text_pool`` of zeros), the phoneme ids and their track on
the audio clock become padding, and the voice and music rows become zeros (their projections have no bias, so
zeros add nothing). Training drops
with it (`duetto.train.joint_task`) and guidance's unconditional pass is `unconditional` (`joint.pipeline`), so the
pass that sampling guides against is exactly a pass the model was trained on.
"""
from __future__ import annotations

import torch

CONDITIONS = ("caption", "speech", "voice", "music")      # what can be dropped, by name


def drop(cond: dict, keep: dict[str, torch.Tensor]) -> dict:
    """``cond`` with the conditions named in ``keep`` removed from the clips where ``keep[name]`` (``[B]`` bool) is
    False; a name missing from ``keep``, or a condition missing from ``cond``, is left as it is."""
    unknown = set(keep) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown conditions {sorted(unknown)}: {CONDITIONS}")
    out = dict(cond)
    if "caption" in keep and out.get("text") is not None:
        k = keep["caption"].to(out["text"].device).bool()
        mask = out.get("text_mask")
        mask = torch.ones(out["text"].shape[:2], dtype=torch.bool, device=k.device) if mask is None else mask.bool()
        out["text_mask"] = mask & k[:, None]
    for name, key in (("speech", "speech"), ("speech", "speech_track"), ("voice", "voice"), ("music", "music")):
        x = out.get(key)
        if name in keep and x is not None:
            k = keep[name].to(x.device)
            out[key] = x * k.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return out


def unconditional(cond: dict) -> dict:
    """``cond`` with every condition dropped from every clip: the pass classifier-free guidance subtracts."""
    b = len(cond["text"])
    none = torch.zeros(b, dtype=torch.bool)
    return drop(cond, {name: none for name in CONDITIONS})
