"""CLIP vision tower (open_clip's own classes) and its eval-time preprocessing in torch.

OpenFlamingo/DeeR were trained on open_clip <= 2.22 patch tokens, i.e. the last residual
block's output WITHOUT `ln_post`; newer open_clip applies ln_post to all tokens, so we take
the block output explicitly.
"""
import functools
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, VisionTransformer
from torch import nn

from deer_ros.model.config import VisionConfig


class VisionEncoder(nn.Module):
    """Holds the ViT as `.visual` so parameter names read `vision_encoder.visual.*` as in DeeR."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.cfg = cfg
        self.visual = VisionTransformer(
            image_size=cfg.image_size, patch_size=cfg.patch_size, width=cfg.width,
            layers=cfg.layers, heads=cfg.width // cfg.head_width, mlp_ratio=cfg.mlp_ratio,
            output_dim=cfg.embed_dim, act_layer=QuickGELU if cfg.quick_gelu else nn.GELU)
        # sequence-first (L, N, D) blocks, as open_clip <= 2.22 ran them for OpenFlamingo/DeeR:
        # bit-equal tokens (batch-first takes torch's fused attention, ~5e-7 off)
        self.visual.transformer.batch_first = False
        for block in self.visual.transformer.resblocks:
            block.attn.batch_first = False

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) normalised pixels -> (N, P, width) pre-ln_post patch tokens."""
        out = self.visual.forward_intermediates(
            pixels, indices=1, intermediates_only=True, normalize_intermediates=False,
            output_fmt='NLC')
        return out['image_intermediates'][-1]

    def unused_parameters(self) -> List[nn.Parameter]:
        """ln_post and proj: open_clip's pooled-embedding path, which never runs here."""
        visual = self.visual
        params = list(visual.ln_post.parameters())
        if isinstance(getattr(visual, 'proj', None), nn.Parameter):
            params.append(visual.proj)
        return params


def preprocess(image: np.ndarray, cfg: VisionConfig,
               device: Optional[torch.device] = None,
               transform: Optional[str] = None) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, S, S) float32: bicubic shorter side, crop, normalise.

    transform 'pil' is open_clip's eval transform bit for bit (PIL's bicubic); 'torch' is
    torch's antialiased bicubic (a = -0.5, one axis at a time with uint8 rounding between),
    within 1-2 levels of PIL and several times faster. None: the one `cfg` was trained with.
    """
    return preprocess_batch([image], cfg, device, transform=transform)


def preprocess_batch(images: Sequence[np.ndarray], cfg: VisionConfig,
                     device: Optional[torch.device] = None,
                     transform: Optional[str] = None) -> torch.Tensor:
    """N same-sized (H, W, 3) uint8 RGB images -> (N, 3, S, S) float32 in one pass.

    The uint8 pixels go to the device first (4x less to copy than floats); resize, crop and
    normalisation run there, batched. Images of different sizes are processed one by one.
    transform as in preprocess; 'pil' resizes on the CPU with PIL before the copy.
    """
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB image, got shape {image.shape}')
        if image.dtype != np.uint8:
            raise ValueError(f'expected uint8 pixels, got {image.dtype}')
    if (transform or cfg.transform) == 'pil':
        images = [pil_resize_crop(image, cfg.image_size) for image in images]
    if len({image.shape for image in images}) > 1:
        return torch.cat([preprocess_batch([image], cfg, device, 'torch')
                          for image in images])
    x = upload(images, device).permute(0, 3, 1, 2)           # (N, 3, H, W) uint8
    x = resize_crop(x, cfg.image_size).float()                # (N, 3, S, S) in 0..255
    mean, std = normalisation(tuple(cfg.mean), tuple(cfg.std), x.device)
    return (x / 255.0 - mean) / std


def upload(images: Sequence[np.ndarray], device: Optional[torch.device] = None) -> torch.Tensor:
    """N same-shaped (H, W, 3) uint8 images -> (N, H, W, 3) uint8 tensor on `device`.

    On CUDA the images are stacked straight into pinned host memory (torch's caching host
    allocator reuses it frame after frame), so the upload is one DMA that does not wait for the
    host; pageable memory would be staged through a driver buffer first. Elsewhere no copy is
    made beyond the stack.
    """
    shape = (len(images), *images[0].shape)
    if device is not None and torch.device(device).type == 'cuda':
        host = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
        np.stack(images, out=host.numpy())
        return host.to(device, non_blocking=True)
    batch = np.stack(images) if len(images) > 1 else images[0][None]
    if not batch.flags.writeable or not batch.flags.c_contiguous:
        batch = np.array(batch)                              # torch wants writable memory
    return torch.from_numpy(batch).to(device)


@functools.lru_cache(maxsize=16)
def normalisation(mean: Tuple[float, ...], std: Tuple[float, ...], device: torch.device
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """CLIP mean and std as (1, 3, 1, 1) float32 tensors, made once per device, not per frame.

    Shared read-only; made outside inference mode so that training code may use them too.
    """
    with torch.inference_mode(False):
        return (torch.tensor(mean, device=device).view(1, 3, 1, 1),
                torch.tensor(std, device=device).view(1, 3, 1, 1))


def resize_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) pixels in 0..255 -> (N, 3, size, size), rounded to integer levels.

    Bicubic resize of the shorter side to `size` (antialiased, a = -0.5, width then height with
    uint8 rounding between, as PIL), then a centre crop: open_clip's eval transform. uint8 input on
    the CPU uses torch's uint8 kernel (same rounding, ~10x faster than float); otherwise the float
    kernel with explicit rounding; the dtype is kept.
    """
    h, w = x.shape[-2:]
    if (h, w) != (size, size) or h != w:
        short, long = min(h, w), max(h, w)
        long = int(size * long / short)                      # torchvision's rounding
        new_h, new_w = (size, long) if h <= w else (long, size)
        if new_w != w:
            x = _bicubic(x, (h, new_w))
        if new_h != h:
            x = _bicubic(x, (new_h, new_w))
        top = int(round((x.shape[-2] - size) / 2.0))
        left = int(round((x.shape[-1] - size) / 2.0))
        x = x[..., top:top + size, left:left + size]
    return x


def pil_resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 exactly as open_clip's eval transform.

    torchvision's Resize(size, BICUBIC) on a PIL image (shorter side to `size`, the longer
    truncated) is PIL's resize; then CenterCrop's rounding. A no-op on (size, size) input.
    """
    from PIL import Image
    h, w = image.shape[:2]
    long = int(size * max(h, w) / min(h, w))
    new_w, new_h = (size, long) if w <= h else (long, size)
    if (new_h, new_w) != (h, w):
        image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC))
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return image[top:top + size, left:left + size]


def _bicubic(x: torch.Tensor, size: tuple) -> torch.Tensor:
    if x.dtype == torch.uint8 and x.device.type == 'cpu':
        return F.interpolate(x, size=size, mode='bicubic', align_corners=False, antialias=True)
    dtype = x.dtype
    x = F.interpolate(x.float(), size=size, mode='bicubic', align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(dtype)


def count_vision_macs(cfg: VisionConfig) -> int:
    """Matmul MACs of one image through the ViT up to the last block (no ln_post/proj)."""
    tokens = cfg.num_patches + 1
    w = cfg.width
    conv = 3 * cfg.patch_size ** 2 * w * cfg.num_patches
    mlp = int(cfg.mlp_ratio * w)
    per_block = 4 * w * w * tokens + 2 * tokens * tokens * w + 2 * mlp * w * tokens
    return conv + cfg.layers * per_block
