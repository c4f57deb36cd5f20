"""The recording format: round trip, index contents, validation, no pickle."""
import json

import numpy as np
import pytest

from deer_ros.data.recording import (
    FORMAT_VERSION, Episode, iter_episodes, list_episodes, make_example_episode, read_episode,
    read_info, write_episode)


def _assert_same(a: Episode, b: Episode) -> None:
    assert (a.instruction, a.task, a.success, a.meta) == (b.instruction, b.task, b.success, b.meta)
    np.testing.assert_array_equal(a.static, b.static)
    np.testing.assert_array_equal(a.actions, b.actions)
    if a.gripper is None:
        assert b.gripper is None
    else:
        np.testing.assert_array_equal(a.gripper, b.gripper)
    assert b.static.dtype == np.uint8 and b.actions.dtype == np.float32


def test_round_trip_preserves_every_field(tmp_path):
    episodes = [make_example_episode(length=4 + i, seed=i) for i in range(3)]
    paths = [write_episode(tmp_path, ep, fps=12.5, source='test') for ep in episodes]
    assert list_episodes(tmp_path) == paths
    for original, path in zip(episodes, paths):
        _assert_same(original, read_episode(path))
    for original, loaded in zip(episodes, iter_episodes(tmp_path)):
        _assert_same(original, loaded)


def test_index_describes_dataset(tmp_path):
    write_episode(tmp_path, make_example_episode(size=32, gripper_size=24), fps=12.5)
    info = read_info(tmp_path)
    assert info.version == FORMAT_VERSION and info.fps == 12.5
    assert info.static_size == (32, 32) and info.gripper_size == (24, 24)
    assert info.action_convention['gripper'] == '+1 open, -1 close'
    assert [e['length'] for e in info.episodes] == [5]
    raw = json.loads((tmp_path / 'dataset.json').read_text())
    assert raw['format'] == 'deer_ros.recording'


def test_episode_without_gripper_camera_round_trips(tmp_path):
    episode = make_example_episode(gripper_size=None)
    _assert_same(episode, read_episode(write_episode(tmp_path, episode)))


def test_mismatched_camera_size_is_rejected(tmp_path):
    write_episode(tmp_path, make_example_episode(size=32))
    with pytest.raises(ValueError, match='camera sizes'):
        write_episode(tmp_path, make_example_episode(size=16))


def test_invalid_episodes_are_rejected():
    good = make_example_episode()
    with pytest.raises(ValueError, match='uint8'):
        Episode('i', 't', good.static.astype(np.float32), None, good.actions)
    with pytest.raises(ValueError, match=r'\(T, 7\)'):
        Episode('i', 't', good.static, None, good.actions[:, :6])
    with pytest.raises(ValueError, match='length'):
        Episode('i', 't', good.static, None, good.actions[:-1])
    bad = good.actions.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        Episode('i', 't', good.static, None, bad)


def test_arrays_load_without_pickle(tmp_path):
    path = write_episode(tmp_path, make_example_episode())
    with np.load(path, allow_pickle=False) as arrays:
        assert set(arrays.files) == {'static', 'gripper', 'actions'}
