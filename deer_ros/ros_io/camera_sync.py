"""Latest-frame-only camera input with approximate-time pairing of two cameras, without rclpy.

Like message_filters' ApproximateTimeSynchronizer for two topics: bounded per-camera queues
keyed by header stamp; the newest static frame with a gripper frame within `slop_s` is the
observation. Each observation is taken at most once; frames superseded before inference could
take them are counted as dropped. Thread-safe: subscriptions add, the control loop takes.
"""
import threading
from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded camera image."""

    image: np.ndarray        # (H, W, 3) uint8 RGB
    stamp_s: float           # header.stamp in seconds (camera clock)
    received_s: float        # receipt time, monotonic seconds (staleness is measured on it)


@dataclass(frozen=True)
class Observation:
    """What one inference step consumes."""

    static: Frame
    gripper: Optional[Frame]

    @property
    def received_s(self) -> float:
        """Receipt time of the newer frame of the set."""
        return max(self.static.received_s,
                   self.gripper.received_s if self.gripper else self.static.received_s)

    @property
    def oldest_received_s(self) -> float:
        """Receipt time of the older frame (the staleness of the set)."""
        return min(self.static.received_s,
                   self.gripper.received_s if self.gripper else self.static.received_s)


class CameraSync:
    """Bounded queues for the static and (optional) gripper camera; take() the newest set."""

    JUMP_BACK_S = 1.0   # a static stamp this much older than the last taken one resets pairing

    def __init__(self, use_gripper: bool, slop_s: float = 0.05, queue_size: int = 5):
        self.use_gripper = use_gripper
        self.slop_s = slop_s
        self._static: Deque[Frame] = deque()
        self._gripper: Deque[Frame] = deque()
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._taken_stamp = float('-inf')
        self.received = {'static': 0, 'gripper': 0}
        self.dropped = 0          # static frames never used although newer than the last taken
        self.clock_jumps = 0

    def add(self, camera: str, frame: Frame) -> None:
        """Store a frame from 'static' or 'gripper' (oldest evicted beyond queue_size)."""
        queue = self._static if camera == 'static' else self._gripper
        with self._lock:
            self.received[camera] += 1
            if camera == 'static' and frame.stamp_s < self._taken_stamp - self.JUMP_BACK_S:
                # The camera clock jumped back (bag loop, simulation reset): start over.
                self._static.clear()
                self._gripper.clear()
                self._taken_stamp = float('-inf')
                self.clock_jumps += 1
            queue.append(frame)
            while len(queue) > self._queue_size:
                old = queue.popleft()
                if camera == 'static' and old.stamp_s > self._taken_stamp:
                    self.dropped += 1

    def latest_received_s(self) -> Optional[float]:
        """Receipt time of the newest frame of the cameras in use (the oldest of the two)."""
        with self._lock:
            if not self._static or (self.use_gripper and not self._gripper):
                return None
            times = [self._static[-1].received_s]
            if self.use_gripper:
                times.append(self._gripper[-1].received_s)
            return min(times)

    def has_new(self) -> bool:
        """Whether a static frame newer than the last taken observation is queued."""
        with self._lock:
            return bool(self._static) and self._static[-1].stamp_s > self._taken_stamp

    def take(self) -> Optional[Observation]:
        """The newest not-yet-taken observation, or None (no new frame, or no pair within slop)."""
        with self._lock:
            for static in reversed(self._static):
                if static.stamp_s <= self._taken_stamp:
                    return None
                gripper = None
                if self.use_gripper:
                    gripper = self._closest(static.stamp_s)
                    if gripper is None:
                        continue
                self.dropped += sum(1 for f in self._static
                                    if self._taken_stamp < f.stamp_s < static.stamp_s)
                self._taken_stamp = static.stamp_s
                return Observation(static, gripper)
            return None

    def _closest(self, stamp_s: float) -> Optional[Frame]:
        best = min(self._gripper, key=lambda f: abs(f.stamp_s - stamp_s), default=None)
        if best is None or abs(best.stamp_s - stamp_s) > self.slop_s:
            return None
        return best

    def clear(self) -> None:
        """Forget queued frames (deactivate); counters are kept."""
        with self._lock:
            self._static.clear()
            self._gripper.clear()
