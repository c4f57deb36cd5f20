"""Assemble an Episode from a live stream of frames and actions (pure: no rclpy).

Pairing rule: each action is paired with the frame it was computed from: the newest frame whose
stamp is not after the action's stamp (deer_node stamps actions with their observation's stamp;
teleoperation stamps with publish time, which picks the latest frame). A frame older than
max_frame_age_ns relative to the action is not used: the action is skipped and the reason kept.
The robot state (use_state) is paired by the same rule, as a third stream.
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np

from deer_ros.data.recording import Episode

Stamped = Tuple[int, np.ndarray]   # (stamp ns, (H, W, 3) uint8 RGB)


@dataclass
class BufferStats:
    """Why actions were not recorded."""

    recorded: int = 0
    skipped: Dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count one skipped action."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class EpisodeBuffer:
    """Frames and actions of the episode being recorded."""

    def __init__(self, use_gripper: bool = True, max_frame_age_ns: int = 500_000_000,
                 history: int = 30, use_state: bool = False):
        self.use_gripper = use_gripper
        self.use_state = use_state
        self.max_frame_age_ns = max_frame_age_ns
        self._frames: Dict[str, Deque[Stamped]] = {'static': deque(maxlen=history),
                                                   'gripper': deque(maxlen=history),
                                                   'state': deque(maxlen=history)}
        self.instruction = ''
        self.task = ''
        self.stats = BufferStats()
        self._static: List[np.ndarray] = []
        self._gripper: List[np.ndarray] = []
        self._actions: List[np.ndarray] = []
        self._states: List[np.ndarray] = []

    def __len__(self) -> int:
        return len(self._actions)

    def add_frame(self, camera: str, stamp_ns: int, image: np.ndarray) -> None:
        """Store a decoded frame of camera 'static' or 'gripper'."""
        self._frames[camera].append((int(stamp_ns), image))

    def add_state(self, stamp_ns: int, values: np.ndarray) -> None:
        """Store a robot state (recording.STATE_CONVENTION order)."""
        self._frames['state'].append((int(stamp_ns), np.asarray(values, dtype=np.float32)))

    def add_action(self, stamp_ns: int, action: np.ndarray) -> bool:
        """Record a 7-D model action with the frames it was taken from; False if skipped."""
        static = self._frame_for('static', stamp_ns)
        gripper = self._frame_for('gripper', stamp_ns) if self.use_gripper else None
        if static is None or (self.use_gripper and gripper is None):
            self.stats.skip('no recent frame')
            return False
        state = self._frame_for('state', stamp_ns) if self.use_state else None
        if self.use_state and state is None:
            self.stats.skip('no recent robot state')
            return False
        if not self.instruction:
            self.stats.skip('no instruction yet')
            return False
        if state is not None:
            self._states.append(state)
        self._static.append(static)
        if gripper is not None:
            self._gripper.append(gripper)
        self._actions.append(np.asarray(action, dtype=np.float32))
        self.stats.recorded += 1
        return True

    def finish(self, success: bool, meta: Optional[dict] = None) -> Optional[Episode]:
        """The recorded episode (None when empty); the buffer starts a new episode."""
        episode = None
        if self._actions:
            episode = Episode(instruction=self.instruction, task=self.task or 'teleop',
                              static=np.stack(self._static),
                              gripper=np.stack(self._gripper) if self.use_gripper else None,
                              actions=np.stack(self._actions), success=success,
                              meta=dict(meta or {}, source='ros_recorder',
                                        skipped=dict(self.stats.skipped)),
                              state=np.stack(self._states) if self.use_state else None)
        self._static, self._gripper, self._actions, self._states = [], [], [], []
        self.stats = BufferStats()
        return episode

    def _frame_for(self, camera: str, stamp_ns: int) -> Optional[np.ndarray]:
        candidates = [f for f in self._frames[camera] if f[0] <= stamp_ns]
        if not candidates:
            return None
        frame_stamp, image = max(candidates, key=lambda f: f[0])
        if stamp_ns - frame_stamp > self.max_frame_age_ns:
            return None
        return image
