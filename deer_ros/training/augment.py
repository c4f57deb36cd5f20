"""Random-shift augmentation (DeeR's RandomShiftsAug, with integer shifts)."""
from typing import Optional

import torch
import torch.nn.functional as F


def shift_offsets(n: int, pad: int, generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
    """(n, 2) random crop offsets in [0, 2 pad], drawn from `generator` (on the CPU)."""
    return torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)


def random_shift(images: torch.Tensor, pad: int,
                 generator: Optional[torch.Generator] = None,
                 offsets: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, C, S, S) -> same shape: replicate-pad by `pad`, crop at a random offset per image.

    DeeR shifts with grid_sample after the same padding; an integer crop is the same image
    translation without interpolation. Offsets (N, 2) are drawn from `generator` unless given
    (a rank's rows of the offsets drawn for the global batch).
    """
    if pad <= 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode='replicate')
    if offsets is None:
        offsets = shift_offsets(n, pad, generator)
    offsets = offsets.to(images.device)
    rows = offsets[:, :1] + torch.arange(h, device=images.device)            # (N, H)
    cols = offsets[:, 1:] + torch.arange(w, device=images.device)            # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]   # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
