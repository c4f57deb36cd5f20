"""Robot state (proprioception) for models whose head takes it; no rclpy here.

On the wire: sensor_msgs/JointState on `robot_state`, one named entry per value of
deer_ros.model.api.STATE_CONVENTION (`ee_x`, `ee_y`, `ee_z`: end-effector position in
metres, robot base frame; `gripper_opening`: 0 closed .. 1 open), stamped like the camera frames
of the same instant. JointState because every arm driver already publishes it (a gripper's
opening is a joint there) and its names make the order explicit; a relay adds the end-effector
position from forward kinematics where the driver does not.

deer_node's control core stays unaware of it: `StateFeedingEngine` decorates the engine and
hands the newest fresh state to each step; a missing or stale state raises, which the core
turns into a hold with the reason (a model without its state must not act blind).
"""
import threading
import time
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from deer_ros.model.api import STATE_CONVENTION
from deer_ros.policies.engine import InferenceEngine
from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.settings import RobotStateSettings

STATE_NAMES: Tuple[str, ...] = tuple(STATE_CONVENTION['dims'])
DEFAULT_MAX_AGE_S = RobotStateSettings().max_age_s


class RobotStateUnavailable(RuntimeError):
    """No usable robot state for this step (none yet, stale, or malformed)."""


def state_values(names: Sequence[str], positions: Sequence[float],
                 wanted: Sequence[str] = STATE_NAMES) -> Tuple[Optional[np.ndarray], str]:
    """Pick `wanted` from a (name, position) by name: (values, '') or (None, why)."""
    if len(names) != len(positions):
        return None, f'{len(names)} names but {len(positions)} positions'
    index = {str(n): i for i, n in enumerate(names)}
    missing = [w for w in wanted if w not in index]
    if missing:
        return None, f'missing {missing}'
    values = np.asarray([positions[index[w]] for w in wanted], dtype=np.float32)
    if not np.all(np.isfinite(values)):
        return None, 'non-finite values'
    return values, ''


class RobotStateBuffer:
    """Newest robot state and its arrival time: one writer (subscription), one reader (control)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Optional[np.ndarray] = None
        self._received_s = 0.0
        self._why = 'no robot state received yet'

    def put(self, values: Optional[np.ndarray], received_s: float, why: str = '') -> None:
        """Store a state (None with `why`: the message was unusable, forget the old one)."""
        with self._lock:
            self._values, self._received_s = values, float(received_s)
            self._why = why or 'no robot state received yet'

    def latest(self, now_s: float, max_age_s: float) -> Tuple[Optional[np.ndarray], str]:
        """(values, '') when a state arrived within max_age_s (<= 0: any age), else (None, why)."""
        with self._lock:
            values, received, why = self._values, self._received_s, self._why
        if values is None:
            return None, why
        age = now_s - received
        if max_age_s > 0 and age > max_age_s:
            return None, f'robot state is {age:.3f} s old (max {max_age_s:g} s)'
        return values.copy(), ''


class StateFeedingEngine:
    """An engine whose step() also receives the newest robot state (decorator, same interface)."""

    def __init__(self, engine: InferenceEngine, buffer: RobotStateBuffer,
                 max_age_s: float = DEFAULT_MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.buffer = buffer
        self.max_age_s = float(max_age_s)
        self.clock = clock

    def step(self, static: np.ndarray, gripper: Optional[np.ndarray] = None,
             t_received: Optional[float] = None) -> StepRecord:
        """engine.step with state=; raises RobotStateUnavailable instead of running blind."""
        state, why = self.buffer.latest(self.clock(), self.max_age_s)
        if state is None:
            raise RobotStateUnavailable(why)
        return self.engine.step(static, gripper, t_received=t_received, state=state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


def model_takes_state(engine: InferenceEngine) -> bool:
    """Whether the engine's model has a robot-state input (ModelRollout.state_dim > 0)."""
    return bool(getattr(getattr(engine, 'model', None), 'state_dim', 0))
