"""Action conversion between the model's 7-D convention and MetaWorld's 4-D action."""
import numpy as np
import pytest

from deer_ros.sim.actions import from_metaworld, hold_action, to_metaworld


def test_gripper_open_maps_to_negative_metaworld_effort():
    open_cmd = to_metaworld(np.array([0, 0, 0, 0, 0, 0, 1.0]))
    close_cmd = to_metaworld(np.array([0, 0, 0, 0, 0, 0, -1.0]))
    assert open_cmd.metaworld[3] == -1.0 and close_cmd.metaworld[3] == 1.0


def test_close_uses_the_task_grip_effort_and_open_stays_full():
    closed = to_metaworld(np.array([0, 0, 0, 0, 0, 0, -1.0]), grip_effort=0.6)
    opened = to_metaworld(np.array([0, 0, 0, 0, 0, 0, 1.0]), grip_effort=0.6)
    assert closed.metaworld[3] == pytest.approx(0.6) and opened.metaworld[3] == -1.0


def test_rotations_are_dropped_and_xyz_passes_through():
    out = to_metaworld(np.array([0.1, -0.2, 0.3, 0.9, -0.9, 0.5, 1.0]))
    np.testing.assert_allclose(out.metaworld[:3], [0.1, -0.2, 0.3], rtol=1e-6)
    assert not out.clamped


def test_out_of_range_and_nan_are_clamped_with_reason():
    out = to_metaworld(np.array([2.0, np.nan, -3.0, 0, 0, 0, 1.0]))
    np.testing.assert_array_equal(out.metaworld[:3], [1.0, 0.0, -1.0])
    assert out.clamped and 'clipped' in out.reason and 'non-finite' in out.reason


def test_expert_action_becomes_binary_gripper_and_clipped_xyz():
    np.testing.assert_array_equal(from_metaworld([3.0, -0.5, 0.0, 0.6]),
                                  [1.0, -0.5, 0.0, 0, 0, 0, -1.0])
    assert from_metaworld([0, 0, 0, -1.0])[6] == 1.0
    assert from_metaworld([0, 0, 0, 0.0])[6] == 1.0   # relaxed fingers count as open


def test_round_trip_of_expert_gripper_keeps_metaworld_polarity():
    for effort in (-1.0, 1.0):
        assert to_metaworld(from_metaworld([0, 0, 0, effort])).metaworld[3] == effort


def test_wrong_shapes_raise():
    with pytest.raises(ValueError):
        to_metaworld(np.zeros(4))
    with pytest.raises(ValueError):
        from_metaworld(np.zeros(7))


def test_hold_is_zero_motion():
    np.testing.assert_array_equal(hold_action(-1.0), [0, 0, 0, 0, 0, 0, -1.0])
