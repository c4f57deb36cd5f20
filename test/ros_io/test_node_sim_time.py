"""deer_node on a simulated clock: every timer and staleness check runs on the node's clock.

The test publishes /clock itself, at a real-time factor of 0.1 (a slow simulator) and 3 (a fast
one); frames are stamped and sent on sim time. With use_sim_time and no /clock at all the node
still reports on /diagnostics (steady clock) that time is not advancing, and logs it.
"""
import time

import pytest
from rcl_interfaces.msg import Log
from rosgraph_msgs.msg import Clock

from deer_ros.ros_io.messages import stamp_from_seconds
from ros_io_helpers import (CameraPlayer, diagnostics_of, image_msg, operator, outputs, rgb,
                            wait_for_diagnostic)

pytestmark = pytest.mark.ros
SIM_PARAMS = {'use_sim_time': True, 'safety.stale_image_s': 0.5, 'control_rate_hz': 10.0}


class SimClock:
    """/clock advancing at `factor` x the wall clock, published every few milliseconds."""

    def __init__(self, graph, factor: float, start_s: float = 100.0):
        self.graph = graph
        self.pub = graph.node('simulator').create_publisher(Clock, '/clock', 10)
        self.factor = factor
        self.now_s = start_s

    def run(self, sim_seconds: float, on_step=lambda now_s: None, until=lambda: False) -> None:
        """Advance sim time by up to sim_seconds (or until until()), calling on_step each step."""
        end = self.now_s + sim_seconds
        last = time.monotonic()
        while self.now_s < end and not until():
            self.graph.spin_for(0.01)
            wall = time.monotonic()
            self.now_s += (wall - last) * self.factor
            last = wall
            self.pub.publish(Clock(clock=stamp_from_seconds(self.now_s)))
            on_step(self.now_s)


class SimCamera:
    """Frames stamped on sim time, one every period_s of sim time while streaming."""

    def __init__(self, graph, period_s: float):
        self.camera = CameraPlayer(graph)
        self.period_s = period_s
        self.next_s = None
        self.streaming = True

    def __call__(self, now_s: float) -> None:
        if not self.streaming:
            self.next_s = None
            return
        if self.next_s is None or now_s >= self.next_s:
            self.camera.count += 1
            self.camera.static.publish(image_msg(rgb(self.camera.count), now_s))
            self.next_s = now_s + self.period_s


def start(graph, deer, factor, period_s):
    sim = SimClock(graph, factor)
    sim.run(0.05 * factor)                      # /clock is up before the node starts
    deer(SIM_PARAMS)
    out = outputs(graph)
    camera = SimCamera(graph, period_s)
    operator(graph, 'open the drawer')
    sim.run(30.0 * factor, until=lambda: camera.camera.static.get_subscription_count() > 0)
    return sim, camera, out


def acted(out, since=0):
    return [a for a in out['action'][since:] if not a.hold]


def test_slow_simulation_frames_on_time_in_sim_time_get_no_stale_hold(ros_graph, deer):
    """Real-time factor 0.1, a frame every 0.3 s of sim time (3 s of wall time): never stale."""
    sim, camera, out = start(ros_graph, deer, 0.1, 0.3)
    sim.run(2.0, camera, until=lambda: acted(out))
    assert acted(out), 'no action on sim time'
    first = len(out['action'])
    sim.run(0.75, camera)                       # 7.5 s of wall time, 2-3 more frames
    holds = [a.hold_reason for a in out['action'][first:] if a.hold]
    assert holds == [], f'held on frames that are on time in sim time: {holds}'
    assert len(acted(out, first)) >= 2


def test_fast_simulation_one_second_camera_gap_gets_a_hold(ros_graph, deer):
    """Real-time factor 3: a 1 s sim-time gap (0.33 s of wall time) is stale (> 0.5 s sim)."""
    sim, camera, out = start(ros_graph, deer, 3.0, 0.1)
    # from an action on: the watchdog has just seen fresh frames (a hold before it is re-armed)
    sim.run(30.0, camera, until=lambda: len(acted(out)) >= 3 and not out['action'][-1].hold)
    assert len(acted(out)) >= 3 and not out['action'][-1].hold
    gap = len(out['action'])
    camera.streaming = False
    sim.run(1.0, camera)
    holds = [a.hold_reason for a in out['action'][gap:] if a.hold]
    assert holds == ['stale_camera'], f'a 1 s sim-time camera gap gave holds {holds}'
    camera.streaming = True
    back = len(out['action'])
    sim.run(15.0, camera, until=lambda: acted(out, back))
    assert acted(out, back), 'acts again when frames return'


def test_sim_time_without_clock_keeps_diagnostics_and_says_time_stands_still(ros_graph, deer):
    logs = ros_graph.collect(Log, '/rosout', 100)
    out = outputs(ros_graph)
    deer({'use_sim_time': True})
    status = wait_for_diagnostic(ros_graph, out, 'control', 'time is not advancing', 8.0)
    assert status.level == b'\x01' and 'no /clock message has arrived' in status.message
    count = len(out['diagnostics'])
    ros_graph.spin_until(lambda: len(out['diagnostics']) >= count + 2, 4.0,
                         'diagnostics at 1 Hz while sim time stands still')
    ros_graph.spin_until(lambda: any('time is not advancing' in m.msg and 'deer_node' in m.name
                                     for m in logs), 5.0, 'the log line')
    assert diagnostics_of(out['diagnostics'], 'deer_node: model')
