"""Read a LeRobotDataset (v3: parquet + mp4, meta/info.json, meta/episodes, meta/tasks).

The `lerobot` package reads the metadata and the parquet frames (LeRobotDataset, offline, from a
local directory). Video frames are decoded here with PyAV, one episode's span of the shared mp4
at a time: lerobot 0.4's own decoders need torchcodec or torchvision.io.VideoReader, which the
pinned torch 2.15 / torchvision 0.29 do not have. Each episode is checked frame by frame against
its own metadata (length, timestamps), and a mismatch is an error, never a silent gap.

Episodes become deer_ros episodes through a LeRobotMapping (deer_ros.data.lerobot_mapping); an
episode whose task changes part-way becomes one episode per task (as a new instruction does in
an MCAP import). A sidecar meta/deer_ros.json, written by our export, restores the task ids,
success flags and per-episode metadata that LeRobot has no field for.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from deer_ros.data.lerobot_mapping import (
    LeRobotMapping, MappingError, ResolvedMapping, STATE_KEY, SUCCESS_KEY, resolve,
    to_model_actions, to_state)
from deer_ros.data.recording import Episode

PathLike = Union[str, Path]
SIDECAR = 'meta/deer_ros.json'          # what our export adds beside LeRobot's own metadata
SUPPORTED_VERSION = 'v3'
TIME_TOLERANCE_FRACTION = 0.25          # a video frame matches within a quarter frame period


@dataclass
class LeRobotImportStats:
    """What an import read, what it changed, and what it left out."""

    episodes_read: int = 0
    episodes_written: int = 0
    frames: int = 0
    clipped_values: int = 0             # action values outside [-1, 1] after scaling, clipped
    notes: List[str] = field(default_factory=list)


def check_dataset_dir(root: PathLike) -> Dict[str, Any]:
    """meta/info.json of a local LeRobotDataset v3 directory; ValueError with the fix if not."""
    info_path = Path(root) / 'meta' / 'info.json'
    if not info_path.is_file():
        raise FileNotFoundError(f'{root}: no meta/info.json, not a LeRobotDataset directory '
                                '(download a Hub dataset first, e.g. `hf download --repo-type '
                                'dataset <repo_id> --local-dir DIR`)')
    info = json.loads(info_path.read_text(encoding='utf-8'))
    version = str(info.get('codebase_version', '?'))
    if not version.startswith(SUPPORTED_VERSION):
        raise ValueError(f'{root}: LeRobotDataset {version}; this import reads '
                         f'{SUPPORTED_VERSION}.x. Convert older datasets with lerobot\'s '
                         '`python -m lerobot.datasets.v30.convert_dataset_v21_to_v30`')
    return info


def open_lerobot(root: PathLike) -> Any:
    """The LeRobotDataset at a local directory (lerobot's reader; no Hub access)."""
    check_dataset_dir(root)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    root = Path(root)
    return LeRobotDataset(repo_id=f'local/{root.name}', root=root, video_backend='pyav')


def read_sidecar(root: PathLike, lengths: List[int]) -> Tuple[Optional[List[Dict[str, Any]]], str]:
    """Our export's per-episode task, success and meta, when present and still matching.

    (rows or None, a note when the file exists but the episodes changed since the export).
    """
    path = Path(root) / SIDECAR
    if not path.is_file():
        return None, ''
    rows = json.loads(path.read_text(encoding='utf-8')).get('episodes', [])
    if [row.get('length') for row in rows] != list(lengths):
        return None, (f'{SIDECAR} does not match the episodes (edited since the export?): '
                      'task ids, success and meta not restored')
    return rows, ''


def decode_span(path: Path, times_s: np.ndarray, fps: float) -> np.ndarray:
    """The frames of an mp4 at the given presentation times (s): (T, H, W, 3) uint8 RGB."""
    import av
    tolerance = TIME_TOLERANCE_FRACTION / fps
    out: List[Optional[np.ndarray]] = [None] * len(times_s)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(max(times_s[0] - tolerance, 0.0) / stream.time_base),
                       stream=stream, backward=True)
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t > times_s[-1] + tolerance:
                break
            i = int(np.argmin(np.abs(times_s - t)))
            if abs(times_s[i] - t) <= tolerance:
                out[i] = frame.to_ndarray(format='rgb24')
    missing = [i for i, f in enumerate(out) if f is None]
    if missing:
        raise ValueError(f'{path}: no video frame at {len(missing)} of {len(times_s)} '
                         f'timestamps (first {times_s[missing[0]]:.3f} s)')
    return np.stack(out)


def _camera_frames(dataset: Any, key: str, episode: Dict[str, Any], rows: Dict[str, Any]
                   ) -> np.ndarray:
    if key in rows:                               # image feature: stored in the parquet
        return np.asarray(rows[key], dtype=np.uint8)
    path = Path(dataset.root) / dataset.meta.get_video_file_path(episode['episode_index'], key)
    start = float(episode[f'videos/{key}/from_timestamp'])
    return decode_span(path, start + np.asarray(rows['timestamp'], np.float64),
                       float(dataset.meta.fps))


def _task_runs(task_index: np.ndarray) -> List[Tuple[int, int]]:
    """[start, end) of each run of one task within an episode."""
    cuts = [0] + [i for i in range(1, len(task_index)) if task_index[i] != task_index[i - 1]]
    return list(zip(cuts, cuts[1:] + [len(task_index)]))


def iter_lerobot_episodes(root: PathLike, mapping: LeRobotMapping = LeRobotMapping(),
                          stats: Optional[LeRobotImportStats] = None,
                          dataset: Any = None) -> Iterator[Episode]:
    """Yield deer_ros Episodes from the LeRobotDataset at root, one LeRobot episode at a time."""
    dataset = dataset if dataset is not None else open_lerobot(root)
    stats = stats if stats is not None else LeRobotImportStats()
    resolved = resolve(dataset.meta.features, mapping)
    stats.notes.extend(resolved.notes)
    frames = dataset.hf_dataset.with_format('numpy')
    tasks = list(dataset.meta.tasks.index)
    sidecar, note = read_sidecar(root, [int(n) for n in dataset.meta.episodes['length']])
    stats.notes.extend([note] if note else [])
    for number, episode in enumerate(dataset.meta.episodes):
        rows = frames[int(episode['dataset_from_index']):int(episode['dataset_to_index'])]
        if len(rows['index']) != int(episode['length']) or np.any(
                rows['episode_index'] != episode['episode_index']):
            raise ValueError(f'episode {episode["episode_index"]}: its frames do not match '
                             'meta/episodes (length or episode_index)')
        stats.episodes_read += 1
        extra = sidecar[number] if sidecar else None
        for start, end in _task_runs(rows['task_index']):
            part = {k: v[start:end] for k, v in rows.items()}
            yield _episode(dataset, resolved, episode, part, tasks, extra, stats)


def _episode(dataset: Any, resolved: ResolvedMapping, episode: Dict[str, Any],
             rows: Dict[str, Any], tasks: List[str], extra: Optional[Dict[str, Any]],
             stats: LeRobotImportStats) -> Episode:
    raw = rows[resolved.action_key].reshape(len(rows['index']), -1)
    actions, clipped = to_model_actions(raw, resolved, rows.get(STATE_KEY))
    stats.clipped_values += clipped
    state = to_state(rows[STATE_KEY], resolved) if resolved.state_index else None
    gripper = (_camera_frames(dataset, resolved.gripper_key, episode, rows)
               if resolved.gripper_key else None)
    success = bool(np.any(rows[SUCCESS_KEY])) if SUCCESS_KEY in rows else False
    meta = {'source': f'lerobot:{dataset.root}', 'episode_index': int(episode['episode_index']),
            'first_frame': int(rows['frame_index'][0])}
    task = 'lerobot'
    if extra is not None:
        task, success, meta = extra['task'], bool(extra['success']), dict(extra['meta'])
    stats.frames += len(actions)
    return Episode(instruction=str(tasks[int(rows['task_index'][0])]), task=task,
                   static=_camera_frames(dataset, resolved.static_key, episode, rows),
                   gripper=gripper, actions=actions, success=success, meta=meta, state=state)


def _check_output(output: PathLike, features: Dict[str, Any], resolved: ResolvedMapping) -> None:
    """Episodes append to an existing dataset only with its camera sizes: checked up front."""
    from deer_ros.data.recording import INDEX_FILE, read_info
    if not (Path(output) / INDEX_FILE).exists():
        return
    info = read_info(output)
    if not info.episodes:
        return
    sizes = tuple(tuple(features[k]['shape'][:2]) if k else None
                  for k in (resolved.static_key, resolved.gripper_key))
    if sizes != (info.static_size, info.gripper_size):
        raise MappingError(f'{output} holds cameras {info.static_size} / {info.gripper_size}; '
                           f'this import gives {sizes[0]} / {sizes[1]}: write to a new directory')


def import_lerobot(source: PathLike, output: PathLike, mapping: LeRobotMapping = LeRobotMapping(),
                   progress: bool = True) -> LeRobotImportStats:
    """Convert the LeRobotDataset at source into a deer_ros dataset directory at output."""
    from tqdm import tqdm

    from deer_ros.data.recording import write_episode

    dataset = open_lerobot(source)
    resolved = resolve(dataset.meta.features, mapping)   # refuse a bad mapping before any output
    _check_output(output, dataset.meta.features, resolved)
    stats = LeRobotImportStats()
    fps = float(dataset.meta.fps)
    episodes = iter_lerobot_episodes(source, mapping, stats, dataset=dataset)
    with tqdm(total=dataset.meta.total_episodes, unit='ep', disable=not progress,
              desc='import-lerobot') as bar:
        for episode in episodes:
            write_episode(output, episode, fps=fps, source=f'lerobot:{source}')
            stats.episodes_written += 1
            bar.update(stats.episodes_read - bar.n)
    if not stats.episodes_written:
        raise MappingError(f'no episode in {source}')
    return stats
