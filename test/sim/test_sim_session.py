"""sim_node's pure parts: episode schedule, stamp gating, ActionCommand un-scaling."""
import pytest

from deer_ros.sim.session import EpisodeSchedule, StampGate


def test_schedule_runs_tasks_in_order_with_consecutive_seeds_then_starts_over():
    schedule = EpisodeSchedule(['a', 'b'], episodes_per_task=2, base_seed=10)
    plans = [schedule.next() for _ in range(4)]
    assert [(p.task, p.seed, p.index) for p in plans] == [
        ('a', 10, 0), ('a', 11, 1), ('b', 10, 2), ('b', 11, 3)]
    assert schedule.exhausted
    again = schedule.next()
    assert (again.task, again.seed, again.index) == ('a', 10, 4)


def test_schedule_rejects_empty_plans():
    with pytest.raises(ValueError):
        EpisodeSchedule([], 1, 0)


def test_stamp_gate_accepts_only_actions_from_the_current_state():
    gate = StampGate(tolerance_ns=1000)
    assert not gate.accepts(5)[0]
    gate.published(1_000_000)
    gate.published(2_000_000)                 # the same state republished while idle
    assert gate.accepts(1_000_500)[0] and gate.accepts(2_000_000)[0]
    gate.new_state()
    gate.published(3_000_000)
    accepted, reason = gate.accepts(2_000_000)
    assert not accepted and 'stale' in reason


def test_stamp_gate_can_be_disabled_for_teleoperation():
    assert StampGate(require_match=False).accepts(0)[0]
