"""The pack's video latent format, both ways: 8 bits per channel (step = the channel's largest |value| / 127 over all
clips), stored as frame-to-frame differences mod 256 so that lzma shrinks still backgrounds. No duetto imports: the
GPU side reads it without PyAV."""
import numpy as np
import torch


def encode_video(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``video [N, C, L, h, w]`` -> ``(delta uint8 [N, C, L, h, w], scale [C])``."""
    scale = video.abs().amax(dim=(0, 2, 3, 4)) / 127
    q = torch.round(video / scale[None, :, None, None, None]).clamp(-127, 127).to(torch.int16).numpy()
    q = (q % 256).astype(np.uint8)
    return torch.from_numpy(np.diff(q, axis=2, prepend=np.zeros_like(q[:, :, :1]))), scale   # wraps mod 256


def decode_video(delta: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The inverse of `encode_video` (up to the 8-bit rounding): float32 ``[N, C, L, h, w]``."""
    q = np.cumsum(delta.numpy(), axis=2, dtype=np.uint8).view(np.int8)
    return torch.from_numpy(q.astype(np.float32)) * scale[None, :, None, None, None]
