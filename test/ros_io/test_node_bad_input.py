"""deer_node under bad input: a diagnostic each, no bad command, and the node keeps running."""
import math
import time

import pytest
from std_msgs.msg import String

from ros_io_helpers import (CameraPlayer, image_msg, operator, outputs, rgb, stream,
                            wait_for_diagnostic)

pytestmark = pytest.mark.ros


def finite(action):
    return all(math.isfinite(v) for v in (action.translation.x, action.translation.y,
                                          action.translation.z, action.rotation.x,
                                          action.rotation.y, action.rotation.z, action.gripper))


def acts_again(graph, camera, out, timeout_s=10.0):
    count = len(out['action'])
    stream(graph, camera, timeout_s, until=lambda: len(out['action']) >= count + 2)
    assert len(out['action']) >= count + 2, 'the node stopped acting'


@pytest.mark.parametrize('case,make,expected', [
    ('wrong encoding', lambda: _with(image_msg(rgb(1), time.time()), encoding='yuv422'),
     'unsupported image encoding'),
    ('step too small', lambda: _with(image_msg(rgb(1), time.time()), step=10), 'step 10'),
    ('truncated', lambda: _truncated(image_msg(rgb(1), time.time(), padding=2)), 'truncated'),
    ('wrong size', lambda: _with(image_msg(rgb(1), time.time()), height=64), 'truncated'),
    ('extra row', lambda: _longer(image_msg(rgb(1), time.time()), 16 * 3), 'longer than'),
    ('rgba8 as rgb8', lambda: _longer(image_msg(rgb(1), time.time()), 16 * 16), 'longer than'),
])
def test_bad_frames_are_rejected_with_a_diagnostic(ros_graph, deer, case, make, expected):
    deer()
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(camera.static)
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    count = len(out['action'])
    for _ in range(5):
        camera.publish(msg=make())
        ros_graph.spin_for(0.05)
    status = wait_for_diagnostic(ros_graph, out, 'inputs', expected)
    assert status.level == b'\x01', case
    later = out['action'][count + 1:]               # after the tick already under way:
    assert all(a.hold for a in later)               # nothing but a stale-camera hold
    assert all(finite(a) for a in out['action'])
    acts_again(ros_graph, camera, out)


def _with(msg, **fields):
    for k, v in fields.items():
        setattr(msg, k, v)
    return msg


def _longer(msg, extra):
    msg.data = bytes(msg.data) + bytes(extra)   # the header still says 16x16 rgb8, step 48
    return msg


def _truncated(msg):
    msg.data = bytes(msg.data)[:-5]
    return msg


def test_empty_instruction_stops_with_a_hold_and_a_diagnostic(ros_graph, deer):
    deer()
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    pub = operator(ros_graph, 'open the drawer')
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    pub.publish(String(data=''))
    stream(ros_graph, camera, 5.0, until=lambda: out['action'][-1].hold)
    assert out['action'][-1].hold
    count = len(out['action'])
    stream(ros_graph, camera, 0.6)
    assert len(out['action']) == count, 'no actions without an instruction'
    wait_for_diagnostic(ros_graph, out, 'inputs', 'instruction')
    pub.publish(String(data='close the drawer'))
    acts_again(ros_graph, camera, out)


def test_no_instruction_and_no_frames_are_diagnosed(ros_graph, deer):
    deer({'safety.stale_image_s': 0.2})
    out = outputs(ros_graph)
    wait_for_diagnostic(ros_graph, out, 'inputs', 'no instruction')
    operator(ros_graph, 'open the drawer')
    status = wait_for_diagnostic(ros_graph, out, 'inputs', 'no frames from the static camera')
    assert status.level == b'\x02'
    assert out['action'] == []


def test_burst_at_ten_times_the_control_rate_is_dropped_and_counted(ros_graph, deer):
    node = deer({'control_rate_hz': 10.0})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(camera.static)
    start = time.monotonic()
    stream(ros_graph, camera, 3.0, rate_hz=100.0)
    elapsed = time.monotonic() - start
    ros_graph.spin_for(0.3)
    assert len(out['action']) <= 10 * elapsed + 2, 'never faster than the control rate'
    assert len(out['action']) >= 5
    assert out['telemetry'][-1].dropped_frames >= camera.count // 2
    assert node.core.sync.dropped >= camera.count // 2
    assert len(node.core.sync._static) <= node.settings.sync.queue_size


def test_stale_camera_publishes_one_hold_then_nothing(ros_graph, deer):
    deer({'safety.stale_image_s': 0.3})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 3)
    ros_graph.spin_until(lambda: out['action'][-1].hold, 3.0, 'a hold on a stale camera')
    count = len(out['action'])
    ros_graph.spin_for(1.0)
    assert len(out['action']) == count, 'one hold, then nothing'
    wait_for_diagnostic(ros_graph, out, 'inputs', 'camera stale')
    acts_again(ros_graph, camera, out)


def test_nan_from_the_model_never_leaves_the_node(ros_graph, deer):
    models = []
    deer(models=models)
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    models[0].poison = True
    count = len(out['action'])
    stream(ros_graph, camera, 5.0, until=lambda: len(out['action']) >= count + 3)
    poisoned = out['action'][count:]
    assert poisoned and all(a.hold and finite(a) for a in poisoned[1:])
    assert all(finite(a) for a in out['action'])
    assert all(math.isfinite(t.twist.linear.x) for t in out['twist'])
    wait_for_diagnostic(ros_graph, out, 'control', 'non-finite')
    models[0].poison = False
    stream(ros_graph, camera, 5.0, until=lambda: not out['action'][-1].hold)
    assert not out['action'][-1].hold
