"""Every registered task's scripted expert succeeds through our 7-D action conversion."""
import pytest

from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.rollout import ExpertConfig, expert_episode
from deer_ros.sim.tasks import DEPTH_SUITE, TASKS

FAST_TASKS = ['reach-v3', 'button-press-topdown-v3']
CONTACT_TASKS = [t for t in DEPTH_SUITE if TASKS[t].goals is None]


def _successes(task, seeds, noise=0.0):
    sim = MetaWorldSim(SimConfig(static_size=32, gripper_size=32))
    try:
        return [expert_episode(sim, task, s, ExpertConfig(action_noise=noise)).success
                for s in seeds]
    finally:
        sim.close()


@pytest.mark.parametrize('task', FAST_TASKS)
def test_expert_succeeds_on_fast_tasks(task):
    assert all(_successes(task, [0]))


@pytest.mark.parametrize('task', CONTACT_TASKS)
def test_expert_succeeds_on_the_contact_tasks_of_the_depth_suite(task):
    assert all(_successes(task, [1]))


@pytest.mark.slow
@pytest.mark.parametrize('task', sorted(TASKS))
def test_expert_succeeds_on_every_task(task):
    assert all(_successes(task, range(3)))


@pytest.mark.slow
@pytest.mark.parametrize('task', ['drawer-open-v3', 'push-v3'])
def test_expert_mostly_succeeds_with_action_noise(task):
    assert sum(_successes(task, range(4), noise=0.2)) >= 3
