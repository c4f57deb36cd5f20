"""Write deer_ros recordings as a LeRobotDataset v3 with LeRobot's own writer.

LeRobotDataset.create + add_frame + save_episode + finalize, so LeRobot's viewers, checkers and
training scripts read the result. Features (lerobot_mapping.export_features):
`observation.images.static` / `.gripper` (mp4 video, or PNG images with `video=False`, lossless),
`observation.state` (ee_x, ee_y, ee_z, gripper_opening) when every episode has it, `action`
(dx, dy, dz, droll, dpitch, dyaw, gripper: our model convention), `next.success` (True on the
last frame of a successful episode); the task string is the instruction. meta/deer_ros.json keeps
what LeRobot has no field for (task id, success, per-episode meta, the action convention), so
an import of the export gives back the same episodes.
"""
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Union

import numpy as np

from deer_ros.data.lerobot_import import SIDECAR
from deer_ros.data.lerobot_mapping import (
    ACTION_KEY, CAMERA_PREFIX, STATE_KEY, SUCCESS_KEY, export_features)
from deer_ros.data.recording import (
    ACTION_CONVENTION, Episode, list_episodes, read_episode, read_info)
from deer_ros.model.api import STATE_CONVENTION

PathLike = Union[str, Path]
VCODECS = ('libsvtav1', 'h264', 'hevc')   # LeRobot's default first (AV1, what its viewer plays)


@dataclass(frozen=True)
class ExportOptions:
    """How `export-lerobot` writes (its flags)."""

    repo_id: str = 'local/deer_ros'        # the dataset's name in its metadata and on the Hub
    robot_type: str = ''                   # info.json robot_type ('' leaves it unset)
    video: bool = True                     # mp4 cameras (lossy, small); False: PNG (lossless)
    vcodec: str = VCODECS[0]

    def __post_init__(self) -> None:
        if self.vcodec not in VCODECS:
            raise ValueError(f'vcodec must be one of {VCODECS}, got {self.vcodec!r}')


def integer_fps(fps: float) -> int:
    """LeRobot stores fps as an integer; a recording at another rate cannot be exported."""
    if fps <= 0 or abs(fps - round(fps)) > 1e-6:
        raise ValueError(f'LeRobotDataset needs an integer fps; this recording has {fps}')
    return int(round(fps))


def _frames(episode: Episode) -> List[Dict[str, Any]]:
    last = len(episode) - 1
    frames = []
    for t in range(len(episode)):
        frame = {CAMERA_PREFIX + 'static': episode.static[t], ACTION_KEY: episode.actions[t],
                 SUCCESS_KEY: np.array([episode.success and t == last]),
                 'task': episode.instruction}
        if episode.gripper is not None:
            frame[CAMERA_PREFIX + 'gripper'] = episode.gripper[t]
        if episode.state is not None:
            frame[STATE_KEY] = episode.state[t]
        frames.append(frame)
    return frames


def export_lerobot(source: PathLike, output: PathLike, options: ExportOptions = ExportOptions(),
                   progress: bool = True) -> int:
    """Export the deer_ros dataset at source to a new LeRobotDataset at output; episode count."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    info = read_info(source)
    paths = list_episodes(source)
    if not paths:
        raise ValueError(f'{source}: no episode to export')
    output = Path(output)
    if output.exists():
        raise FileExistsError(f'{output} exists; LeRobotDataset.create writes a new directory')
    _quiet_video_logs()
    with_state = read_episode(paths[0]).state is not None
    features = export_features(info.static_size, info.gripper_size, with_state, options.video)
    dataset = LeRobotDataset.create(
        repo_id=options.repo_id, fps=integer_fps(info.fps), root=output, features=features,
        robot_type=options.robot_type or None, video_backend='pyav', use_videos=options.video,
        vcodec=options.vcodec)
    sidecar: List[Dict[str, Any]] = []
    try:
        for path in tqdm(paths, unit='ep', desc='export-lerobot', disable=not progress):
            episode = read_episode(path)
            if (episode.state is not None) != with_state:
                which = 'missing' if with_state else 'present'
                raise ValueError(f'{path.name}: robot state {which} unlike the first episode; '
                                 'LeRobot needs the same features in every frame')
            for frame in _frames(episode):
                dataset.add_frame(frame)
            dataset.save_episode()
            sidecar.append({'name': path.stem, 'length': len(episode), 'task': episode.task,
                            'success': episode.success, 'meta': episode.meta})
    except BaseException:
        dataset.finalize()
        shutil.rmtree(output, ignore_errors=True)   # created above: nothing of the user's
        raise
    dataset.finalize()
    _write_sidecar(output, source, sidecar)
    return len(sidecar)


def _write_sidecar(output: Path, source: PathLike, episodes: List[Dict[str, Any]]) -> None:
    data = {'format': 'deer_ros.lerobot_export', 'version': 1, 'source': str(source),
            'action_convention': ACTION_CONVENTION, 'state_convention': STATE_CONVENTION,
            'episodes': episodes}
    (output / SIDECAR).write_text(json.dumps(data, indent=1) + '\n', encoding='utf-8')


def _quiet_video_logs() -> None:
    """FFmpeg's per-file encoder statistics would bury the progress bar.

    LeRobot's encoder hands logging back to FFmpeg's own printer after each file, so its level
    is the one that counts; SVT-AV1 prints its configuration unless SVT_LOG says otherwise.
    """
    import av
    import datasets
    os.environ.setdefault('SVT_LOG', '2')     # warnings and errors
    av.logging.set_libav_level(av.logging.ERROR)
    datasets.disable_progress_bars()          # one "Map" bar per episode otherwise
