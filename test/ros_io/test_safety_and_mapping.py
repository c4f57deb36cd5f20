"""safety + action_mapping: NaN never leaves, clamps say why, scales/polarity/twist units."""
import math

import numpy as np
import pytest

from deer_ros.ros_io.action_mapping import (SCALING_FIELDS, GripperLatch, command_to_action,
                                            hold_command, map_action, twist_values)
from deer_ros.ros_io.safety import StaleWatchdog, clamp_abs, clamp_norm, non_finite_reason
from deer_ros.ros_io.settings import from_flat


def settings(**flat):
    return from_flat(flat)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_actions_become_a_hold_with_the_reason(bad):
    action = np.array([0.1, 0.2, bad, 0, 0, 0, 1], np.float32)
    command = map_action(action, settings())
    assert command.hold and command.translation == (0.0, 0.0, 0.0)
    assert 'non-finite' in command.reasons[0] and '[2]' in command.reasons[0]
    assert all(math.isfinite(v) for v in command.as_array())


def test_wrong_shape_is_rejected():
    assert 'shape' in non_finite_reason(np.zeros(6))
    assert map_action(np.zeros(5), settings()).hold


FLIPPED = {'action.translation_scale_m': 0.05, 'action.rotation_scale_rad': 0.2,
           'action.gripper_open_positive': False}


@pytest.mark.parametrize('flat', [{}, FLIPPED])
def test_command_to_action_undoes_map_action(flat):
    """What sim_node, the recorder and the MCAP import apply is the model's action again."""
    s = settings(**{'safety.max_translation_m': 1.0, 'safety.max_rotation_rad': 3.0, **flat})
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = rng.uniform(-1, 1, 7).astype(np.float32)
        action[6] = rng.choice([-1.0, 1.0])
        command = map_action(action, s)
        back = command_to_action(command.translation, command.rotation, command.gripper, s.action)
        np.testing.assert_allclose(back, action, rtol=1e-6, atol=1e-7)


def test_other_nodes_declare_deer_nodes_scaling_defaults_and_ranges():
    from deer_ros.data import ros_recorder
    from deer_ros.ros_io.settings import SPECS
    from deer_ros.sim import sim_node
    assert sim_node.SimNodeConfig().scaling == settings().action
    assert ros_recorder.RecorderConfig().scaling == settings().action
    for specs in (sim_node.PARAM_SPECS, ros_recorder.PARAM_SPECS):
        by_name = {spec.name: spec for spec in specs}
        for name in SCALING_FIELDS:
            mine, deer = by_name[name], SPECS[f'action.{name}']
            assert (mine.default, mine.unit, mine.min, mine.max) == \
                (deer.default, deer.unit, deer.min, deer.max)
            assert not mine.live and f"deer_node's action.{name}" in mine.description


def test_scaling_and_no_clamp_within_limits():
    action = np.array([0.5, -0.5, 0.0, 0.2, 0.0, -0.2, 1.0], np.float32)
    command = map_action(action, settings(**{'action.translation_scale_m': 0.02,
                                             'action.rotation_scale_rad': 0.05}))
    assert not command.clamped and not command.hold
    np.testing.assert_allclose(command.translation, (0.01, -0.01, 0.0), atol=1e-7)
    np.testing.assert_allclose(command.rotation, (0.01, 0.0, -0.01), atol=1e-7)
    assert command.gripper == 1.0


def test_translation_norm_clamp_keeps_direction_and_reports():
    s = settings(**{'action.translation_scale_m': 0.1, 'safety.max_translation_m': 0.05})
    command = map_action(np.array([1, 1, 0, 0, 0, 0, -1], np.float32), s)
    assert command.clamped and 'translation norm' in command.reasons[0]
    assert np.linalg.norm(command.translation) == pytest.approx(0.05)
    assert command.translation[0] == pytest.approx(command.translation[1])


def test_rotation_clamped_per_axis():
    s = settings(**{'action.rotation_scale_rad': 0.5, 'safety.max_rotation_rad': 0.1})
    command = map_action(np.array([0, 0, 0, 1, -0.1, -1, 1], np.float32), s)
    assert command.rotation == pytest.approx((0.1, -0.05, -0.1))
    assert 'rotation' in command.reasons[0]


def test_gripper_polarity_flip():
    action = np.array([0, 0, 0, 0, 0, 0, 1], np.float32)
    assert map_action(action, settings(**{'action.gripper_open_positive': False})).gripper == -1


def test_twist_speed_units_divide_by_the_period_and_unitless_stays_in_range():
    s = settings(control_rate_hz=10.0)
    command = map_action(np.array([0.5, 0, 0, 0, 0, 0.4, 1], np.float32), s)
    linear, angular = twist_values(command, s)
    assert linear[0] == pytest.approx(0.01 * 10) and angular[2] == pytest.approx(0.02 * 10)
    unitless = settings(**{'twist.command_in_type': 'unitless'})
    linear, angular = twist_values(map_action(np.array([0.5, 0, 0, 0, 0, 0.4, 1]), unitless),
                                   unitless)
    assert linear[0] == pytest.approx(0.5) and angular[2] == pytest.approx(0.4)


def test_gripper_latch_sends_only_changes_and_ignores_holds():
    latch = GripperLatch()
    s = settings()
    open_ = map_action(np.array([0, 0, 0, 0, 0, 0, 1.0]), s)
    close = map_action(np.array([0, 0, 0, 0, 0, 0, -1.0]), s)
    assert latch.update(open_) == 1.0
    assert latch.update(open_) is None
    assert latch.update(hold_command('stop', gripper=1.0)) is None
    assert latch.update(close) == -1.0


def test_clamp_helpers_pass_through_within_limits():
    v = np.array([0.01, 0.0, 0.0])
    assert clamp_norm(v, 0.1, 't')[1] is None
    assert clamp_abs(v, 0.1, 'r')[1] is None


def test_stale_watchdog_holds_once_then_silent_until_frames_return():
    dog = StaleWatchdog(0.5)
    assert dog.check(10.0, None) == (True, False)
    assert dog.check(10.0, 9.8) == (False, False)
    assert dog.check(10.6, 10.0) == (True, True)
    assert dog.check(10.7, 10.0) == (True, False)
    assert dog.check(11.0, 10.9) == (False, False)
    assert dog.check(12.0, 10.9) == (True, True)
