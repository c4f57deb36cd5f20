"""Trainable parameter sets, AdamW parameter groups and the warm-up schedule."""
import zlib
from typing import Dict, Iterable, List, Tuple

import torch
from torch import nn

from deer_ros.model.flamingo import DeerVLA


def set_trainable(model: DeerVLA, freeze: str) -> None:
    """Set requires_grad by the freeze policy.

    'none'   everything trains (small presets from scratch: no pretrained CLIP/MPT exists);
    'vision' the vision encoder stays frozen (as DeeR);
    'deer'   DeeR's split: vision encoder and the LM decoder layers frozen; perceiver,
             gated cross-attention, token embedding and the head train.
    The ViT's ln_post and proj never run (DeeR reads the tokens before them), so they never
    train: a parameter without a gradient would stall DistributedDataParallel.
    """
    model.requires_grad_(True)
    for p in model.vision_encoder.unused_parameters():
        p.requires_grad_(False)
    if freeze in ('vision', 'deer'):
        model.vision_encoder.requires_grad_(False)
    if freeze == 'deer':
        for block in model.blocks:
            block.decoder_layer.requires_grad_(False)


def param_groups(modules: Dict[str, nn.Module], lrs: Dict[str, float], weight_decay: float
                 ) -> List[dict]:
    """AdamW groups: decay on >= 2-D weights except embeddings; no decay on the rest."""
    groups = []
    for name, module in modules.items():
        decay, no_decay = [], []
        embeddings = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding)}
        for p in module.parameters():
            if not p.requires_grad:
                continue
            (decay if p.ndim >= 2 and id(p) not in embeddings else no_decay).append(p)
        for params, wd in ((decay, weight_decay), (no_decay, 0.0)):
            if params:
                groups.append({'params': params, 'weight_decay': wd, 'lr': lrs[name],
                               'base_lr': lrs[name], 'name': f'{name}/{"wd" if wd else "nowd"}'})
    return groups


def trainable(modules: Iterable[nn.Module]) -> List[nn.Parameter]:
    """Parameters with requires_grad of the given modules."""
    return [p for m in modules for p in m.parameters() if p.requires_grad]


def warmup_factor(step_in_phase: int, warmup_steps: int) -> float:
    """Linear warm-up to 1 over warmup_steps, then constant (DeeR's schedule)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step_in_phase + 1) / warmup_steps)


def apply_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group's lr to base_lr * factor; returns the first group's lr."""
    for group in optimizer.param_groups:
        group['lr'] = group['base_lr'] * factor
    return optimizer.param_groups[0]['lr']


def step_seeds(seed: int, step: int) -> Tuple[int, int]:
    """(global torch seed, data generator seed) of one step: a pure function of both."""
    base = zlib.crc32(f'{seed}:{step}'.encode())
    return base, base ^ 0x5EED
