"""The sim reports its robot state, demonstrations store it, and the live buffer pairs it."""
import numpy as np

from deer_ros.data.episode_buffer import EpisodeBuffer
from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.rollout import expert_episode


def test_sim_state_is_the_hand_position_and_gripper_opening():
    sim = MetaWorldSim(SimConfig(static_size=32, gripper_size=32, max_steps=6))
    try:
        obs = sim.reset('reach-v3', seed=3)
        hand = np.asarray(sim._envs['reach-v3'].data.body('hand').xpos, dtype=np.float32)
        np.testing.assert_allclose(obs.state[:3], hand, atol=1e-5)   # obs[0:3]: the hand body
        assert 0.0 <= obs.state[3] <= 1.0
        before = obs.state.copy()
        for _ in range(3):
            obs = sim.step(np.float32([1, 0, 0, 0, 0, 0, 1])).observation
        assert obs.state[0] - before[0] > 0.005                     # +x moved the hand in x
        episode = expert_episode(sim, 'reach-v3', seed=3)
        assert episode.state.shape == (len(episode), 4)
        np.testing.assert_allclose(episode.state[0], before)         # same scene, same start
    finally:
        sim.close()


def test_live_buffer_pairs_the_state_like_a_frame():
    image = np.zeros((8, 8, 3), np.uint8)
    buffer = EpisodeBuffer(use_gripper=False, max_frame_age_ns=100, use_state=True)
    buffer.instruction = 'reach the goal position'
    buffer.add_frame('static', 1000, image)
    assert not buffer.add_action(1000, np.zeros(7, np.float32))     # no state yet: skipped
    buffer.add_state(990, np.float32([0.1, 0.6, 0.2, 1.0]))
    buffer.add_state(1010, np.float32([9, 9, 9, 9]))                # after the action: not it
    assert buffer.add_action(1000, np.zeros(7, np.float32))
    episode = buffer.finish(True)
    np.testing.assert_allclose(episode.state, [[0.1, 0.6, 0.2, 1.0]])
    assert episode.meta['skipped'] == {'no recent robot state': 1}
