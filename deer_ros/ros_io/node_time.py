"""One clock for deer_node's timers and staleness checks: the node's own (no rclpy import).

With `use_sim_time` the node's ROS clock follows /clock (Gazebo, Isaac: slower or faster than real
time, or paused), and so do its control timer's ticks. Frame arrival, tick times and every stale
check must then be taken on that clock too: on the wall clock a 0.1x simulator looks stale on
every frame and a 3x one never does. Without sim time the steady clock is used (the timers' rate,
and no NTP step can make a stopped camera look fresh).

Diagnostics alone run on the steady clock, so a simulator that is not started or is paused is
still reported: ClockWatch says when sim time has stood still.
"""
import time
from typing import Any, Callable, Optional, Tuple

STALLED_AFTER_S = 2.0   # steady seconds without a sim-time change before it is reported


class NodeTime:
    """Seconds on the node's clock: ROS (sim) time while use_sim_time is active, else steady."""

    def __init__(self, ros_clock: Any, steady: Callable[[], float] = time.monotonic):
        self._clock = ros_clock          # an rclpy ROSClock (node.get_clock())
        self._steady = steady

    @property
    def sim(self) -> bool:
        """Whether the node runs on sim time (use_sim_time)."""
        return bool(getattr(self._clock, 'ros_time_is_active', False))

    def __call__(self) -> float:
        """Now, in seconds."""
        if self.sim:
            return self._clock.now().nanoseconds * 1e-9
        return self._steady()


class ClockWatch:
    """Notices sim time standing still for STALLED_AFTER_S of steady time (checked at 1 Hz)."""

    def __init__(self, stalled_after_s: float = STALLED_AFTER_S):
        self.stalled_after_s = stalled_after_s
        self._node_s: Optional[float] = None
        self._since_s = 0.0
        self.stalled = False

    def check(self, sim: bool, node_s: float, steady_s: float) -> Tuple[str, bool]:
        """(why time is not advancing or '', whether that changed since the last check)."""
        was = self.stalled
        if not sim or node_s != self._node_s:
            self._node_s, self._since_s = (node_s if sim else None), steady_s
            self.stalled = False
            return '', was
        still_s = steady_s - self._since_s
        self.stalled = still_s >= self.stalled_after_s
        if not self.stalled:
            return '', was
        where = ('no /clock message has arrived' if node_s == 0.0 else
                 f'/clock has stood at {node_s:.3f} s')
        return (f'time is not advancing: use_sim_time is set and {where} for {still_s:.0f} s '
                '(simulator not started, or paused): no control ticks, no actions, watchdogs '
                'wait for sim time', not was)
