"""The ~/run action over the real node: every way a goal ends, and no motion after its hold.

deer_node runs in this process on its own executor (the fast example engine; a slow one,
taking most of a control period per frame, where a cancel or preemption must land during
inference). The client, cameras, the success signal and the command subscriber talk to it over
real rclpy topics, services and the action.
"""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from action_msgs.msg import GoalStatus
from lifecycle_msgs.msg import Transition
from rclpy.action import ActionClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool

from deer_ros.action import RunInstruction
from deer_ros.msg import ActionCommand, EpisodeStatus
from deer_ros.ros_io.instruction_input import INSTRUCTION_VOLATILE_QOS
from ros_io_helpers import CameraPlayer, outputs
from test_node_safety import lifecycle_client, motion_after_hold

pytestmark = pytest.mark.ros
ROOT = pathlib.Path(__file__).resolve().parents[2]
EVERY_COMMAND = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


class RunClient:
    """An action client of /deer_node/run, with the camera streaming while it waits."""

    def __init__(self, graph, camera):
        self.graph, self.camera = graph, camera
        self.node = graph.node(f'run_client_{len(graph.nodes)}')
        self.client = ActionClient(self.node, RunInstruction, '/deer_node/run')
        graph.spin_until(lambda: self.client.server_is_ready(), 10.0, 'the ~/run server')

    def stream_until(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f'timed out after {timeout_s} s: {what}'
            self.camera.publish()
            self.graph.spin_for(0.03)

    def stream_for(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.camera.publish()
            self.graph.spin_for(0.03)

    def send(self, instruction, accepted=True, **fields):
        """Send a goal; returns (handle, feedback list)."""
        feedback = []
        future = self.client.send_goal_async(
            RunInstruction.Goal(instruction=instruction, **fields),
            feedback_callback=lambda msg: feedback.append(msg.feedback))
        self.stream_until(future.done, 10.0, 'the goal response')
        handle = future.result()
        assert accepted is None or handle.accepted == accepted
        return handle, feedback

    def result(self, handle, timeout_s=15.0):
        future = handle.get_result_async()
        self.stream_until(future.done, timeout_s, 'the goal result')
        return future.result()


@pytest.fixture
def run(ros_graph, deer):
    """Start deer_node with params (+ model kwargs); (client, outputs, node)."""
    def start(params=None, models=None, **model_kwargs):
        node = deer({'control_rate_hz': 10.0, **(params or {})}, models, **model_kwargs)
        out = outputs(ros_graph)
        # every command, not the newest only (COMMAND_QOS keeps 1): a goal's hold and the
        # no_instruction hold of the next tick can arrive within one spin of the test
        out['action'] = ros_graph.collect(ActionCommand, 'action', EVERY_COMMAND)
        camera = CameraPlayer(ros_graph)
        ros_graph.wait_for_subscribers(camera.static)   # configured ...
        ros_graph.spin_until(lambda: node.output.active, 10.0, 'active')   # ... and activated
        return RunClient(ros_graph, camera), out, node
    return start


def holds(commands, reason):
    return [i for i, c in enumerate(commands) if c.hold and c.hold_reason == reason]


def assert_still_after(client, out, reason, seconds=0.6):
    """The (last) hold of `reason` came; with the camera still streaming, nothing moves after."""
    client.stream_until(lambda: holds(out['action'], reason), 5.0, f'a {reason} hold')
    client.stream_for(seconds)
    first = holds(out['action'], reason)[-1]
    moved = [c for c in out['action'][first:] if not c.hold]
    assert not moved, f'{len(moved)} motion command(s) after the {reason} hold'


def test_goal_succeeds_on_a_bool_success_signal_and_reports_its_steps(ros_graph, run):
    client, out, node = run({'run.success_topic': '/task_done'})
    done = ros_graph.node('judge').create_publisher(Bool, '/task_done', 10)
    handle, feedback = client.send('open the drawer')
    client.stream_until(lambda: len(feedback) >= 3, 10.0, 'three feedback messages')
    ros_graph.wait_for_subscribers(done)
    done.publish(Bool(data=True))
    response = client.result(handle)
    result = response.result
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert (result.outcome, result.message) == (result.OUTCOME_SUCCEEDED,
                                                'the success signal fired')
    assert result.steps >= 3 and 0.0 < result.mean_fraction <= 1.0 and result.mean_gflops > 0
    last = feedback[-1]
    assert last.steps <= result.steps and 0.0 < last.fraction <= 1.0 and last.latency_ms > 0
    actions = [c for c in out['action'] if not c.hold]
    assert len(feedback) <= len(actions) + len(holds(out['action'], 'stale_camera')) + 1, \
        'at most one feedback per control period'
    assert_still_after(client, out, 'goal_succeeded')
    assert node.instruction == '', 'the goal ended: not acting until a new instruction'


def test_episode_status_success_or_failure_counts_only_for_this_goals_actions(ros_graph, run):
    client, out, _node = run({'run.success_topic': '/episode_status',
                              'run.success_type': 'episode_status'})
    status = ros_graph.node('sim').create_publisher(EpisodeStatus, '/episode_status', 10)
    handle, feedback = client.send('open the drawer')
    client.stream_until(lambda: feedback and [c for c in out['action'] if not c.hold], 10.0,
                        'an action of the goal')
    ros_graph.wait_for_subscribers(status)
    stale = EpisodeStatus(success=True, done=True, step=3)
    stale.action_stamp.sec = 1                     # an action from long before this goal
    status.publish(stale)
    client.stream_until(lambda: len(feedback) >= 4, 10.0, 'the goal running on')
    assert handle.status == GoalStatus.STATUS_EXECUTING, 'a stale success ended the goal'
    current = [c for c in out['action'] if not c.hold][-1]
    status.publish(EpisodeStatus(success=True, done=True, step=5,
                                 action_stamp=current.header.stamp))
    response = client.result(handle)
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.outcome == 'succeeded'
    assert_still_after(client, out, 'goal_succeeded')
    handle, feedback = client.send('open the drawer')     # next attempt: the episode fails
    client.stream_until(lambda: len(feedback) >= 2, 10.0, 'the second goal acting')
    current = [c for c in out['action'] if not c.hold][-1]
    status.publish(EpisodeStatus(success=False, done=True, episode=7, step=200, max_steps=200,
                                 action_stamp=current.header.stamp))
    response = client.result(handle)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert (response.result.outcome, response.result.message) == (
        'failed', 'the attempt ended without success: episode 7 done after 200 of 200 steps')
    assert_still_after(client, out, 'goal_failed')


def test_time_limit_ends_the_goal_with_its_budget_fraction_restored(ros_graph, run):
    client, out, node = run({'budget.avg_fraction': 0.0})
    start = time.monotonic()
    handle, feedback = client.send('open the drawer', time_limit_s=1.0, budget_fraction=0.5)
    client.stream_until(lambda: feedback, 10.0, 'feedback')
    assert node.settings.budget.avg_fraction == 0.5, "the goal's budget applies while it runs"
    response = client.result(handle)
    elapsed = time.monotonic() - start
    result = response.result
    assert response.status == GoalStatus.STATUS_SUCCEEDED, 'no success topic: the limit is it'
    assert result.outcome == 'time_limit' and result.steps > 0
    assert 1.0 <= result.duration_s < 1.0 + 0.1 * 3, 'ends within a period of the limit'
    assert elapsed >= 1.0
    assert node.settings.budget.avg_fraction == 0.0, "the node's own value is back"
    assert_still_after(client, out, 'goal_time_limit')


def test_cancel_publishes_a_hold_within_one_control_period_even_mid_inference(ros_graph, run):
    """Measured from the client's cancel request to the hold's arrival at a subscriber.

    Each frame takes 150 ms, longer than the 100 ms control period, and the cancel is sent while
    one runs: a hold that waited for the tick (or the inference) would take longer than a period.
    """
    models = []
    client, out, _node = run(models=models, step_delay_s=0.15)
    delays = []
    for attempt in range(3):
        handle, feedback = client.send(f'open the drawer {attempt}')
        client.stream_until(lambda: len(feedback) >= 2 and models[0].stepping.is_set(), 10.0,
                            'the goal acting, an inference running')
        before = len(out['action'])
        sent = time.monotonic()
        cancel = handle.cancel_goal_async()
        ros_graph.spin_until(lambda: holds(out['action'][before:], 'goal_canceled'), 5.0,
                             'the cancel hold')
        delays.append(time.monotonic() - sent)
        client.stream_until(cancel.done, 5.0, 'the cancel response')
        assert len(cancel.result().goals_canceling) == 1
        response = client.result(handle)
        assert response.status == GoalStatus.STATUS_CANCELED
        assert response.result.outcome == 'canceled'
        motion = motion_after_hold(out['action'][before:])
        assert not motion, f'motion after the cancel hold (attempt {attempt})'
    print(f'cancel -> hold received: {", ".join(f"{1000 * d:.1f}" for d in delays)} ms')
    assert max(delays) < 0.1, f'cancel holds took {delays} s (> one 100 ms control period)'
    assert_still_after(client, out, 'goal_canceled')


def test_a_new_goal_preempts_the_running_one_with_a_hold_between(ros_graph, run):
    client, out, node = run(step_delay_s=0.08)
    first, first_feedback = client.send('open the drawer')
    client.stream_until(lambda: len(first_feedback) >= 2, 10.0, 'the first goal acting')
    second, second_feedback = client.send('close the drawer')
    response = client.result(first)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.outcome == 'preempted' and response.result.steps >= 2
    client.stream_until(lambda: any(f.steps >= 2 for f in second_feedback), 10.0,
                        'the second goal acting')
    assert node.instruction == 'close the drawer'
    preempted = holds(out['action'], 'goal_preempted')
    assert len(preempted) == 1
    before, after = out['action'][:preempted[0]], out['action'][preempted[0]:]
    assert any(not c.hold for c in before) and any(not c.hold for c in after)
    second.cancel_goal_async()
    assert client.result(second).status == GoalStatus.STATUS_CANCELED


def test_the_hold_input_during_a_goal_ends_it_stopped_and_refuses_new_goals(ros_graph, run):
    client, out, _node = run()
    stop = ros_graph.node('stop_client').create_client(SetBool, '/deer_node/hold')
    handle, feedback = client.send('open the drawer')
    client.stream_until(lambda: len(feedback) >= 2, 10.0, 'the goal acting')
    ros_graph.call(stop, SetBool.Request(data=True), 5.0, 'hold engaged')
    response = client.result(handle)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.outcome == 'stopped'
    assert_still_after(client, out, 'stop')
    client.send('open the drawer', accepted=False)
    ros_graph.call(stop, SetBool.Request(data=False), 5.0, 'hold released')
    count = len(out['action'])
    client.stream_for(0.6)
    assert not [c for c in out['action'][count:] if not c.hold], \
        'released: still no motion until a new goal or instruction'


def test_deactivate_during_a_goal_ends_it_and_refuses_goals_while_inactive(ros_graph, run):
    client, out, _node = run()
    transition = lifecycle_client(ros_graph)
    handle, feedback = client.send('open the drawer')
    client.stream_until(lambda: len(feedback) >= 2, 10.0, 'the goal acting')
    assert transition(Transition.TRANSITION_DEACTIVATE)
    response = client.result(handle)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.outcome == 'deactivated'
    assert_still_after(client, out, 'deactivate')
    client.send('open the drawer', accepted=False)


def test_invalid_goals_are_aborted_with_the_reason_and_leave_the_running_goal(ros_graph, run):
    client, _out, node = run({'budget.avg_gflops': 5.0})
    running, feedback = client.send('open the drawer')
    client.stream_until(lambda: feedback, 10.0, 'the goal acting')
    for goal, words in ((dict(instruction='  '), 'empty instruction'),
                        (dict(instruction='a', budget_fraction=1.5), 'budget_fraction'),
                        (dict(instruction='a', budget_fraction=0.5), 'budget.avg_gflops')):
        bad, _ = client.send(**goal)
        response = client.result(bad)
        assert response.status == GoalStatus.STATUS_ABORTED
        assert response.result.outcome == 'invalid' and words in response.result.message
    assert running.status == GoalStatus.STATUS_EXECUTING and node.instruction == 'open the drawer'
    running.cancel_goal_async()
    assert client.result(running).status == GoalStatus.STATUS_CANCELED


def test_the_instruction_topic_is_ignored_during_a_goal_and_works_without_one(ros_graph, run):
    client, out, node = run()
    topic = ros_graph.node('operator').create_publisher(String, 'instruction',
                                                        INSTRUCTION_VOLATILE_QOS)
    ros_graph.wait_for_subscribers(topic)
    handle, feedback = client.send('open the drawer')
    client.stream_until(lambda: feedback, 10.0, 'the goal acting')
    topic.publish(String(data='push the button'))
    client.stream_until(lambda: node.instructions_received >= 1 and len(feedback) >= 4, 10.0,
                        'the topic instruction received and the goal acting on')
    assert node.instruction == 'open the drawer', 'the goal owns the instruction'
    handle.cancel_goal_async()
    assert client.result(handle).status == GoalStatus.STATUS_CANCELED
    count = len(out['action'])
    topic.publish(String(data='push the button'))
    client.stream_until(lambda: [c for c in out['action'][count:] if not c.hold], 10.0,
                        'acting on the topic instruction again')
    assert node.instruction == 'push the button'


def test_the_example_client_runs_a_goal_to_its_time_limit(ros_graph, run):
    """`deer-ros run` (deer_ros/cli/run.py) against the node, as a user runs it."""
    client, _out, _node = run()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'deer_ros.cli', 'run', 'open the drawer', '--time-limit', '0.5'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client.stream_until(lambda: proc.poll() is not None, 60.0, 'deer-ros run to exit')
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    assert "goal accepted by /deer_node/run: 'open the drawer'" in output
    assert 'SUCCEEDED: time_limit (time limit of 0.5 s reached)' in output


def test_sigint_during_a_goal_holds_ends_the_goal_and_exits_cleanly(ros_graph):
    """The real main() (example engine, 80 ms frames): final hold, then the goal's result."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / 'test' / 'ros_io' / 'example_node.py'), '0.08',
         '--ros-args', '-p', 'autostart:=true', '-p', 'control_rate_hz:=10.0'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        actions = ros_graph.collect(ActionCommand, 'action', EVERY_COMMAND)
        camera = CameraPlayer(ros_graph)
        client = RunClient(ros_graph, camera)
        deadline = time.monotonic() + 60.0
        handle, feedback = client.send('open the drawer', accepted=None)
        while not handle.accepted:          # rejected until autostart has activated the node
            assert time.monotonic() < deadline and proc.poll() is None, 'never accepted'
            client.stream_for(0.2)
            handle, feedback = client.send('open the drawer', accepted=None)
        client.stream_until(lambda: len(feedback) >= 2, 30.0, 'the goal acting')
        result = handle.get_result_async()
        proc.send_signal(signal.SIGINT)
        client.stream_until(lambda: proc.poll() is not None, 30.0, 'the node to exit')
        ros_graph.spin_for(0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    shutdown = holds(actions, 'shutdown')
    assert shutdown and not [c for c in actions[shutdown[0]:] if not c.hold], output
    assert '~/run goal ended: deactivated' in output
    assert result.done(), 'the result left before the executor stopped'
    assert result.result().status == GoalStatus.STATUS_ABORTED
    assert result.result().result.outcome == 'deactivated'
