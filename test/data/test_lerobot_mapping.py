"""LeRobot features map to our cameras, state and 7-D actions as asked, or are refused clearly."""
import numpy as np
import pytest

from deer_ros.data.lerobot_mapping import (
    ACTION_DIMS, LeRobotMapping, MappingError, STATE_DIMS, export_features, resolve,
    to_model_actions, to_state)
from deer_ros.ros_io.settings import ActionSettings

CAMERA = {'dtype': 'video', 'shape': (48, 64, 3), 'names': ['height', 'width', 'channels']}


def _features(action_names, state_names=None, cameras=('front',)):
    features = {f'observation.images.{c}': dict(CAMERA) for c in cameras}
    features['action'] = {'dtype': 'float32', 'shape': (len(action_names),),
                          'names': list(action_names)}
    if state_names:
        features['observation.state'] = {'dtype': 'float32', 'shape': (len(state_names),),
                                         'names': list(state_names)}
    return features


def test_our_export_names_map_by_themselves():
    features = export_features((48, 64), (32, 32), with_state=True, video=True)
    resolved = resolve(features, LeRobotMapping())
    assert resolved.static_key == 'observation.images.static'
    assert resolved.gripper_key == 'observation.images.gripper'
    assert resolved.action_index == tuple(range(7))
    assert resolved.state_index == tuple(range(4))
    raw = np.array([[0.1, -0.2, 0.3, 0.4, -0.5, 0.6, -1.0]], np.float32)
    actions, clipped = to_model_actions(raw, resolved)
    np.testing.assert_array_equal(actions, raw)
    assert clipped == 0


def test_lerobot_end_effector_deltas_in_metres_are_scaled_and_missing_rotation_is_zero():
    features = _features(['delta_x', 'delta_y', 'delta_z', 'gripper'])
    mapping = LeRobotMapping(action_units='si', gripper_threshold=0.5,
                             scaling=ActionSettings(translation_scale_m=0.01))
    resolved = resolve(features, mapping)
    assert resolved.action_index == (0, 1, 2, -1, -1, -1, 3)
    raw = np.array([[0.005, -0.01, 0.03, 0.9], [0.0, 0.002, -0.001, 0.1]])
    actions, clipped = to_model_actions(raw, resolved)
    np.testing.assert_allclose(actions, [[0.5, -1.0, 1.0, 0, 0, 0, 1.0],
                                         [0.0, 0.2, -0.1, 0, 0, 0, -1.0]], atol=1e-6)
    assert clipped == 1            # 0.03 m is 3 units: clipped to 1 and counted


def test_explicit_action_dims_by_name_and_index_and_gripper_polarity():
    features = _features(['yaw', 'x', 'y', 'z', 'grip'])
    mapping = LeRobotMapping(action_dims=('x', 'y', 'z', '-', '-', '0', '4'),
                             gripper_open_below=True)
    resolved = resolve(features, mapping)
    raw = np.array([[0.3, 0.1, 0.2, 0.25, -0.5]])
    actions, _ = to_model_actions(raw, resolved)
    np.testing.assert_allclose(actions, [[0.1, 0.2, 0.25, 0.0, 0.0, 0.3, 1.0]], atol=1e-6)


def test_joint_space_actions_are_refused_with_what_is_needed():
    features = _features(['shoulder_pan.pos', 'shoulder_lift.pos', 'elbow_flex.pos',
                          'wrist_flex.pos', 'wrist_roll.pos', 'gripper.pos'])
    with pytest.raises(MappingError) as error:
        resolve(features, LeRobotMapping())
    text = str(error.value)
    assert 'joint-space' in text and 'shoulder_pan.pos' in text
    assert 'end-effector deltas' in text and 'kinematics' in text and '--action-dims' in text
    # naming joint dimensions as end-effector deltas is refused the same way
    mapping = LeRobotMapping(action_dims=('shoulder_pan.pos',) * 6 + ('gripper.pos',))
    with pytest.raises(MappingError, match='joint-space'):
        resolve(features, mapping)


def test_unknown_action_names_ask_for_action_dims():
    with pytest.raises(MappingError, match='--action-dims'):
        resolve(_features(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']), LeRobotMapping())
    with pytest.raises(MappingError, match='gripper action dimension is required'):
        resolve(_features(['a0', 'a1']), LeRobotMapping(action_dims=('a0',) + ('-',) * 6))
    with pytest.raises(MappingError, match="'nope' is not in"):
        resolve(_features(['a0']), LeRobotMapping(action_dims=('nope',) + ('a0',) * 6))


def test_several_cameras_need_a_choice_and_unknown_names_are_refused():
    features = _features(list(ACTION_DIMS), cameras=('front', 'wrist', 'top'))
    with pytest.raises(MappingError, match='3 cameras .*front.*wrist.*top.*--static-camera'):
        resolve(features, LeRobotMapping())
    with pytest.raises(MappingError, match="static camera 'side' is not in the dataset"):
        resolve(features, LeRobotMapping(static_camera='side'))
    with pytest.raises(MappingError, match='both the static and the gripper'):
        resolve(features, LeRobotMapping(static_camera='front', gripper_camera='front'))
    resolved = resolve(features, LeRobotMapping(static_camera='top',
                                                gripper_camera='observation.images.wrist'))
    keys = (resolved.static_key, resolved.gripper_key)
    assert keys == ('observation.images.top', 'observation.images.wrist')
    assert resolved.notes == ('cameras not imported: observation.images.front',)


def test_oversized_or_non_rgb_cameras_are_refused():
    features = _features(list(ACTION_DIMS))
    features['observation.images.front']['shape'] = (5000, 64, 3)
    with pytest.raises(MappingError, match='sides <= 4096'):
        resolve(features, LeRobotMapping())
    features['observation.images.front']['shape'] = (64, 64, 1)
    with pytest.raises(MappingError, match='RGB'):
        resolve(features, LeRobotMapping())


def test_state_maps_by_name_or_is_left_out_with_a_note():
    names = ['eef_x', 'eef_y', 'eef_z', 'eef_roll', 'gripper_width']
    features = _features(list(ACTION_DIMS), state_names=names)
    left_out = resolve(features, LeRobotMapping())
    assert left_out.state_index is None
    assert '--state-dims' in left_out.notes[0]
    mapping = LeRobotMapping(state_dims=('eef_x', 'eef_y', 'eef_z', 'gripper_width'))
    resolved = resolve(features, mapping)
    raw = np.arange(10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_array_equal(to_state(raw, resolved), raw[:, [0, 1, 2, 4]])
    with pytest.raises(MappingError, match='not in observation.state'):
        resolve(features, LeRobotMapping(state_dims=('x', 'y', 'z', 'g')))


def test_bad_mapping_settings_are_refused():
    with pytest.raises(MappingError, match=f'{len(ACTION_DIMS)} names'):
        LeRobotMapping(action_dims=('a', 'b'))
    with pytest.raises(MappingError, match=f'{len(STATE_DIMS)} names'):
        LeRobotMapping(state_dims=('a',))
    with pytest.raises(MappingError, match="'model' or 'si'"):
        LeRobotMapping(action_units='mm')
    with pytest.raises(MappingError, match='> 0'):
        LeRobotMapping(action_units='si', scaling=ActionSettings(rotation_scale_rad=0.0))
    resolved = resolve(_features(list(ACTION_DIMS)), LeRobotMapping())
    with pytest.raises(MappingError, match='finite'):
        to_model_actions(np.full((1, 7), np.nan), resolved)


def test_absolute_target_poses_become_deltas_from_the_current_pose():
    features = _features(['x', 'y', 'z', 'yaw', 'grip'],
                         state_names=['px', 'py', 'pz', 'pyaw', 'width'])
    mapping = LeRobotMapping(action_dims=('x', 'y', 'z', '-', '-', 'yaw', 'grip'),
                             action_frame='absolute', action_units='si',
                             scaling=ActionSettings(rotation_scale_rad=0.1),
                             pose_state_dims=('px', 'py', 'pz', '-', '-', 'pyaw'))
    resolved = resolve(features, mapping)
    target = np.array([[0.51, 0.2, 0.3, 3.1, 1.0], [0.5, 0.2, 0.29, -3.1, 0.0]])
    state = np.array([[0.5, 0.2, 0.3, -3.1, 0.8], [0.5, 0.21, 0.3, 3.1, 0.8]])
    actions, clipped = to_model_actions(target, resolved, state)
    # yaw 3.1 from -3.1 is a turn of 2pi - 6.2 = -0.083 rad, not +6.2: the short way round
    np.testing.assert_allclose(actions, [
        [0.5, 0.0, 0.0, 0, 0, (6.2 - 2 * np.pi) / 0.1, 1.0],
        [0.0, -0.5, -0.5, 0, 0, -(6.2 - 2 * np.pi) / 0.1, -1.0]], atol=1e-5)
    assert clipped == 0
    with pytest.raises(MappingError, match='current pose'):
        to_model_actions(target, resolved, None)


def test_absolute_actions_need_units_the_current_pose_and_pairs():
    with pytest.raises(MappingError, match='--pose-state-dims'):
        LeRobotMapping(action_frame='absolute', action_units='si')
    with pytest.raises(MappingError, match='--action-units si'):
        LeRobotMapping(action_frame='absolute', pose_state_dims=('a',) * 6)
    features = _features(['x', 'y', 'z', 'yaw', 'grip'], state_names=['px', 'py', 'pz'])
    unpaired = LeRobotMapping(action_dims=('x', 'y', 'z', '-', '-', 'yaw', 'grip'),
                              action_frame='absolute', action_units='si',
                              pose_state_dims=('px', 'py', 'pz', '-', '-', '-'))
    with pytest.raises(MappingError, match=r"\['dyaw'\] need both"):
        resolve(features, unpaired)
    missing = LeRobotMapping(action_dims=('x', 'y', 'z', '-', '-', '-', 'grip'),
                             action_frame='absolute', action_units='si',
                             pose_state_dims=('px', 'py', 'nope', '-', '-', '-'))
    with pytest.raises(MappingError, match="'nope'"):
        resolve(features, missing)
