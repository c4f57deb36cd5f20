"""Preprocessed training frames on disk, written once per recording and read window by window.

A recording's frames are resized to the model's image size once (the inference transform,
deer_ros.training.data.resize_frames) and stored beside it:

    <recording>/.deer_cache/frames-<S>px/   (or <--cache-dir>/<hash of the recording>/...)
        manifest.json                 written last: the key it was built for, per-episode
                                      lengths and instructions; present = complete
        static_000000.npy ...         (T, 3, S, S) uint8 per episode and camera
        gripper_000000.npy ...
        actions.npy  state.npy        (sum T, 7) and (sum T, 4) float32, all episodes

The key is the source files (name, size, mtime of every episode's .npz and .json) plus the
preprocessing settings (image size, resize version): when either changes, the cache is rebuilt;
otherwise nothing of the recording is read again. Processes opening one cache at once (the
ranks of a torchrun job) take a file lock: one builds, the others then find it complete.
A window is read with one positioned read of W consecutive frames (no memory map: its pages
would count in the reader's RSS), so a reader holds only the windows it is collating,
whatever the recording's size.
"""
import fcntl
import hashlib
import json
import os
import pathlib
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from deer_ros.data.recording import EPISODE_DIR, list_episodes, read_episode, read_info
from deer_ros.model.config import VisionConfig
from deer_ros.training.data import EpisodeFrames, resize_frames

CACHE_VERSION = 1          # bump when the preprocessing or the layout changes
CACHE_DIR = '.deer_cache'
MANIFEST = 'manifest.json'
LOCK = 'build.lock'
CACHE_DIR_HELP = ('where the preprocessed frames are cached (default: a .deer_cache folder '
                  'inside each recording); written once, rebuilt when a recording changes')


def cache_key(recording: pathlib.Path, image_size: int) -> Dict[str, Any]:
    """What the cache of `recording` depends on: its files and the preprocessing."""
    read_info(recording)                                # validates the format
    files = []
    for npz in list_episodes(recording):
        for path in (npz, npz.with_suffix('.json')):
            st = path.stat()
            files.append([path.name, st.st_size, st.st_mtime_ns])
    return {'version': CACHE_VERSION, 'image_size': image_size, 'resize': 'torch',
            'files': files}


def cache_path(recording: pathlib.Path, image_size: int,
               cache_dir: Optional[str] = None) -> pathlib.Path:
    """Where the cache of `recording` lives (beside it, or under cache_dir)."""
    if cache_dir is None:
        return recording / CACHE_DIR / f'frames-{image_size}px'
    digest = hashlib.sha256(str(recording.resolve()).encode()).hexdigest()[:16]
    return pathlib.Path(cache_dir) / f'{recording.name}-{digest}' / f'frames-{image_size}px'


class FrameCache:
    """The cached frames of one recording; item access only, safe to use in workers."""

    def __init__(self, root: pathlib.Path, manifest: Dict[str, Any]):
        self.root = root
        self.episodes = [EpisodeFrames(**e) for e in manifest['episodes']]
        self.has_gripper = bool(manifest['has_gripper'])
        self.image_size = int(manifest['key']['image_size'])
        self.actions = torch.from_numpy(np.load(root / 'actions.npy'))
        state = root / 'state.npy'
        self.state = torch.from_numpy(np.load(state)) if state.exists() else None
        self._offsets: Dict[pathlib.Path, int] = {}

    def frames(self, camera: str, episode: int, start: int, count: int) -> torch.Tensor:
        """(count, 3, S, S) uint8 frames start.. of an episode, one read from disk."""
        path = self.root / f'{camera}_{episode:06d}.npy'
        frame = 3 * self.image_size ** 2
        offset = self._data_offset(path) + start * frame
        with open(path, 'rb') as f:
            f.seek(offset)
            buf = f.read(count * frame)
        if len(buf) != count * frame:
            raise ValueError(f'{path} is shorter than its manifest says; delete {self.root}')
        return torch.frombuffer(bytearray(buf), dtype=torch.uint8).view(
            count, 3, self.image_size, self.image_size)

    def _data_offset(self, path: pathlib.Path) -> int:
        if path not in self._offsets:                 # the .npy header's length, read once
            self._offsets[path] = int(np.load(path, mmap_mode='r').offset)
        return self._offsets[path]


def open_cache(recording: str, vision: VisionConfig, cache_dir: Optional[str] = None,
               progress: bool = False) -> FrameCache:
    """The recording's frame cache, built (with a progress bar) when missing or stale."""
    source = pathlib.Path(recording)
    key = cache_key(source, vision.image_size)
    root = cache_path(source, vision.image_size, cache_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f'cannot write the frame cache at {root} ({exc}); give --cache-dir') \
            from exc
    with open(root / LOCK, 'a') as lock:          # torchrun ranks: one builds, the rest wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = _read_manifest(root)
        if manifest is None or manifest['key'] != key:
            manifest = _build(source, root, key, vision, progress)
    return FrameCache(root, manifest)


def _read_manifest(root: pathlib.Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads((root / MANIFEST).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _build(source: pathlib.Path, root: pathlib.Path, key: Dict[str, Any],
           vision: VisionConfig, progress: bool) -> Dict[str, Any]:
    """Resize every episode once, one at a time, and write the cache; manifest last."""
    from tqdm import tqdm
    (root / MANIFEST).unlink(missing_ok=True)
    paths = list_episodes(source)
    episodes: List[Dict[str, Any]] = []
    actions, states, cameras = [], [], set()
    first = 0
    for i, path in enumerate(tqdm(paths, desc=f'cache frames {source.name}', unit='ep',
                                  disable=not progress)):
        ep = read_episode(path)
        cameras.add(ep.gripper is not None)
        for camera, frames in (('static', ep.static), ('gripper', ep.gripper)):
            if frames is not None:
                _save(root / f'{camera}_{i:06d}.npy', resize_frames(frames, vision).numpy())
        actions.append(ep.actions)
        states.append(ep.state)
        episodes.append({'length': len(ep), 'instruction': ep.instruction, 'first': first})
        first += len(ep)
    if len(cameras) > 1:
        raise ValueError(f'{source}: episodes mix one and two cameras')
    if not paths:
        raise ValueError(f'{source}: no episodes in {source / EPISODE_DIR}')
    _save(root / 'actions.npy', np.concatenate(actions).astype(np.float32))
    if all(s is not None for s in states):
        _save(root / 'state.npy', np.concatenate(states).astype(np.float32))
    else:
        (root / 'state.npy').unlink(missing_ok=True)
    manifest = {'key': key, 'source': str(source), 'has_gripper': cameras == {True},
                'episodes': episodes}
    tmp = root / (MANIFEST + '.tmp')
    tmp.write_text(json.dumps(manifest) + '\n', encoding='utf-8')
    os.replace(tmp, root / MANIFEST)
    return manifest


def _save(path: pathlib.Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'wb') as f:
        np.save(f, array)
    os.replace(tmp, path)
