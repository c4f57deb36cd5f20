"""node_time: the node's clock (sim time when active, else steady) and the stalled-clock watch."""
from types import SimpleNamespace

from deer_ros.ros_io.node_time import ClockWatch, NodeTime
from deer_ros.ros_io.safety import StaleWatchdog


def ros_clock(sim: bool, seconds: float):
    now = SimpleNamespace(nanoseconds=int(seconds * 1e9))
    return SimpleNamespace(ros_time_is_active=sim, now=lambda: now)


def test_node_time_is_sim_time_when_active_else_steady():
    assert NodeTime(ros_clock(True, 12.5), steady=lambda: 99.0)() == 12.5
    assert NodeTime(ros_clock(False, 12.5), steady=lambda: 99.0)() == 99.0
    assert NodeTime(ros_clock(True, 0.0)).sim


def test_clock_watch_reports_a_standing_sim_clock_once_and_its_recovery():
    watch = ClockWatch(stalled_after_s=2.0)
    assert watch.check(True, 0.0, 10.0) == ('', False)
    assert watch.check(True, 0.0, 11.0) == ('', False)
    message, changed = watch.check(True, 0.0, 12.0)
    assert 'no /clock message has arrived for 2 s' in message and changed
    message, changed = watch.check(True, 0.0, 13.0)
    assert message and not changed                       # logged once per stall
    assert watch.check(True, 0.1, 14.0) == ('', True)    # moves again
    watch.check(True, 5.0, 20.0)
    assert '/clock has stood at 5.000 s' in watch.check(True, 5.0, 23.0)[0]
    assert watch.check(False, 5.0, 30.0) == ('', True)   # steady clock: never stalled


def test_watchdog_treats_a_clock_that_went_back_as_stale():
    watchdog = StaleWatchdog(0.5)
    assert watchdog.check(10.0, 9.8) == (False, False)
    assert watchdog.check(10.0, 10.3) == (False, False)  # a frame received mid-tick
    assert watchdog.check(3.0, 9.8) == (True, True)      # simulation reset: /clock went back
