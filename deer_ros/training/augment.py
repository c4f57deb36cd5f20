"""Random-shift augmentation (DeeR's RandomShiftsAug, with integer shifts)."""
from typing import Optional

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, pad: int,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(N, C, S, S) -> same shape: replicate-pad by `pad`, crop at a random offset per image.

    DeeR shifts with grid_sample after the same padding; an integer crop is the same image
    translation without interpolation. Offsets are drawn from `generator` (on the CPU).
    """
    if pad <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode='replicate')
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(images.device)
    rows = offsets[:, :1] + torch.arange(h, device=images.device)            # (N, H)
    cols = offsets[:, 1:] + torch.arange(w, device=images.device)            # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]   # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
