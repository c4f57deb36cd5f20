"""The deer_ros recording format: demonstration episodes on disk, no pickle anywhere.

A dataset is a directory:

    <root>/dataset.json                 index: format, version, fps, camera sizes, action
                                        convention, one summary line per episode
    <root>/episodes/episode_000000.npz  arrays (np.savez_compressed): static, gripper?, actions
    <root>/episodes/episode_000000.json metadata: instruction, task, success, length, meta

Arrays per episode (T = steps; frame t is the observation the action t was taken from):
    static   (T, H, W, 3) uint8 RGB    static scene camera
    gripper  (T, h, w, 3) uint8 RGB    gripper / wrist camera (absent when the robot has none)
    actions  (T, 7) float32            CALVIN-style: 6 relative pose deltas scaled to [-1, 1]
                                       (x, y, z, roll, pitch, yaw), then gripper +1 open / -1 close
    state    (T, 4) float32            optional proprioception (STATE_CONVENTION): end-effector
                                       position x, y, z in metres, gripper opening in [0, 1]

Arrays are read with np.load(allow_pickle=False); metadata is plain JSON.
"""
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from deer_ros.model.api import STATE_CONVENTION, STATE_DIM  # noqa: F401 (the format stores it)

FORMAT_NAME = 'deer_ros.recording'
FORMAT_VERSION = 1
INDEX_FILE = 'dataset.json'
EPISODE_DIR = 'episodes'
DEFAULT_FPS = 10.0
ACTION_CONVENTION = {
    'dims': ['dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper'],
    'pose': 'relative end-effector deltas per step, scaled to [-1, 1] (CALVIN rel_actions)',
    'gripper': '+1 open, -1 close',
}
_EPISODE_RE = re.compile(r'^episode_(\d{6,})\.npz$')
PathLike = Union[str, os.PathLike]


@dataclass
class Episode:
    """One demonstration: T observations (one or two cameras) and the T actions taken from them."""

    instruction: str                      # language instruction, e.g. "open the drawer"
    task: str                             # task id, e.g. "drawer-open-v3" (free text on robots)
    static: np.ndarray                    # (T, H, W, 3) uint8 RGB, static scene camera
    gripper: Optional[np.ndarray]         # (T, h, w, 3) uint8 RGB wrist camera, or None
    actions: np.ndarray                   # (T, 7) float32, model convention (see module docstring)
    success: bool = False                 # the task's success flag at the end of the episode
    meta: Dict[str, Any] = field(default_factory=dict)   # JSON-serialisable extras (seed, ...)
    state: Optional[np.ndarray] = None    # (T, 4) float32 proprioception (STATE_CONVENTION)

    def __post_init__(self) -> None:
        self.static = _check_frames('static', self.static)
        if self.gripper is not None:
            self.gripper = _check_frames('gripper', self.gripper)
        self.actions = np.asarray(self.actions, dtype=np.float32)
        if self.actions.ndim != 2 or self.actions.shape[1] != 7:
            raise ValueError(f'actions must be (T, 7), got {self.actions.shape}')
        lengths = {len(self.static), len(self.actions)}
        if self.gripper is not None:
            lengths.add(len(self.gripper))
        if self.state is not None:
            self.state = np.asarray(self.state, dtype=np.float32)
            if self.state.shape[1:] != (STATE_DIM,) or not np.all(np.isfinite(self.state)):
                raise ValueError(f'state must be finite (T, {STATE_DIM}), got {self.state.shape}')
            lengths.add(len(self.state))
        if len(lengths) != 1:
            raise ValueError(f'static, gripper and actions differ in length: {sorted(lengths)}')
        if not np.all(np.isfinite(self.actions)):
            raise ValueError('actions contain NaN or inf')
        self.success = bool(self.success)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def static_size(self) -> Tuple[int, int]:
        """(H, W) of the static camera."""
        return int(self.static.shape[1]), int(self.static.shape[2])

    @property
    def gripper_size(self) -> Optional[Tuple[int, int]]:
        """(h, w) of the gripper camera, or None."""
        if self.gripper is None:
            return None
        return int(self.gripper.shape[1]), int(self.gripper.shape[2])


@dataclass
class DatasetInfo:
    """The index of a dataset directory (dataset.json)."""

    fps: float = DEFAULT_FPS                         # control rate the actions were taken at, Hz
    static_size: Optional[Tuple[int, int]] = None    # (H, W), fixed by the first episode
    gripper_size: Optional[Tuple[int, int]] = None   # (h, w), None when there is no wrist camera
    action_convention: Dict[str, Any] = field(default_factory=lambda: dict(ACTION_CONVENTION))
    episodes: List[Dict[str, Any]] = field(default_factory=list)   # name, task, length, success
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION
    source: str = ''                                 # who wrote it: "deer-ros record", recorder...

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> 'DatasetInfo':
        """Parse and validate an index dictionary."""
        if data.get('format') != FORMAT_NAME:
            raise ValueError(f'not a {FORMAT_NAME} dataset: format={data.get("format")!r}')
        if int(data.get('version', -1)) > FORMAT_VERSION:
            raise ValueError(f'dataset version {data["version"]} is newer than {FORMAT_VERSION}')
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ('static_size', 'gripper_size'):
            if known.get(key) is not None:
                known[key] = tuple(int(v) for v in known[key])
        return cls(**known)


def read_info(root: PathLike) -> DatasetInfo:
    """Read a dataset's index; raise FileNotFoundError when root holds no dataset."""
    with open(Path(root) / INDEX_FILE, encoding='utf-8') as f:
        return DatasetInfo.from_json(json.load(f))


def _write_info(root: Path, info: DatasetInfo) -> None:
    tmp = root / (INDEX_FILE + '.tmp')
    tmp.write_text(json.dumps(asdict(info), indent=1) + '\n', encoding='utf-8')
    os.replace(tmp, root / INDEX_FILE)


def open_dataset(root: PathLike, fps: float = DEFAULT_FPS, source: str = '') -> DatasetInfo:
    """Create root and its index if needed; return the (existing or new) index."""
    root = Path(root)
    (root / EPISODE_DIR).mkdir(parents=True, exist_ok=True)
    if (root / INDEX_FILE).exists():
        return read_info(root)
    info = DatasetInfo(fps=float(fps), source=source)
    _write_info(root, info)
    return info


def write_episode(root: PathLike, episode: Episode, fps: float = DEFAULT_FPS,
                  source: str = '') -> Path:
    """Append one episode to the dataset at root (created if needed); return its .npz path.

    The first episode fixes the dataset's camera sizes; a later episode with other sizes, or with
    a gripper camera where the dataset has none (or the reverse), raises ValueError.
    """
    root = Path(root)
    info = open_dataset(root, fps=fps, source=source)
    if info.static_size is None and not info.episodes:
        info.static_size, info.gripper_size = episode.static_size, episode.gripper_size
    if (episode.static_size, episode.gripper_size) != (info.static_size, info.gripper_size):
        raise ValueError(f'camera sizes {episode.static_size}/{episode.gripper_size} differ from '
                         f'the dataset\'s {info.static_size}/{info.gripper_size}')
    name = f'episode_{_next_index(root):06d}'
    arrays = {'static': episode.static, 'actions': episode.actions}
    if episode.gripper is not None:
        arrays['gripper'] = episode.gripper
    if episode.state is not None:
        arrays['state'] = episode.state
    path = root / EPISODE_DIR / f'{name}.npz'
    np.savez_compressed(path, **arrays)
    meta = {'instruction': episode.instruction, 'task': episode.task,
            'success': episode.success, 'length': len(episode), 'meta': episode.meta}
    meta_path = root / EPISODE_DIR / f'{name}.json'
    meta_path.write_text(json.dumps(meta, indent=1) + '\n', encoding='utf-8')
    info.episodes.append({'name': name, 'task': episode.task, 'length': len(episode),
                          'success': episode.success})
    _write_info(root, info)
    return path


def _next_index(root: Path) -> int:
    indices = [int(m.group(1)) for p in (root / EPISODE_DIR).iterdir()
               if (m := _EPISODE_RE.match(p.name))]
    return max(indices, default=-1) + 1


def read_episode(path: PathLike) -> Episode:
    """Read one episode from its .npz path (its .json sits beside it)."""
    path = Path(path)
    meta = json.loads(path.with_suffix('.json').read_text(encoding='utf-8'))
    with np.load(path, allow_pickle=False) as arrays:
        gripper = arrays['gripper'] if 'gripper' in arrays.files else None
        state = arrays['state'] if 'state' in arrays.files else None
        return Episode(instruction=meta['instruction'], task=meta['task'],
                       static=arrays['static'], gripper=gripper, actions=arrays['actions'],
                       success=meta['success'], meta=meta.get('meta', {}), state=state)


def list_episodes(root: PathLike) -> List[Path]:
    """The .npz paths of a dataset's episodes, in recording order."""
    directory = Path(root) / EPISODE_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _EPISODE_RE.match(p.name))


def iter_episodes(root: PathLike) -> Iterator[Episode]:
    """Read a dataset's episodes one at a time, in recording order."""
    read_info(root)   # validates format and version
    for path in list_episodes(root):
        yield read_episode(path)


def _check_frames(name: str, frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'{name} frames must be (T, H, W, 3), got {frames.shape}')
    if frames.dtype != np.uint8:
        raise ValueError(f'{name} frames must be uint8 RGB, got {frames.dtype}')
    return frames


def make_example_episode(length: int = 5, size: int = 32, gripper_size: Optional[int] = 24,
                         seed: int = 0, task: str = 'example-task') -> Episode:
    """A deterministic random episode for tests and examples (not a real demonstration)."""
    rng = np.random.default_rng(seed)
    static = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
    gripper = None
    if gripper_size:
        gripper = rng.integers(0, 256, (length, gripper_size, gripper_size, 3), dtype=np.uint8)
    actions = rng.uniform(-1.0, 1.0, (length, 7)).astype(np.float32)
    actions[:, 6] = np.where(actions[:, 6] > 0, 1.0, -1.0)
    return Episode(instruction='do the example task', task=task, static=static, gripper=gripper,
                   actions=actions, success=bool(seed % 2 == 0), meta={'seed': seed})
