"""Stamps echoed bit for bit, ROS time for unstamped frames, diagnostics that tell the truth."""
import time

import pytest

from ros_io_helpers import diagnostics_of, image_msg, rgb, scene, stream, wait_for_diagnostic

pytestmark = pytest.mark.ros


def test_action_stamp_is_the_observation_stamp_bit_for_bit(ros_graph, deer):
    out, camera = scene(ros_graph, deer, {'safety.stale_image_s': 10.0})
    sent = set()
    deadline = time.monotonic() + 10.0
    while len([a for a in out['action'] if not a.hold]) < 5 and time.monotonic() < deadline:
        msg = image_msg(rgb(len(sent)), 0.0)
        # nanoseconds a float of seconds cannot hold: 1.7e9 s has a 2**-22 s (238 ns) ulp
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000 + len(sent), 123_456_789
        sent.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
        camera.publish(msg=msg)
        ros_graph.spin_for(0.05)
    actions = [a for a in out['action'] if not a.hold]
    assert len(actions) >= 5
    for action in actions:
        assert (action.header.stamp.sec, action.header.stamp.nanosec) in sent
    stamps = {(t.header.stamp.sec, t.header.stamp.nanosec) for t in out['telemetry']}
    assert stamps <= sent


def test_zero_stamp_gets_ros_time_not_uptime(ros_graph, deer):
    out, camera = scene(ros_graph, deer, {'safety.stale_image_s': 10.0})
    deadline = time.monotonic() + 10.0
    count = 0
    while not any(not a.hold for a in out['action']) and time.monotonic() < deadline:
        count += 1
        camera.publish(msg=image_msg(rgb(count), 0.0))     # header.stamp 0: no camera stamp
        ros_graph.spin_for(0.05)
    action = next(a for a in out['action'] if not a.hold)
    stamp = action.header.stamp.sec + 1e-9 * action.header.stamp.nanosec
    assert abs(stamp - time.time()) < 5.0, f'stamp {stamp} is not ROS (system) time'


def test_frozen_camera_stamp_holds_and_warns(ros_graph, deer):
    out, camera = scene(ros_graph, deer, {'safety.stale_image_s': 0.5})
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 3)
    start = len(out['action'])
    frozen = time.time()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:                   # same stamp, over and over
        camera.publish(msg=image_msg(rgb(7), frozen))
        ros_graph.spin_for(0.05)
    holds = [a for a in out['action'][start:] if a.hold]
    assert [a.hold_reason for a in holds] == ['frozen_camera'], \
        [(a.hold, a.hold_reason) for a in out['action'][start:]]
    status = wait_for_diagnostic(ros_graph, out, 'inputs', 'static camera frozen')
    assert status.level == b'\x01'
    status = wait_for_diagnostic(ros_graph, out, 'control', 'holding (frozen_camera)')
    assert status.level == b'\x01'


def test_a_missing_camera_of_the_pair_is_named(ros_graph, deer):
    out, camera = scene(ros_graph, deer, {'use_gripper_camera': True})   # static only
    stream(ros_graph, camera, 1.0)
    status = wait_for_diagnostic(ros_graph, out, 'inputs', 'no frames from the gripper camera')
    assert 'static' not in status.message.split('no frames from the ')[1].split(';')[0]


def test_control_warns_with_numbers_when_the_rate_is_not_held(ros_graph, deer):
    out, camera = scene(ros_graph, deer, {'control_rate_hz': 10.0, 'safety.stale_image_s': 10.0},
                        step_delay_s=0.25)
    stream(ros_graph, camera, 12.0, until=lambda: any(
        'control rate not held' in s.message
        for s in diagnostics_of(out['diagnostics'], 'deer_node: control')))
    status = wait_for_diagnostic(ros_graph, out, 'control', 'control rate not held', 0.1)
    assert status.level == b'\x01' and 'Hz of control_rate_hz 10' in status.message
    assert 'latency p50' in status.message
