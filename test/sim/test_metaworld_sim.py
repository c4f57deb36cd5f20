"""MetaWorldSim: cameras, determinism, step limit, rotations ignored."""
import numpy as np
import pytest

from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.tasks import TASKS, get_task


@pytest.fixture(scope='module')
def sim():
    sim = MetaWorldSim(SimConfig(static_size=48, gripper_size=32, max_steps=5))
    yield sim
    sim.close()


def test_both_cameras_render_uint8_rgb_of_configured_sizes(sim):
    obs = sim.reset('reach-v3', seed=0)
    assert obs.static.shape == (48, 48, 3) and obs.gripper.shape == (32, 32, 3)
    assert obs.static.dtype == np.uint8 and obs.gripper.dtype == np.uint8
    assert obs.static.std() > 5 and obs.gripper.std() > 5     # not blank
    assert obs.instruction == TASKS['reach-v3'].instruction and obs.step == 0


def test_same_seed_same_scene_other_seed_other_scene(sim):
    a = sim.reset('reach-v3', seed=3).static
    sim.reset('drawer-open-v3', seed=1)                      # switching tasks in between
    b = sim.reset('reach-v3', seed=3).static
    c = sim.reset('reach-v3', seed=4).static
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rotation_deltas_are_ignored(sim):
    sim.reset('reach-v3', seed=0)
    plain = sim.step(np.array([0.5, 0, 0, 0, 0, 0, 1.0])).observation.static
    sim.reset('reach-v3', seed=0)
    rotated = sim.step(np.array([0.5, 0, 0, 1.0, -1.0, 1.0, 1.0])).observation.static
    np.testing.assert_array_equal(plain, rotated)


def test_episode_ends_at_step_limit_and_refuses_more(sim):
    sim.reset('reach-v3', seed=0)
    results = [sim.step(np.zeros(7)) for _ in range(5)]
    assert [r.done for r in results] == [False] * 4 + [True]
    assert not results[-1].success and results[-1].observation.step == 5
    with pytest.raises(RuntimeError):
        sim.step(np.zeros(7))


def test_task_names_resolve_with_or_without_suffix():
    assert get_task('drawer-open').env_name == 'drawer-open-v3'
    with pytest.raises(KeyError):
        get_task('no-such-task')
