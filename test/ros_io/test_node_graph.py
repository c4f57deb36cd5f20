"""deer_node over real rclpy topics (in-process node on its own MultiThreadedExecutor).

The camera and the operator are other nodes of the graph. The engine is the real
InferenceEngine over the deterministic numpy ExampleModel, so these tests exercise the wiring and
the policies fast; test_node_process.py runs the real executable with the tiny preset.
"""
import math
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from std_srvs.srv import Trigger

from deer_ros.ros_io.deer_node import DeerNode
from ros_io_helpers import (CameraPlayer, NodeRunner, diagnostics_of, operator, outputs,
                            overrides, set_params, stream)

pytestmark = pytest.mark.ros


def test_images_and_instruction_in_actions_out_at_the_control_rate(ros_graph, deer):
    node = deer({'control_rate_hz': 10.0})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(camera.static, 1)
    stream(ros_graph, camera, 15.0, rate_hz=30.0, until=lambda: len(out['action']) >= 12)
    actions, telemetry = out['action'], out['telemetry']
    assert len(actions) >= 12, f'{len(actions)} actions'
    assert len(telemetry) >= len(actions) - 1
    first = actions[0]
    assert first.header.frame_id == 'world' and not first.hold
    assert first.layers_executed > 0 and first.latency_ms > 0
    for a in actions:
        values = [a.translation.x, a.translation.y, a.translation.z, a.rotation.x,
                  a.rotation.y, a.rotation.z, a.gripper]
        assert all(math.isfinite(v) for v in values)
        assert math.hypot(a.translation.x, a.translation.y, a.translation.z) <= 0.03 + 1e-9
    stamps = [a.header.stamp.sec + 1e-9 * a.header.stamp.nanosec for a in actions]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 6.0 <= rate <= 12.0, f'action rate {rate:.1f} Hz at 10 Hz control, 30 Hz camera'
    t = telemetry[-1]
    assert t.num_exits == 6 and t.total_layers == 12 and t.policy == 'deer'
    assert t.stop_reason in ('threshold', 'deepest_allowed') and t.dropped_frames > 0
    twist = out['twist'][-1]
    assert twist.header.frame_id == 'world'
    assert abs(time.time() - (twist.header.stamp.sec + 1e-9 * twist.header.stamp.nanosec)) < 2
    assert 1 <= len(out['gripper']) < len(actions)          # on change only
    ros_graph.spin_until(lambda: diagnostics_of(out['diagnostics'], 'deer_node: control'), 5.0,
                         'diagnostics')
    control = diagnostics_of(out['diagnostics'], 'deer_node: control')[-1]
    keys = {kv.key for kv in control.values}
    assert {'latency_p50_ms', 'latency_p95_ms', 'latency_max_ms'} <= keys
    assert node.core.counts['actions'] >= 12


def test_lifecycle_transitions(ros_graph, deer):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    node = deer({'autostart': False})
    out = outputs(ros_graph)
    client_node = ros_graph.node('lifecycle_client')
    change = client_node.create_client(ChangeState, '/deer_node/change_state')
    get = client_node.create_client(GetState, '/deer_node/get_state')

    def transition(tid):
        ros_graph.spin_until(change.service_is_ready, 10.0, 'change_state')
        future = change.call_async(ChangeState.Request(transition=Transition(id=tid)))
        ros_graph.spin_until(future.done, 20.0, f'transition {tid}')
        return future.result().success

    def state():        # a query: re-sent if a reply is lost right after discovery
        reply = ros_graph.call(get, GetState.Request(), 10.0, 'get_state', resend_s=2.0)
        return reply.current_state.label

    ros_graph.spin_until(get.service_is_ready, 10.0, 'get_state')
    assert state() == 'unconfigured' and node.core is None
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'push the button')
    stream(ros_graph, camera, 0.5)
    assert out['action'] == []
    assert transition(Transition.TRANSITION_CONFIGURE) and state() == 'inactive'
    stream(ros_graph, camera, 0.5)
    assert out['action'] == [], 'inactive must not act'
    assert transition(Transition.TRANSITION_ACTIVATE) and state() == 'active'
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 3)
    assert len(out['action']) >= 3
    assert transition(Transition.TRANSITION_DEACTIVATE) and state() == 'inactive'
    ros_graph.spin_until(lambda: out['action'][-1].hold, 5.0, 'a hold after deactivate')
    count = len(out['action'])
    stream(ros_graph, camera, 0.5)
    assert len(out['action']) == count
    assert transition(Transition.TRANSITION_CLEANUP) and state() == 'unconfigured'
    assert node.core is None and node.loaded is None
    assert transition(Transition.TRANSITION_CONFIGURE) and state() == 'inactive'


def test_configure_fails_on_a_missing_checkpoint_and_stays_unconfigured(ros_graph):
    from deer_ros.ros_io.model_loader import load
    node = DeerNode(context=ros_graph.context, loader=load, parameter_overrides=overrides(
        {'model.checkpoint': '/nonexistent/deer_ckpt'}))
    runner = NodeRunner(node)
    try:
        diagnostics = ros_graph.collect(DiagnosticArray, '/diagnostics', 10)
        from rclpy.lifecycle import TransitionCallbackReturn
        assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
        assert node._state_machine.current_state[1] == 'unconfigured'
        assert 'does not exist' in node.model_error and '/nonexistent/deer_ckpt' in \
            node.model_error
        ros_graph.spin_until(lambda: any(s.level == DiagnosticStatus.ERROR for s in
                                         diagnostics_of(diagnostics, 'deer_node: model')),
                             5.0, 'an ERROR diagnostic')
        status = [s for s in diagnostics_of(diagnostics, 'deer_node: model')
                  if s.level == DiagnosticStatus.ERROR][-1]
        assert 'configure failed' in status.message and 'does not exist' in status.message
    finally:
        runner.close()


def test_live_budget_change_lowers_layers_and_bad_values_are_rejected(ros_graph, deer):
    # thresholds the bounded controller (scale <= 1000) can bring to the budget
    node = deer({'exit.policy': 'deer', 'exit.thresholds': [1e-3] * 5,
                 'control_rate_hz': 40.0})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'stack the blocks')
    stream(ros_graph, camera, 15.0, rate_hz=60.0, until=lambda: len(out['telemetry']) >= 30)
    before = [t.layers_executed for t in out['telemetry'][-20:]]
    assert min(before) >= 10, before            # tiny thresholds: (nearly) the full model
    results = set_params(ros_graph, {'budget.avg_gflops': 4.0})
    assert results[0].successful, results[0].reason
    start = len(out['telemetry'])
    stream(ros_graph, camera, 20.0, rate_hz=60.0,
           until=lambda: len(out['telemetry']) >= start + 80)
    after = [t.layers_executed for t in out['telemetry'][-30:]]
    assert sum(after) / len(after) < sum(before) / len(before) - 3, (before, after)
    assert out['telemetry'][-1].budget_avg_gflops == 4.0
    assert not out['telemetry'][-1].controller_saturated
    bad = set_params(ros_graph, {'control_rate_hz': 5000.0})
    assert not bad[0].successful and bad[0].reason
    wrong = set_params(ros_graph, {'exit.policy': 'sometimes'})
    assert not wrong[0].successful and 'deer, fixed, full' in wrong[0].reason
    few = set_params(ros_graph, {'exit.thresholds': [0.1]})
    assert not few[0].successful and 'needs 5' in few[0].reason
    readonly = set_params(ros_graph, {'model.preset': 'small'})
    assert not readonly[0].successful
    assert node.settings.control_rate_hz == 40.0 and node.settings.exit.policy == 'deer'
    count = len(out['action'])
    stream(ros_graph, camera, 5.0, until=lambda: len(out['action']) > count + 2)
    assert len(out['action']) > count + 2, 'node keeps acting after rejected changes'


def test_reset_service_clears_history(ros_graph, deer):
    node = deer()
    client = ros_graph.node('reset_client').create_client(Trigger, '/deer_node/reset')
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    out = outputs(ros_graph)
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    resets = node.core.counts['resets']
    ros_graph.spin_until(client.service_is_ready, 10.0, 'reset service')
    future = client.call_async(Trigger.Request())
    ros_graph.spin_until(future.done, 10.0, 'reset response')
    assert future.result().success
    stream(ros_graph, camera, 10.0, until=lambda: node.core.counts['resets'] > resets)
    assert node.core.counts['resets'] == resets + 1
