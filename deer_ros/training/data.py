"""Recorded episodes as fixed-length windows: DeeR's training samples (section 5.1).

Every start index t of every episode with t + window <= T is one sample (stride 1): `window`
consecutive frames and actions plus the episode's instruction (windows starting in an
episode's first frames may be listed several times: TrainConfig.early_repeat). Frames are
resized once with the same transform as inference (deer_ros.model.vision.preprocess), to
uint8 at the model's image size: into RAM (MemoryFrames), or into a disk cache per recording
(deer_ros.training.frame_cache) that workers read window by window, so a dataset larger than
memory trains. Normalisation happens per batch. Item access (index -> window) is this module;
which windows a step trains on is the sampler's.
"""
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple

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


@dataclass(frozen=True)
class EpisodeFrames:
    """One episode of a frame store: its length, instruction and first row in the actions."""

    length: int
    instruction: str
    first: int                  # row of its frame 0 in the store's actions / state


class FrameStore(Protocol):
    """Where a WindowDataset's frames live: MemoryFrames, or frame_cache.FrameCache on disk."""

    episodes: List[EpisodeFrames]
    has_gripper: bool
    actions: torch.Tensor              # (sum T, 7) float32, episodes one after another
    state: Optional[torch.Tensor]      # (sum T, S) float32, or None

    def frames(self, camera: str, episode: int, start: int, count: int) -> torch.Tensor:
        """(count, 3, S, S) uint8 frames of `camera` ('static' / 'gripper')."""


class MemoryFrames:
    """Episodes resized at load and kept in RAM as uint8 (tests, small datasets)."""

    def __init__(self, episodes: Iterable[Episode], vision: VisionConfig, window: int,
                 progress: bool = False):
        """Episodes shorter than `window` give no sample and are left out."""
        episodes = list(episodes)
        if progress:
            from tqdm import tqdm
            episodes = tqdm(episodes, desc='load episodes', unit='ep')
        self.episodes: List[EpisodeFrames] = []
        self._frames: Dict[str, List[torch.Tensor]] = {'static': [], 'gripper': []}
        actions, states, cams, first = [], [], set(), 0
        for ep in episodes:
            if len(ep) < window:
                continue
            self.episodes.append(EpisodeFrames(len(ep), ep.instruction, first))
            first += len(ep)
            self._frames['static'].append(resize_frames(ep.static, vision))
            if ep.gripper is not None:
                self._frames['gripper'].append(resize_frames(ep.gripper, vision))
            cams.add(ep.gripper is not None)
            actions.append(np.asarray(ep.actions, dtype=np.float32))
            states.append(ep.state)
        if len(cams) > 1:
            raise ValueError('episodes mix one and two cameras')
        self.has_gripper = cams == {True}
        self.actions = torch.from_numpy(np.concatenate(actions)) if actions \
            else torch.zeros(0, 7)
        self.state = None
        if states and all(st is not None for st in states):
            self.state = torch.from_numpy(np.concatenate(states).astype(np.float32))

    def frames(self, camera: str, episode: int, start: int, count: int) -> torch.Tensor:
        """(count, 3, S, S) uint8, a view of the episode's resized frames."""
        return self._frames[camera][episode][start:start + count]


@dataclass
class Window:
    """One sample: W consecutive frames per camera, their actions and the prompt."""

    static: torch.Tensor              # (W, 3, S, S) uint8
    gripper: Optional[torch.Tensor]   # (W, 3, S, S) uint8, or None
    actions: torch.Tensor             # (W, 7) float32
    state: Optional[torch.Tensor]     # (W, S) float32, or None
    prompt: List[int]                 # token ids of the instruction's prompt


class WindowDataset(torch.utils.data.Dataset):
    """All windows of a list of episodes: item i is one window; the order is the sampler's.

    Frames come from frame stores: MemoryFrames (the constructor: episodes resized into RAM)
    or the recordings' disk caches (from_stores with frame_cache.open_cache), which a
    DataLoader reads with workers. `batch(indices)` = collate of the items, in the caller's
    process.
    """

    def __init__(self, episodes: Iterable[Episode], tokenizer: Any, vision: VisionConfig,
                 window: int, progress: bool = False, early: Tuple[int, int] = (0, 1)):
        """With early = (N, R), windows starting before frame N are listed R times."""
        store = MemoryFrames(episodes, vision, window, progress)
        self._setup([store], tokenizer, window, early)

    @classmethod
    def from_stores(cls, stores: Sequence[FrameStore], tokenizer: Any, window: int,
                    early: Tuple[int, int] = (0, 1)) -> 'WindowDataset':
        """Windows over the episodes of several frame stores, in order."""
        self = cls.__new__(cls)
        self._setup(list(stores), tokenizer, window, early)
        return self

    def _setup(self, stores: List[FrameStore], tokenizer: Any, window: int,
               early: Tuple[int, int]) -> None:
        self.window = window
        self.stores = stores
        self.pad_id = int(tokenizer.pad_token_id)
        self._episodes = [(s, e) for s, store in enumerate(stores)
                          for e, ep in enumerate(store.episodes) if ep.length >= window]
        prompts: Dict[str, List[int]] = {}
        self.prompts: List[List[int]] = []
        episodes, starts = [], []
        for k, (s, e) in enumerate(self._episodes):
            ep = stores[s].episodes[e]
            if ep.instruction not in prompts:
                ids = tokenizer(prompt(ep.instruction, tokenizer.eos_token))['input_ids']
                prompts[ep.instruction] = [int(i) for i in ids]
            self.prompts.append(prompts[ep.instruction])
            t = np.arange(ep.length - window + 1)
            t = np.repeat(t, np.where(t < early[0], early[1], 1))
            starts.append(t)
            episodes.append(np.full(len(t), k))
        if not self._episodes:
            raise ValueError(f'no episode has at least {window} frames')
        self._index = np.stack([np.concatenate(episodes), np.concatenate(starts)], 1)
        if len({store.has_gripper for store in stores}) != 1:
            raise ValueError('episodes mix one and two cameras')
        self.has_gripper = stores[0].has_gripper
        self.has_state = all(store.state is not None for store in stores)

    def __len__(self) -> int:
        return len(self._index)

    @property
    def num_episodes(self) -> int:
        """Episodes long enough to give a window."""
        return len(self._episodes)

    @property
    def on_disk(self) -> bool:
        """Whether frames are read from disk (worth reading ahead in workers)."""
        return any(not isinstance(store, MemoryFrames) for store in self.stores)

    @property
    def index(self) -> List[Tuple[int, int]]:
        """(episode, start) of every item."""
        return [(int(e), int(t)) for e, t in self._index]

    def __getitem__(self, i: int) -> Window:
        """Window i: (episode, start) = index[i]."""
        k, t = (int(v) for v in self._index[i])
        s, e = self._episodes[k]
        store, w = self.stores[s], self.window
        rows = slice(store.episodes[e].first + t, store.episodes[e].first + t + w)
        return Window(store.frames('static', e, t, w),
                      store.frames('gripper', e, t, w) if self.has_gripper else None,
                      store.actions[rows], store.state[rows] if self.has_state else None,
                      self.prompts[k])

    def collate(self, windows: Sequence[Window]) -> Batch:
        """Stack windows into a Batch; prompts right-padded to the longest."""
        stack = (lambda ts: None if ts[0] is None else torch.stack(ts))   # noqa: E731
        length = max(len(w.prompt) for w in windows)
        ids = torch.full((len(windows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(windows), length), dtype=torch.bool)
        for row, w in enumerate(windows):
            ids[row, :len(w.prompt)] = torch.tensor(w.prompt)
            mask[row, :len(w.prompt)] = True
        return Batch(stack([w.static for w in windows]), stack([w.gripper for w in windows]),
                     ids, mask, stack([w.actions for w in windows]),
                     stack([w.state for w in windows]))

    def batch(self, indices: Sequence[int]) -> Batch:
        """Collate the windows `indices` (positions in the index)."""
        return self.collate([self[int(i)] for i in indices])
