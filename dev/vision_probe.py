"""Can a vision front-end learn where the task is? Vision-only probe on recorded episodes.

Why: a VLA cannot act on the scene if its vision cannot localise the object. This trains a
fresh vision encoder (the preset's ViT, or a small CNN for comparison), optionally the preset's
perceiver, and a read-out to predict where the episode's hand ends (state[-1, :3]) from one of
its first 5 frames (both cameras), relative to the task's mean end point: the scene-dependent
part of the goal. Read-outs: `attention` (one learned query attends to the tokens, as the LM's
cross-attention does) or `flat` (all tokens into an MLP). Episodes whose meta seed is
>= --test-from-seed are held out; R^2 per axis is printed on them every 100 steps.

  PYTHONPATH=. .venv/bin/python dev/vision_probe.py runs/dart runs/demos-s64 --steps 800
      (options: --test-from-seed 80, --no-perceiver, --readout flat, --cnn)
"""
import argparse
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from open_flamingo.src.helpers import PerceiverResampler

from deer_ros.data.recording import list_episodes, read_episode
from deer_ros.model.config import preset
from deer_ros.model.vision import VisionEncoder
from deer_ros.training.data import normalize
from deer_ros.training.vision_pretrain import r2

Arrays = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]   # static, gripper, target, task


def load(roots: Sequence[str], test_from_seed: int) -> Tuple[Arrays, Arrays]:
    """(train, test): first 5 frames of each episode, end-point offsets from the task mean."""
    parts: Dict[bool, List[list]] = {False: [[], [], [], []], True: [[], [], [], []]}
    for root in roots:
        for path in list_episodes(root):
            ep = read_episode(path)
            if ep.state is None or ep.gripper is None:
                raise ValueError(f'{path}: the probe needs the state and both cameras')
            rows = parts[int(ep.meta.get('seed', 0)) >= test_from_seed]
            for t in range(min(5, len(ep))):
                for i, value in enumerate((ep.static[t], ep.gripper[t], ep.state[-1, :3],
                                           ep.task)):
                    rows[i].append(value)
    train, test = ([np.stack(r[0]), np.stack(r[1]), np.stack(r[2]).astype(np.float32),
                    np.array(r[3])] for r in (parts[False], parts[True]))
    if not len(test[2]):
        raise ValueError(f'no episode with seed >= {test_from_seed} to test on')
    for task in set(train[3]):        # offsets from the training mean end point of each task
        mean = train[2][train[3] == task].mean(0)
        train[2][train[3] == task] -= mean
        test[2][test[3] == task] -= mean
    return tuple(train), tuple(test)


class ConvTokens(nn.Module):
    """Three strided convolutions -> an 8x8 grid of tokens with a learned position embedding."""

    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 32, 5, 2, 2), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                                 nn.Conv2d(64, width, 3, 2, 1))
        self.pos = nn.Parameter(torch.randn(1, 64, width) * 0.02)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, 64, 64) -> (B, 64, width)."""
        return self.net(pixels).flatten(2).transpose(1, 2) + self.pos


class Probe(nn.Module):
    """Vision encoder (+ perceiver) per camera, tokens of both cameras -> 3 values."""

    def __init__(self, args: argparse.Namespace):
        super().__init__()
        cfg = preset(args.preset)
        self.vcfg, width = cfg.vision, cfg.vision.width
        self.vision = ConvTokens(width) if args.cnn else VisionEncoder(cfg.vision)
        p = cfg.perceiver
        self.perceiver = None if args.no_perceiver else PerceiverResampler(
            dim=width, depth=p.depth, dim_head=p.dim_head, heads=p.heads,
            num_latents=p.num_latents, ff_mult=p.ff_mult)
        tokens = 2 * (64 if self.perceiver is None else p.num_latents)
        self.flat = args.readout == 'flat'
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
        self.out = (nn.Sequential(nn.Flatten(), nn.Linear(tokens * width, 256), nn.ReLU(),
                                  nn.Linear(256, 3)) if self.flat else
                    nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 128), nn.ReLU(),
                                  nn.Linear(128, 3)))

    def pixels(self, images: np.ndarray) -> torch.Tensor:
        """(B, S, S, 3) uint8 -> normalised (B, 3, S, S), as training normalises frames."""
        return normalize(torch.from_numpy(images).permute(0, 3, 1, 2), self.vcfg)

    def forward(self, static: np.ndarray, gripper: np.ndarray) -> torch.Tensor:
        """Both cameras -> (B, 3) predicted end-point offsets (standardised)."""
        media = []
        for images in (static, gripper):
            tokens = self.vision(self.pixels(images))
            media.append(tokens if self.perceiver is None
                         else self.perceiver(tokens[:, None, None])[:, 0])
        m = torch.cat(media, 1)
        if self.flat:
            return self.out(m)
        read, _ = self.attn(self.query.expand(len(m), -1, -1), m, m)
        return self.out(read[:, 0])


def main() -> None:
    """Train the probe; print train loss and held-out R^2 every 100 steps."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', nargs='+', help='recordings with state and both cameras')
    parser.add_argument('--test-from-seed', type=int, default=80)
    parser.add_argument('--steps', type=int, default=800)
    parser.add_argument('--preset', default='mini2', help='vision and perceiver sizes')
    parser.add_argument('--no-perceiver', action='store_true', help='read the ViT tokens')
    parser.add_argument('--readout', choices=('attention', 'flat'), default='attention')
    parser.add_argument('--cnn', action='store_true', help='a small CNN instead of the ViT')
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train, test = load(args.data, args.test_from_seed)
    scale = train[2].std(0)
    target = torch.from_numpy(train[2] / scale)
    probe = Probe(args)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=0.01)
    rng, start = np.random.default_rng(0), time.perf_counter()
    spread = {t: ' '.join(f'{v:.3f}' for v in test[2][test[3] == t].std(0))
              for t in sorted(set(test[3]))}
    print(f'{len(target)} training frames, {len(test[2])} held-out; held-out end-point spread '
          f'x y z (m): ' + ', '.join(f'{t} {v}' for t, v in spread.items()))
    for step in range(1, args.steps + 1):
        i = rng.integers(0, len(target), 32)
        loss = F.mse_loss(probe(train[0][i], train[1][i]), target[i])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(probe.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            with torch.no_grad():
                pred = probe(test[0], test[1]).numpy() * scale
            scores = ' '.join(f'{v:.2f}' for v in r2(pred, test[2]))
            print(f'step {step}: train loss {loss.item():.3f}, held-out R^2 x y z {scores} '
                  f'({time.perf_counter() - start:.0f} s)', flush=True)


if __name__ == '__main__':
    main()
