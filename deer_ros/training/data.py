"""Recorded episodes as fixed-length windows: DeeR's training samples (section 5.1).

Every start index t of every episode with t + window <= T is one sample (stride 1): `window`
consecutive frames and actions plus the episode's instruction (windows starting in an
episode's first frames may be listed several times: TrainConfig.early_repeat). Frames are
resized once, at load, with the same transform as inference (deer_ros.model.vision.preprocess)
and kept as uint8 at the model's image size; normalisation happens per batch.
"""
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from deer_ros.data.recording import Episode
from deer_ros.model.config import VisionConfig
from deer_ros.model.tokenizer import prompt
from deer_ros.model.vision import resize_crop


@dataclass
class Batch:
    """B windows of W frames; N = B * W frames, flattened in (B, W) order."""

    static: torch.Tensor            # (B, W, 3, S, S) uint8, static camera at the model's size
    gripper: Optional[torch.Tensor]  # (B, W, 3, S, S) uint8, or None (single camera)
    input_ids: torch.Tensor         # (B, L) long, right-padded prompt tokens
    token_mask: torch.Tensor        # (B, L) bool, True at real tokens
    actions: torch.Tensor           # (B, W, 7) float32, pose in [-1, 1], gripper +-1
    state: Optional[torch.Tensor] = None   # (B, W, S) float32 robot state, when recorded

    @property
    def shape(self) -> tuple:
        """(B, W)."""
        return tuple(self.actions.shape[:2])

    def to(self, device: torch.device) -> 'Batch':
        """A copy on `device`."""
        move = (lambda t: None if t is None else t.to(device))   # noqa: E731
        return Batch(move(self.static), move(self.gripper), move(self.input_ids),
                     move(self.token_mask), move(self.actions), move(self.state))


def resize_frames(frames: np.ndarray, cfg: VisionConfig, chunk: int = 256) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, S, S) uint8: the inference resize and crop, batched.

    Same steps as deer_ros.model.vision.preprocess (bicubic shorter side to S, width then
    height with uint8 rounding between, centre crop), on many frames at once; the result
    equals preprocess before normalisation (checked by the tests).
    """
    out = [_resize_chunk(torch.from_numpy(np.ascontiguousarray(frames[i:i + chunk])), cfg)
           for i in range(0, len(frames), chunk)]
    return torch.cat(out)


def _resize_chunk(frames: torch.Tensor, cfg: VisionConfig) -> torch.Tensor:
    return resize_crop(frames.permute(0, 3, 1, 2), cfg.image_size)   # uint8, as inference


def normalize(pixels: torch.Tensor, cfg: VisionConfig) -> torch.Tensor:
    """(..., 3, S, S) uint8 -> float32 CLIP-normalised pixels (what preprocess returns)."""
    mean = torch.tensor(cfg.mean, device=pixels.device).view(3, 1, 1)
    std = torch.tensor(cfg.std, device=pixels.device).view(3, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


class WindowDataset:
    """All windows of a list of episodes, frames cached at the model's image size."""

    def __init__(self, episodes: Iterable[Episode], tokenizer: Any, vision: VisionConfig,
                 window: int, progress: bool = False, early: Tuple[int, int] = (0, 1)):
        """With early = (N, R), windows starting before frame N are listed R times."""
        self.window = window
        self.statics: List[torch.Tensor] = []
        self.grippers: List[Optional[torch.Tensor]] = []
        self.actions: List[torch.Tensor] = []
        self.states: List[Optional[torch.Tensor]] = []
        self.prompts: List[List[int]] = []
        self.index: List[tuple] = []            # (episode, start)
        self.pad_id = int(tokenizer.pad_token_id)
        episodes = list(episodes)
        if progress:
            from tqdm import tqdm
            episodes = tqdm(episodes, desc='load episodes', unit='ep')
        for ep in episodes:
            if len(ep) < window:
                continue
            e = len(self.actions)
            self.statics.append(resize_frames(ep.static, vision))
            self.grippers.append(None if ep.gripper is None
                                 else resize_frames(ep.gripper, vision))
            self.actions.append(torch.from_numpy(np.asarray(ep.actions, dtype=np.float32)))
            self.states.append(None if ep.state is None else torch.from_numpy(ep.state))
            ids = tokenizer(prompt(ep.instruction, tokenizer.eos_token))['input_ids']
            self.prompts.append([int(i) for i in ids])
            self.index += [(e, t) for t in range(len(ep) - window + 1)
                           for _ in range(early[1] if t < early[0] else 1)]
        if not self.index:
            raise ValueError(f'no episode has at least {window} frames')
        cams = {g is None for g in self.grippers}
        if len(cams) != 1:
            raise ValueError('episodes mix one and two cameras')
        self.has_state = all(st is not None for st in self.states)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def num_episodes(self) -> int:
        """Episodes long enough to give a window."""
        return len(self.actions)

    def batch(self, indices: Sequence[int]) -> Batch:
        """Collate the windows `indices` (positions in self.index)."""
        w = self.window
        picks = [self.index[int(i)] for i in indices]
        static = torch.stack([self.statics[e][t:t + w] for e, t in picks])
        gripper = None
        if self.grippers[0] is not None:
            gripper = torch.stack([self.grippers[e][t:t + w] for e, t in picks])
        actions = torch.stack([self.actions[e][t:t + w] for e, t in picks])
        state = None
        if self.has_state:
            state = torch.stack([self.states[e][t:t + w] for e, t in picks])
        length = max(len(self.prompts[e]) for e, _ in picks)
        ids = torch.full((len(picks), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(picks), length), dtype=torch.bool)
        for row, (e, _) in enumerate(picks):
            p = self.prompts[e]
            ids[row, :len(p)] = torch.tensor(p)
            mask[row, :len(p)] = True
        return Batch(static, gripper, ids, mask, actions, state)
