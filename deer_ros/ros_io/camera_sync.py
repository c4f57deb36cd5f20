"""Latest-frame-only camera input with approximate-time pairing of two cameras, without rclpy.

Like message_filters' ApproximateTimeSynchronizer for two topics: bounded per-camera queues
keyed by header stamp; the newest static frame with a gripper frame within `slop_s` is the
observation. Each observation is taken at most once; frames superseded before inference could
take them are counted as dropped. Thread-safe: subscriptions add, the control loop takes.

Frames may hold the raw message (deer_node does): storing is then a reference, and only the
frames of the observation actually taken are ever decoded, whatever the camera rate.
Freshness is judged on stamps: a camera whose frames keep arriving with the same stamp is frozen,
and counts as stale for the watchdog (its receipt time stops advancing). Only usable frames count:
a frame added unchecked (a compressed image, whose data is known good only once decoded) refreshes
its camera when confirm() says it decoded; rejected frames never keep the watchdog content.
"""
import threading
from collections import deque
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded camera image."""

    image: Any               # (H, W, 3) uint8 RGB array, or the raw message (decoded on take)
    stamp_s: float           # header.stamp in seconds (camera clock), for pairing
    received_s: float        # receipt time on the node's clock, s (staleness is measured on it)
    stamp: Optional[Tuple[int, int]] = None   # header.stamp (sec, nanosec) exactly, echoed
    arrived_s: Optional[float] = None   # receipt, time.monotonic() (latency); None: received_s

    def decoded(self, image: np.ndarray) -> 'Frame':
        """The same frame with its decoded image."""
        return Frame(image, self.stamp_s, self.received_s, self.stamp, self.arrived_s)


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
    def arrived_s(self) -> float:
        """Steady-clock arrival of the newer frame (what the engine's latency counts from)."""
        frames = [f for f in (self.static, self.gripper) if f is not None]
        return max(f.received_s if f.arrived_s is None else f.arrived_s for f in frames)

    @property
    def oldest_received_s(self) -> float:
        """Receipt time of the older frame (the staleness of the set)."""
        return min(self.static.received_s,
                   self.gripper.received_s if self.gripper else self.static.received_s)


@dataclass(frozen=True)
class SyncStatus:
    """CameraSync's counters at one instant, copied under its lock (for another thread)."""

    cameras: Tuple[str, ...]             # in use: ('static',) or ('static', 'gripper')
    received: Mapping[str, int]          # camera -> frames received (read-only copy)
    dropped: int                         # static frames superseded before inference took them
    latest_received_s: Optional[float]  # CameraSync.latest_received_s() (node clock, s)
    pairs: int = 0                       # static frames received with a gripper frame in slop


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
        self._newest_stamp: Dict[str, float] = {}    # camera -> newest stamp seen
        self._fresh_s: Dict[str, float] = {}         # camera -> receipt of its newest stamp
        self._last_s: Dict[str, float] = {}          # camera -> receipt of any frame
        self.dropped = 0          # static frames never used although newer than the last taken
        self.pairs = 0            # static frames that met a gripper frame within slop_s
        self._paired_stamp = float('-inf')
        self.clock_jumps = 0

    def add(self, camera: str, frame: Frame, checked: bool = True) -> None:
        """Store a frame from 'static' or 'gripper' (oldest evicted beyond queue_size).

        checked: the frame is known usable (decoded, or a raw image whose header matched); an
        unchecked one refreshes its camera only through confirm().
        """
        queue = self._static if camera == 'static' else self._gripper
        with self._lock:
            self.received[camera] += 1
            if camera == 'static' and frame.stamp_s < self._taken_stamp - self.JUMP_BACK_S:
                # The camera clock jumped back (bag loop, simulation reset): start over.
                self._static.clear()
                self._gripper.clear()
                self._taken_stamp = float('-inf')
                self._newest_stamp.clear()
                self.clock_jumps += 1
            if checked:
                self._refresh(camera, frame)
            queue.append(frame)
            if self.use_gripper:
                self._count_pair(camera, frame)
            while len(queue) > self._queue_size:
                old = queue.popleft()
                if camera == 'static' and old.stamp_s > self._taken_stamp:
                    self.dropped += 1

    def _count_pair(self, camera: str, frame: Frame) -> None:
        """Count a static frame once it has a gripper partner within slop (pairs received)."""
        if camera == 'static':
            near = [frame] if any(abs(g.stamp_s - frame.stamp_s) <= self.slop_s
                                  for g in self._gripper) else []
        else:
            near = [f for f in self._static if abs(f.stamp_s - frame.stamp_s) <= self.slop_s]
        stamps = [f.stamp_s for f in near if f.stamp_s > self._paired_stamp]
        if stamps:
            self.pairs += 1
            self._paired_stamp = max(stamps)

    def confirm(self, camera: str, frame: Frame) -> None:
        """A frame added unchecked has decoded: it counts as a usable frame of its camera."""
        with self._lock:
            self._refresh(camera, frame)

    def _refresh(self, camera: str, frame: Frame) -> None:
        self._last_s[camera] = max(frame.received_s, self._last_s.get(camera, float('-inf')))
        newest = self._newest_stamp.get(camera, float('-inf'))
        if frame.stamp_s > newest or frame.stamp_s < newest - self.JUMP_BACK_S:
            self._newest_stamp[camera] = frame.stamp_s
            self._fresh_s[camera] = frame.received_s

    @property
    def cameras(self) -> Tuple[str, ...]:
        """The cameras in use."""
        return ('static', 'gripper') if self.use_gripper else ('static',)

    def latest_received_s(self) -> Optional[float]:
        """Receipt of the newest *new-stamp* frame of the cameras in use (the older of the two).

        None until every camera in use has sent a frame.
        """
        with self._lock:
            return self._latest_received_s()

    def _latest_received_s(self) -> Optional[float]:
        times = [self._fresh_s.get(c) for c in self.cameras]   # the caller holds the lock
        return None if any(t is None for t in times) else min(times)

    def status(self) -> SyncStatus:
        """The counters and the newest receipt, one consistent copy."""
        with self._lock:
            return SyncStatus(self.cameras, MappingProxyType(dict(self.received)), self.dropped,
                              self._latest_received_s(), self.pairs)

    def missing(self) -> List[str]:
        """Cameras in use that have not sent a frame (since configure / the last clear)."""
        with self._lock:
            return [c for c in self.cameras if c not in self._fresh_s]

    def stale(self, now_s: float, after_s: float) -> List[str]:
        """Cameras in use without a usable new-stamp frame for more than after_s."""
        with self._lock:
            return [c for c in self.cameras
                    if c not in self._fresh_s or now_s - self._fresh_s[c] > after_s]

    def frozen(self, now_s: float, after_s: float) -> List[str]:
        """Cameras still sending (within after_s) whose stamp has not advanced for after_s."""
        with self._lock:
            return [c for c in self.cameras if c in self._fresh_s
                    and now_s - self._last_s[c] <= after_s
                    and now_s - self._fresh_s[c] > after_s]

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
        """Forget queued frames (deactivate, activate); counters and the last taken stamp stay.

        The newest stamps go with their receipt times: keeping one without the other made a
        frame re-sent with that stamp never fresh again (no frames, forever). The last taken
        stamp stays, so an observation already acted on is never taken twice.
        """
        with self._lock:
            self._static.clear()
            self._gripper.clear()
            self._newest_stamp.clear()
            self._fresh_s.clear()
            self._last_s.clear()
