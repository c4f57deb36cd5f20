"""run_goal: the ~/run goal state machine, without rclpy (one goal, one end, the right hold)."""
import math

import pytest

from deer_ros.ros_io.action_mapping import HOLD_REASONS
from deer_ros.ros_io.run_goal import CANCELED, DEACTIVATED, FAILED, GOAL_HOLD_REASONS, INVALID, \
    PREEMPTED, STOPPED, SUCCEEDED, TIME_LIMIT, GoalRequest, GoalTracker, goal_status, \
    invalid_end, request_problem


def running(success_signal=False, default_limit_s=0.0, time_limit_s=0.0, now_s=10.0):
    tracker = GoalTracker(success_signal, default_limit_s)
    assert tracker.start('g1', GoalRequest('open the drawer', time_limit_s), now_s) is None
    return tracker


def test_a_goal_counts_its_steps_and_mean_compute_and_reports_them_at_its_end():
    tracker = running()
    tracker.record_step(2.0, 8.0, 1, 4, 30.0, 1.0)
    tracker.record_step(6.0, 8.0, 3, 8, 50.0, 1.1)
    end = tracker.cancel('g1', 12.5)
    assert (end.outcome, end.status, end.steps, end.hold_reason) == \
        (CANCELED, 'canceled', 2, 'goal_canceled')
    assert end.mean_fraction == pytest.approx(0.5) and end.mean_gflops == pytest.approx(4.0)
    assert end.duration_s == pytest.approx(2.5)
    assert not tracker.active and tracker.cancel('g1', 13.0) is None, 'a goal ends once'


def test_feedback_only_after_a_step_or_hold_and_at_most_once_per_call():
    tracker = running()
    assert tracker.feedback(10.1) is None, 'nothing happened yet'
    tracker.record_step(3.0, 6.0, 2, 6, 40.0)
    fb = tracker.feedback(10.2)
    assert (fb.steps, fb.exit_index, fb.layers_executed, fb.fraction, fb.latency_ms,
            fb.hold_reason) == (1, 2, 6, 0.5, 40.0, '')
    assert fb.elapsed_s == pytest.approx(0.2)
    assert tracker.feedback(10.3) is None
    tracker.record_hold('stale_camera')
    assert tracker.feedback(10.4).hold_reason == 'stale_camera'


def test_a_new_goal_preempts_the_running_one_with_a_hold_and_starts_from_zero():
    tracker = running()
    tracker.record_step(1.0, 2.0, 0, 2, 10.0)
    replaced = tracker.start('g2', GoalRequest('close the drawer'), 11.0)
    assert (replaced.goal_id, replaced.outcome, replaced.status, replaced.hold_reason,
            replaced.steps) == ('g1', PREEMPTED, 'aborted', 'goal_preempted', 1)
    assert tracker.goal_id == 'g2' and tracker.feedback(11.0) is None
    assert tracker.cancel('g1', 11.5) is None, 'cancelling the old goal no longer ends g2'


def test_time_limit_is_success_without_a_success_signal_and_failure_with_one():
    for signal, status in ((False, 'succeeded'), (True, 'aborted')):
        tracker = running(signal, time_limit_s=2.0)
        assert tracker.check(11.99, False) is None
        end = tracker.check(12.0, False)
        assert (end.outcome, end.status, end.hold_reason) == \
            (TIME_LIMIT, status, 'goal_time_limit')
        assert ('without the success signal' in end.message) == signal


def test_the_goals_own_time_limit_wins_over_the_default_and_zero_means_none():
    assert running(default_limit_s=5.0, time_limit_s=1.0).check(11.0, False).outcome == TIME_LIMIT
    assert running(default_limit_s=5.0).check(14.9, False) is None
    assert running(default_limit_s=5.0).check(15.0, False).outcome == TIME_LIMIT
    assert running().check(1e9, False) is None


def test_the_hold_input_ends_the_goal_stopped_without_a_goal_hold_of_its_own():
    end = running().check(10.5, stop_engaged=True)
    assert (end.outcome, end.status, end.hold_reason) == (STOPPED, 'aborted', '')


def test_deactivation_ends_the_goal_without_a_goal_hold_of_its_own():
    end = running().deactivate('deactivate', 11.0)
    assert (end.outcome, end.status, end.hold_reason) == (DEACTIVATED, 'aborted', '')
    assert 'deactivate' in end.message


def test_success_ends_the_goal_but_not_a_success_about_an_action_from_before_it():
    tracker = running(success_signal=True)
    assert tracker.succeed(10.2, action_stamp_s=5.0) is None, 'no action of this goal yet'
    tracker.record_step(1.0, 2.0, 0, 2, 10.0, stamp_s=7.0)
    assert tracker.succeed(10.3, action_stamp_s=6.9) is None, 'a previous episode'
    end = tracker.succeed(10.4, action_stamp_s=7.0)
    assert (end.outcome, end.status, end.hold_reason) == (SUCCEEDED, 'succeeded',
                                                          'goal_succeeded')
    bool_signal = running(success_signal=True)
    assert bool_signal.succeed(10.1).outcome == SUCCEEDED, 'std_msgs/Bool carries no stamp'


def test_an_attempt_that_ends_without_success_fails_the_goal_only_if_it_is_this_goals():
    tracker = running(success_signal=True)
    tracker.record_step(1.0, 2.0, 0, 2, 10.0, stamp_s=7.0)
    assert tracker.fail(10.3, 6.5, ': episode 3') is None, "the previous episode's end"
    end = tracker.fail(10.4, 7.2, ': episode 4')
    assert (end.outcome, end.status, end.hold_reason) == (FAILED, 'aborted', 'goal_failed')
    assert end.message == 'the attempt ended without success: episode 4'


def test_nothing_ends_or_counts_without_a_goal():
    tracker = GoalTracker(True)
    tracker.record_step(1.0, 2.0, 0, 2, 10.0)
    tracker.record_hold('stop')
    assert tracker.feedback(1.0) is None and tracker.check(1.0, True) is None
    assert tracker.succeed(1.0) is None and tracker.deactivate('x', 1.0) is None
    assert tracker.fail(1.0) is None


def test_request_problems_name_the_field():
    ok = GoalRequest('open the drawer', 5.0, 0.4)
    assert request_problem(ok, 100, 0.0) == ''
    assert request_problem(GoalRequest('  '), 100, 0.0) == 'empty instruction'
    assert 'instruction.max_chars 5' in request_problem(GoalRequest('too long'), 5, 0.0)
    assert 'time_limit_s' in request_problem(GoalRequest('a', -1.0), 100, 0.0)
    assert 'time_limit_s' in request_problem(GoalRequest('a', math.inf), 100, 0.0)
    assert 'budget_fraction' in request_problem(GoalRequest('a', 0.0, 1.5), 100, 0.0)
    assert 'budget_fraction' in request_problem(GoalRequest('a', 0.0, math.nan), 100, 0.0)
    assert 'budget.avg_gflops' in request_problem(ok, 100, 12.0), 'would be silently ignored'


def test_statuses_and_hold_reasons_are_the_ones_the_node_knows():
    assert set(GOAL_HOLD_REASONS) <= set(HOLD_REASONS)
    assert goal_status(CANCELED, True) == 'canceled'
    assert goal_status(PREEMPTED, False) == 'aborted'
    end = invalid_end('g', 'empty instruction')
    assert (end.outcome, end.status, end.hold_reason, end.steps) == (INVALID, 'aborted', '', 0)
