"""Import rosbag2 MCAP recordings (camera + instruction [+ action] topics) as deer_ros episodes.

rosbag2's default storage is MCAP: `ros2 bag record /camera/static/image_raw /instruction ...`
on the robot gives a file this module turns into the recording format, so `deer-ros calibrate`,
`analyze-layers` and `train` work on real-robot data.

Pairing rules (the same as the live recorder's): every static-camera frame is one observation; the
gripper frame is the newest one whose stamp is within `slop_s` of it (frames without one are
skipped and counted); the instruction in force is the last one received before the frame; a new
instruction starts a new episode. Actions (optional) come from deer_ros/msg/ActionCommand messages
stamped with the observation they answer, converted back to model units. Without an action topic
the episode's actions are zero and meta['has_actions'] is False: such episodes serve calibration
and layer analysis, not training.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

import numpy as np

from deer_ros.data.recording import Episode
from deer_ros.ros_io.action_mapping import command_to_action
from deer_ros.ros_io.settings import ActionSettings

PathLike = Union[str, Path]


@dataclass
class McapTopics:
    """Topic names and pairing settings of an MCAP import."""

    static: str = '/camera/static/image_raw'
    gripper: Optional[str] = '/camera/gripper/image_raw'   # None: static camera only
    instruction: str = '/instruction'
    action: Optional[str] = None              # deer_ros/msg/ActionCommand topic, if recorded
    slop_s: float = 0.05                      # max |stamp difference| of a camera pair, seconds
    scaling: ActionSettings = field(default_factory=ActionSettings)   # the publisher's action.*


@dataclass
class ImportStats:
    """What an import read and what it had to skip, and why."""

    frames: int = 0
    unpaired_static: int = 0
    no_instruction: int = 0
    bad_images: int = 0
    missing_actions: int = 0
    episodes: int = 0
    errors: List[str] = field(default_factory=list)


def mcap_files(source: PathLike) -> List[Path]:
    """The .mcap files of a file or a rosbag2 directory, in name order."""
    path = Path(source)
    files = [path] if path.is_file() else sorted(path.glob('*.mcap'))
    if not files:
        raise FileNotFoundError(f'no .mcap file at {path}')
    return files


def _stamp(msg: Any) -> float:
    return float(msg.header.stamp.sec) + 1e-9 * float(msg.header.stamp.nanosec)


def _decode(msg: Any) -> np.ndarray:
    from deer_ros.ros_io.image_codec import decode_raw
    return decode_raw(msg.encoding, int(msg.height), int(msg.width), int(msg.step),
                      bool(msg.is_bigendian), bytes(msg.data))


def _action(msg: Any, topics: McapTopics) -> np.ndarray:
    t, r = msg.translation, msg.rotation
    action = command_to_action([t.x, t.y, t.z], [r.x, r.y, r.z], msg.gripper, topics.scaling)
    return np.clip(action, -1.0, 1.0)        # the recording format's range


class _EpisodeBuilder:
    """Collects the observations of one instruction."""

    def __init__(self, instruction: str):
        self.instruction = instruction
        self.static: List[np.ndarray] = []
        self.gripper: List[np.ndarray] = []
        self.stamps: List[float] = []

    def episode(self, actions: Dict[float, np.ndarray], topics: McapTopics, source: str,
                stats: ImportStats) -> Optional[Episode]:
        if not self.static:
            return None
        rows = []
        for stamp in self.stamps:
            action = actions.get(round(stamp, 3))
            if action is None:
                stats.missing_actions += int(topics.action is not None)
                action = np.zeros(7, np.float32)
            rows.append(action)
        gripper = np.stack(self.gripper) if topics.gripper else None
        stats.episodes += 1
        return Episode(instruction=self.instruction, task='mcap', static=np.stack(self.static),
                       gripper=gripper, actions=np.stack(rows), success=False,
                       meta={'source': source, 'has_actions': topics.action is not None,
                             'first_stamp': self.stamps[0]})


def episodes_from_mcap(source: PathLike, topics: Optional[McapTopics] = None,
                       stats: Optional[ImportStats] = None) -> Iterator[Episode]:
    """Yield one Episode per instruction found in the MCAP file(s) at source."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    topics = topics or McapTopics()
    stats = stats if stats is not None else ImportStats()
    wanted = [t for t in (topics.static, topics.gripper, topics.instruction, topics.action) if t]
    for path in mcap_files(source):
        builder: Optional[_EpisodeBuilder] = None
        latest_gripper: Optional[Any] = None
        actions: Dict[float, np.ndarray] = {}
        pending: List[_EpisodeBuilder] = []
        with open(path, 'rb') as stream:
            records = list(make_reader(stream, decoder_factories=[DecoderFactory()])
                           .iter_decoded_messages(topics=wanted, log_time_order=True))
        for _, channel, _, msg in records:
            topic = channel.topic
            if topic == topics.instruction:
                text = str(msg.data).strip()
                if builder is None or text != builder.instruction:
                    if builder is not None:
                        pending.append(builder)
                    builder = _EpisodeBuilder(text)
            elif topic == topics.gripper:
                latest_gripper = msg
            elif topic == topics.action:
                actions[round(_stamp(msg), 3)] = _action(msg, topics)
            elif topic == topics.static:
                _add_frame(builder, msg, latest_gripper, topics, stats)
        if builder is not None:
            pending.append(builder)
        for done in pending:
            episode = done.episode(actions, topics, str(path), stats)
            if episode is not None:
                yield episode


def _add_frame(builder: Optional[_EpisodeBuilder], msg: Any, latest_gripper: Optional[Any],
               topics: McapTopics, stats: ImportStats) -> None:
    stats.frames += 1
    if builder is None or not builder.instruction:
        stats.no_instruction += 1
        return
    gripper_image = None
    if topics.gripper:
        if latest_gripper is None or abs(_stamp(latest_gripper) - _stamp(msg)) > topics.slop_s:
            stats.unpaired_static += 1
            return
    try:
        static_image = _decode(msg)
        if topics.gripper:
            gripper_image = _decode(latest_gripper)
    except ValueError as exc:
        stats.bad_images += 1
        if len(stats.errors) < 10:
            stats.errors.append(str(exc))
        return
    if builder.static and static_image.shape != builder.static[0].shape:
        stats.bad_images += 1
        stats.errors.append(f'static image size changed to {static_image.shape[:2]}')
        return
    builder.static.append(static_image)
    if gripper_image is not None:
        builder.gripper.append(gripper_image)
    builder.stamps.append(_stamp(msg))


def import_mcap(source: PathLike, output: PathLike, topics: Optional[McapTopics] = None,
                fps: float = 10.0) -> ImportStats:
    """Convert the MCAP recording at source into a deer_ros dataset directory at output."""
    from deer_ros.data.recording import write_episode

    stats = ImportStats()
    for episode in episodes_from_mcap(source, topics, stats):
        write_episode(output, episode, fps=fps, source=f'mcap:{source}')
    if not stats.episodes:
        raise ValueError(f'no episode in {source}: {stats}')
    return stats


def is_mcap(source: PathLike) -> bool:
    """True for an .mcap file or a rosbag2 directory holding .mcap files."""
    path = Path(source)
    return path.suffix == '.mcap' or (path.is_dir() and any(path.glob('*.mcap'))
                                      and not (path / 'dataset.json').exists())
