"""Demonstrations that do not give the goal away: varied hand starts and DART labels."""
import numpy as np
import pytest

from deer_ros.cli import main
from deer_ros.data.recording import iter_episodes
from deer_ros.sim.metaworld_sim import MAX_HAND_OFFSET_M, MetaWorldSim, SimConfig
from deer_ros.sim.rollout import ExpertConfig, expert_episode


@pytest.fixture(scope='module')
def sim():
    sim = MetaWorldSim(SimConfig(static_size=32, gripper_size=32, max_steps=6))
    yield sim
    sim.close()


def test_hand_offset_moves_the_start_of_that_episode_only(sim):
    home = sim.reset('reach-v3', seed=0).state[:3]
    offset = np.array([0.06, -0.04, 0.03])
    moved = sim.reset('reach-v3', seed=0, hand_offset=offset).state[:3]
    np.testing.assert_allclose(moved - home, offset, atol=0.01)
    again = sim.reset('reach-v3', seed=0).state[:3]
    np.testing.assert_allclose(again, home, atol=1e-6)       # the task's own start is back


def test_object_and_goal_follow_the_scene_seed(sim):
    sim.reset('reach-v3', seed=0)
    a = sim.object_and_goal()
    env = sim._envs['reach-v3']
    np.testing.assert_allclose(a[3:], env._target_pos, atol=1e-6)   # the reach goal
    sim.reset('reach-v3', seed=1)
    assert a.shape == (6,) and not np.allclose(a, sim.object_and_goal())


@pytest.mark.parametrize('offset', [[0.0, 0.0], [0.0, np.nan, 0.0],
                                    [MAX_HAND_OFFSET_M + 0.01, 0.0, 0.0]])
def test_bad_hand_offset_is_refused(sim, offset):
    with pytest.raises(ValueError, match='hand_offset'):
        sim.reset('reach-v3', seed=0, hand_offset=np.array(offset))


def test_start_jitter_is_reproducible_and_bounded():
    config = ExpertConfig(start_jitter_m=(0.1, 0.05, 0.0))
    offsets = np.stack([config.hand_offset(seed) for seed in range(50)])
    np.testing.assert_array_equal(offsets[3], config.hand_offset(3))
    assert np.all(np.abs(offsets) <= [0.1, 0.05, 0.0])
    assert offsets[:, 0].std() > 0.03 and np.all(offsets[:, 2] == 0)
    assert ExpertConfig().hand_offset(3) is None


@pytest.mark.parametrize('kwargs', [{'label': 'noisy'}, {'start_jitter_m': (0.2, 0.0, 0.0)},
                                    {'start_jitter_m': (0.1, 0.0)}])
def test_bad_expert_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        ExpertConfig(**kwargs)


def test_dart_label_keeps_the_noisy_motion_but_records_the_clean_action(sim):
    noisy = dict(action_noise=0.5, start_jitter_m=(0.05, 0.05, 0.03))
    applied = expert_episode(sim, 'reach-v3', 4, ExpertConfig(**noisy))
    dart = expert_episode(sim, 'reach-v3', 4, ExpertConfig(label='expert', **noisy))
    np.testing.assert_array_equal(applied.state, dart.state)    # the same perturbed motion
    assert np.abs(applied.actions[:, :3] - dart.actions[:, :3]).mean() > 0.1
    sim.reset('reach-v3', 4, hand_offset=ExpertConfig(**noisy).hand_offset(4))
    np.testing.assert_array_equal(dart.actions[0], sim.expert_action())   # clean label
    assert dart.meta['label'] == 'expert' and len(dart.meta['hand_offset_m']) == 3


def test_record_cli_writes_dart_episodes_and_refuses_bad_options(tmp_path):
    common = ['record', '--tasks', 'reach-v3', '--episodes-per-task', '1', '--image-size', '32',
              '--max-steps', '4', '--keep-failed', '--quiet', '--action-noise', '0.3']
    assert main([*common, '-o', str(tmp_path / 'ok'), '--label', 'expert',
                 '--start-jitter', '0.05', '0.05', '0.02']) == 0
    (episode,) = iter_episodes(tmp_path / 'ok')
    assert episode.meta['label'] == 'expert' and episode.meta['hand_offset_m'] is not None
    assert main([*common, '-o', str(tmp_path / 'far'), '--start-jitter', '0.5', '0', '0']) == 1
    assert main([*common, '-o', str(tmp_path / 'dagger'), '--label', 'expert',
                 '--policy', str(tmp_path / 'unused')]) == 1
    assert not (tmp_path / 'far').exists() or not list(iter_episodes(tmp_path / 'far'))
