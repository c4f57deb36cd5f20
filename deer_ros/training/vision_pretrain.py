"""Pretrain a model's perceiver (and optionally its ViT) to localise the task's objects.

Why: trained from scratch with the action loss, the mini presets' vision does not learn where
the button, handle or goal is (docs/training.md, 7th session). RoboFlamingo and DeeR start from
a pretrained CLIP instead; none can be downloaded here, so this makes a small one. A read-out of
4 learned queries attending to both cameras' perceiver latents (as the LM's cross-attention reads
them) regresses the scenes' target positions (deer_ros.sim.scene_samples) with MSE; the targets
are offsets from each task's mean, standardised. Only the vision encoder and perceiver are kept.

The ViT is frozen by the model (OpenFlamingo freezes its CLIP), so by default only the perceiver
learns and the ViT keeps its random initialisation: that is what the shipped model's recipe ran
(the research script it came from listed the ViT's weights, but they had no gradient).
train_encoder unfreezes the ViT too.
"""
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deer_ros.training.config import option
from deer_ros.training.data import normalize


@dataclass(frozen=True)
class VisionPretrainConfig:
    """Vision pretraining: scenes, schedule and read-out (`deer-ros pretrain-vision` flags)."""

    scenes_per_task: int = option(2000, 'rendered scenes per task')
    scene_seed: int = option(10000, 'first scene seed (keep apart from evaluation seeds)')
    steps: int = option(4000, 'optimiser steps')
    batch_size: int = option(64, 'scenes per step')
    lr: float = option(1e-3, 'AdamW learning rate')
    held_out: float = option(0.1, 'share of scenes held out for the R^2 report')
    log_every: int = option(250, 'held-out R^2 every N steps')
    seed: int = option(0, 'init, split and sampling seed')
    num_threads: int = option(1, 'torch CPU threads')
    train_encoder: bool = option(False, 'also train the ViT (default: frozen at its random '
                                        'initialisation, as in the shipped recipe; only the '
                                        'perceiver and the read-out learn)')

    def __post_init__(self) -> None:
        if self.scenes_per_task < 2 or self.steps < 1 or self.batch_size < 1:
            raise ValueError('scenes_per_task >= 2, steps >= 1 and batch_size >= 1 are needed')
        if not 0.0 < self.held_out < 1.0:
            raise ValueError('held_out must be within (0, 1)')
        if self.lr <= 0 or self.log_every < 1:
            raise ValueError('lr must be > 0 and log_every >= 1')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (checkpoint metadata)."""
        return asdict(self)


def within_task(targets: np.ndarray, task_ids: np.ndarray) -> np.ndarray:
    """Offsets from each task's mean, divided by their std (floored: constant dims stay 0)."""
    out = targets.copy()
    for t in np.unique(task_ids):
        out[task_ids == t] -= out[task_ids == t].mean(0)
    return out / (out.std(0) + 1e-3)


def r2(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R^2 per column; NaN where the target does not vary."""
    var = ((target - target.mean(0)) ** 2).sum(0)
    ok = var > 1e-6 * len(target)
    return np.where(ok, 1 - ((pred - target) ** 2).sum(0) / np.where(ok, var, 1.0), np.nan)


class LocalisationReadout(nn.Module):
    """Queries attend to both cameras' perceiver latents; an MLP maps them to the targets."""

    def __init__(self, width: int, outputs: int, queries: int = 4):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, queries, width) * 0.02)
        self.attention = nn.MultiheadAttention(width, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Flatten(), nn.LayerNorm(queries * width),
                                 nn.Linear(queries * width, 256), nn.ReLU(),
                                 nn.Linear(256, outputs))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Target estimates (B, outputs) from perceiver latents (B, L, D)."""
        read, _ = self.attention(self.queries.expand(len(latents), -1, -1), latents, latents)
        return self.mlp(read)


def pretrain_vision(model: Any, static: np.ndarray, gripper: np.ndarray, targets: np.ndarray,
                    task_ids: np.ndarray, cfg: VisionPretrainConfig,
                    log: Callable[[str], None] = print) -> List[Dict[str, Any]]:
    """Train model.perceiver (and the ViT if cfg.train_encoder) in place; held-out R^2 history.

    static / gripper: (N, S, S, 3) uint8 at the model's image size; targets (N, D). The read-out
    is initialised from torch's global generator: the caller seeds it (the command seeds it
    before it builds the model, as the shipped recipe's run did).
    """
    vcfg = model.cfg.vision
    y = within_task(targets, task_ids).astype(np.float32)
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(y))
    n_test = max(1, int(len(y) * cfg.held_out))
    test, train = order[:n_test], order[n_test:]
    readout = LocalisationReadout(vcfg.width, y.shape[1])
    if cfg.train_encoder:
        model.vision_encoder.requires_grad_(True)
    trained = [model.vision_encoder, model.perceiver, readout.attention, readout.mlp]
    params = [readout.queries] + [p for m in trained for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)

    def predict(index: np.ndarray) -> torch.Tensor:
        media = []
        for images in (static, gripper):
            pixels = normalize(torch.from_numpy(images[index]).permute(0, 3, 1, 2), vcfg)
            media.append(model.perceiver(model.vision_encoder(pixels)[:, None, None])[:, 0])
        return readout(torch.cat(media, 1))

    history: List[Dict[str, Any]] = []
    for step in range(1, cfg.steps + 1):
        index = rng.choice(train, cfg.batch_size)
        loss = F.mse_loss(predict(index), torch.from_numpy(y[index]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % cfg.log_every == 0 or step == cfg.steps:
            with torch.no_grad():
                pred = torch.cat([predict(test[i:i + 200])
                                  for i in range(0, len(test), 200)]).numpy()
            scores = r2(pred, y[test])
            history.append({'step': step, 'loss': float(loss.item()),
                            'held_out_r2': [None if np.isnan(v) else float(v) for v in scores]})
            shown = ' '.join('  -  ' if np.isnan(v) else f'{v:5.2f}' for v in scores)
            log(f'step {step}: loss {loss.item():.3f}, held-out R^2 object xyz, goal (or '
                f'markers) xyz: {shown}')
    return history
