"""DAgger episodes: the driver acts, every frame is labelled with the expert's action there."""
import pathlib

import numpy as np
import pytest

from deer_ros.cli import main
from deer_ros.data.recording import iter_episodes
from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.rollout import expert_episode, relabelled_episode

SHIPPED = str(pathlib.Path(__file__).resolve().parents[2] / 'models' / 'tiny-metaworld')
PUSH_UP = np.array([0, 0, 1, 0, 0, 0, 1], dtype=np.float32)   # a policy that only rises


@pytest.fixture
def sim():
    s = MetaWorldSim(SimConfig(static_size=32, gripper_size=32, max_steps=12))
    yield s
    s.close()


def test_labels_are_the_experts_action_at_the_states_the_driver_reached(sim):
    seen = []

    def driver(obs):
        seen.append(obs.step)
        return PUSH_UP

    episode = relabelled_episode(sim, 'reach-v3', 3, driver)
    assert seen == list(range(12)) and len(episode) == 12
    assert episode.meta['source'] == 'dagger' and episode.meta['expert_steps'] == 0
    # the driver moved the hand straight up, not where the expert's labels point
    assert np.all(np.diff(episode.state[:, 2]) > 0)
    # replay: each label equals the expert's action in the state the driver produced
    sim.reset('reach-v3', 3)
    for t in range(12):
        np.testing.assert_array_equal(episode.actions[t], sim.expert_action())
        np.testing.assert_array_equal(episode.state[t], sim.robot_state())
        sim.step(PUSH_UP)
    assert not np.allclose(episode.actions[:, :3], PUSH_UP[:3])


def test_expert_mix_one_is_the_plain_expert_episode(sim):
    mixed = relabelled_episode(sim, 'reach-v3', 4, lambda obs: PUSH_UP, expert_mix=1.0)
    plain = expert_episode(sim, 'reach-v3', 4)
    assert mixed.meta['expert_steps'] == len(mixed)
    np.testing.assert_array_equal(mixed.actions, plain.actions)
    np.testing.assert_array_equal(mixed.static, plain.static)


def test_expert_mix_outside_unit_interval_is_refused(sim):
    with pytest.raises(ValueError, match='expert_mix'):
        relabelled_episode(sim, 'reach-v3', 0, lambda obs: PUSH_UP, expert_mix=1.5)


def test_record_with_a_policy_writes_failed_episodes_too(tmp_path):
    out = tmp_path / 'dagger'
    assert main(['record', '-o', str(out), '--tasks', 'reach-v3', '--episodes-per-task', '2',
                 '--image-size', '64', '--max-steps', '5', '--quiet',
                 '--policy', SHIPPED, '--seed', '7']) == 0
    episodes = list(iter_episodes(out))
    assert len(episodes) == 2 and not any(e.success for e in episodes)
    assert [e.meta['seed'] for e in episodes] == [7, 8]
    assert all(e.meta['policy'] == SHIPPED for e in episodes)


def test_record_refuses_expert_mix_without_a_policy(tmp_path):
    assert main(['record', '-o', str(tmp_path / 'x'), '--tasks', 'reach-v3',
                 '--expert-mix', '0.5', '--quiet']) == 1
