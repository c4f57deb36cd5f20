"""No motion command after a hold, raced on purpose; the latched stop input.

The engine sleeps 30 ms per frame (as a GPU-bound inference would) at 20 Hz control, so a
lifecycle transition or a stop request lands during inference most of the time. Every check is
on what a controller receives over the real topics.
"""
import sys
import time

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from deer_ros.ros_io.deer_node import COMMAND_QOS
from ros_io_helpers import CameraPlayer, diagnostics_of, operator, outputs, stream

pytestmark = pytest.mark.ros
SLOW_STEP_S = 0.03


def lifecycle_client(graph):
    node = graph.node(f'lifecycle_client_{len(graph.nodes)}')
    change = node.create_client(ChangeState, '/deer_node/change_state')
    graph.spin_until(change.service_is_ready, 10.0, 'change_state service')

    def transition(transition_id):
        future = change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        graph.spin_until(future.done, 20.0, f'transition {transition_id}')
        return future.result().success
    return transition


def motion_after_hold(commands):
    """The motion commands received after the first hold of `commands` (should be none)."""
    first = next((i for i, c in enumerate(commands) if c.hold), None)
    return [] if first is None else [c for c in commands[first:] if not c.hold]


def moving_twists_after_hold(twists):
    def zero(t):
        return not any((t.twist.linear.x, t.twist.linear.y, t.twist.linear.z,
                        t.twist.angular.x, t.twist.angular.y, t.twist.angular.z))
    first = next((i for i, t in enumerate(twists) if zero(t)), None)
    return [] if first is None else [t for t in twists[first:] if not zero(t)]


@pytest.fixture
def frequent_thread_switches():
    """Switch Python threads every 10 us (default 5 ms): races show up in tens of cycles."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


def deactivate_activate_cycles(graph, deer, cycles):
    """Act, deactivate during inference, check the topics, activate again; `cycles` times."""
    models = []
    deer({'control_rate_hz': 20.0, 'safety.stale_image_s': 10.0}, models,
         step_delay_s=SLOW_STEP_S)
    out = outputs(graph)
    camera = CameraPlayer(graph)
    operator(graph, 'open the drawer')
    graph.wait_for_subscribers(camera.static)
    transition = lifecycle_client(graph)
    bad = []
    for cycle in range(cycles):
        start_a, start_t = len(out['action']), len(out['twist'])
        stream(graph, camera, 10.0, rate_hz=50.0,
               until=lambda: sum(not a.hold for a in out['action'][start_a:]) >= 2)
        camera.publish()
        assert models[0].stepping.wait(2.0), 'no inference under way'
        time.sleep((cycle % 4) * 0.005)              # land during inference, phase varied
        assert transition(Transition.TRANSITION_DEACTIVATE)
        graph.spin_for(0.1)                         # anything still under way arrives now
        actions, twists = out['action'][start_a:], out['twist'][start_t:]
        assert actions and any(not a.hold for a in actions), f'cycle {cycle}: no motion'
        if motion_after_hold(actions) or moving_twists_after_hold(twists) \
                or not actions[-1].hold:
            bad.append((cycle, [a.hold_reason or 'move' for a in actions]))
        assert actions[-1].hold_reason in ('deactivate', '') or cycle in bad
        assert transition(Transition.TRANSITION_ACTIVATE)
    assert not bad, f'motion published after the deactivate hold in cycles {bad} of {cycles}'


def test_no_motion_after_the_deactivate_hold_raced_40_times(
        ros_graph, deer, frequent_thread_switches):
    deactivate_activate_cycles(ros_graph, deer, 40)


@pytest.mark.slow
def test_no_motion_after_the_deactivate_hold_raced_200_times(
        ros_graph, deer, frequent_thread_switches):
    deactivate_activate_cycles(ros_graph, deer, 200)


def test_stop_input_holds_within_a_period_latches_and_is_diagnosed(ros_graph, deer):
    deer({'control_rate_hz': 10.0, 'safety.stale_image_s': 10.0, 'publish.array': True},
         step_delay_s=SLOW_STEP_S)
    out = outputs(ros_graph)
    arrays = ros_graph.collect(Float64MultiArray, 'action/array', COMMAND_QOS)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(camera.static)
    client = ros_graph.node('stop_client').create_client(SetBool, '/deer_node/hold')
    ros_graph.spin_until(client.service_is_ready, 10.0, 'the ~/hold service')
    stream(ros_graph, camera, 10.0, rate_hz=30.0,
           until=lambda: sum(not a.hold for a in out['action']) >= 3)
    gripper = [a for a in out['action'] if not a.hold][-1].gripper
    start = len(out['action'])
    asked = time.monotonic()
    reply = ros_graph.call(client, SetBool.Request(data=True), 5.0, 'hold engaged')
    assert reply.success
    ros_graph.spin_until(lambda: any(a.hold for a in out['action'][start:]), 1.0, 'the hold')
    took = time.monotonic() - asked
    assert took < 0.1, f'stop took {took * 1e3:.0f} ms (control period 100 ms)'
    # latched: holds keep coming, never motion, while the camera streams; survives a cycle
    stream(ros_graph, camera, 1.5, rate_hz=30.0)
    transition = lifecycle_client(ros_graph)
    assert transition(Transition.TRANSITION_DEACTIVATE)
    assert transition(Transition.TRANSITION_ACTIVATE)
    stream(ros_graph, camera, 1.0, rate_hz=30.0)
    held = out['action'][start:]
    assert held and all(a.hold for a in held)
    assert len([a for a in held if a.hold_reason == 'stop']) >= 10   # about one per period
    assert all(a.gripper == gripper for a in held), 'a hold must keep the gripper command'
    assert arrays[-1].data[-1] == gripper and not any(arrays[-1].data[:6])
    ros_graph.spin_until(lambda: any('hold engaged' in s.message and s.level == b'\x01'
                                     for s in diagnostics_of(out['diagnostics'],
                                                             'deer_node: control')),
                         3.0, 'a control WARN saying the hold is engaged')
    ros_graph.call(client, SetBool.Request(data=False), 5.0, 'hold released')
    count = len(out['action'])
    stream(ros_graph, camera, 10.0, rate_hz=30.0,
           until=lambda: any(not a.hold for a in out['action'][count:]))
    assert any(not a.hold for a in out['action'][count:]), 'no motion after the release'
