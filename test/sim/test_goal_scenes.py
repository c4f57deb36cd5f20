"""Language-conditioned scenes: layouts, the MjSpec-edited scene, the instruction decides."""
import numpy as np
import pytest

from deer_ros.sim.goal_scenes import (COLOURS_RGBA, draw_goal_scene, marker_site,
                                      reached_markers)
from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
from deer_ros.sim.tasks import DEPTH_SUITE, GoalChoice, TASKS, get_task, suite_tasks

LANGUAGE_TASKS = [t for t in DEPTH_SUITE if TASKS[t].goals is not None]
PUSH = get_task('push-color')
OBJECT_LOW, OBJECT_HIGH = np.array([-0.1, 0.6, 0.02]), np.array([0.1, 0.7, 0.02])
HAND = np.array([0.0, 0.6, 0.2])


def _layouts(choice, seeds):
    return [draw_goal_scene(choice, s, OBJECT_LOW, OBJECT_HIGH, HAND) for s in seeds]


def test_the_depth_suite_has_contact_and_language_tasks():
    assert len(DEPTH_SUITE) >= 8 and len(LANGUAGE_TASKS) >= 2
    assert suite_tasks('depth') == DEPTH_SUITE and len(suite_tasks('default')) == 10
    assert not set(DEPTH_SUITE) & set(suite_tasks('default'))
    with pytest.raises(KeyError, match='known: default, depth'):
        suite_tasks('nope')


def test_layout_follows_the_seed_and_keeps_markers_apart():
    a, b = _layouts(PUSH.goals, [7, 7])
    np.testing.assert_array_equal(a.markers, b.markers)
    assert a.target == b.target
    for scene in _layouts(PUSH.goals, range(50)):
        apart = np.linalg.norm(scene.markers[0] - scene.markers[1])
        assert apart >= PUSH.goals.min_separation_m
        assert np.all(np.linalg.norm(scene.markers[:, :2] - scene.object_start[:2], axis=1)
                      >= 0.15)
        assert np.all((scene.markers >= PUSH.goals.low) & (scene.markers <= PUSH.goals.high))


def test_neither_target_nor_colour_place_is_given_away_by_the_layout():
    scenes = _layouts(PUSH.goals, range(400))
    targets = np.array([s.target for s in scenes])
    assert 0.4 < targets.mean() < 0.6                       # target ~ uniform over 2
    target_x = np.array([s.markers[s.target, 0] for s in scenes])
    other_x = np.array([s.markers[1 - s.target, 0] for s in scenes])
    # exchangeable draw: the instructed marker is not more often left or right of the other
    assert 0.4 < np.mean(target_x < other_x) < 0.6


def test_a_wrong_marker_counts_as_reached_only_within_its_radius():
    markers = np.array([[0.0, 0.8, 0.02], [0.2, 0.8, 0.02]])
    assert reached_markers(PUSH.goals, np.array([0.21, 0.8, 0.02]), markers) == [1]
    assert reached_markers(PUSH.goals, np.array([0.1, 0.8, 0.02]), markers) == []


def test_instructions_name_targets_and_unknown_ones_are_refused():
    reach = get_task('reach-color')
    assert reach.targets == 3 and reach.instruction_for(1) == 'reach the green marker'
    assert reach.target_named('Reach the yellow marker ') == 2
    with pytest.raises(ValueError, match='names no target'):
        reach.target_named('reach the red marker')
    with pytest.raises(ValueError, match='distinct colours'):
        GoalChoice(('blue',), (0, 0, 0), (1, 1, 1), 'hand', 0.05)


@pytest.fixture(scope='module')
def sim():
    sim = MetaWorldSim(SimConfig(static_size=32, gripper_size=16))
    yield sim
    sim.close()


def test_scene_shows_coloured_markers_and_hides_the_goal(sim):
    obs = sim.reset('push-color-v3', seed=3)
    model = sim._envs['push-color-v3'].model
    assert model.site('goal').rgba[3] == 0.0
    for colour in PUSH.goals.colours:
        np.testing.assert_allclose(model.site(marker_site(colour)).rgba, COLOURS_RGBA[colour])
    assert obs.instruction == PUSH.instruction_for(sim.target)
    assert sim.markers().shape == (2, 3)
    np.testing.assert_allclose(sim.markers()[sim.target], sim.object_and_goal()[3:], atol=1e-6)
    blue = np.all(obs.static.astype(int) - [25, 76, 255] > -60, axis=-1) \
        & (obs.static[..., 0] < 90)
    assert blue.any()                                       # the blue marker is in the image


@pytest.mark.parametrize('task', LANGUAGE_TASKS)
def test_expert_follows_the_instruction_and_fails_on_another(sim, task):
    for seed in (2,):        # seeds 0, 1 of push and reach: test_language_control.py
        sim.reset(task, seed)
        while not sim.done:
            sim.step(sim.expert_action())
        assert sim.success, (task, seed)
        sim.reset(task, seed)
        wrong = sim.control_instruction(seed)
        assert wrong != sim.instruction
        while not sim.done:
            result = sim.step(sim.expert_action(wrong))
        assert not sim.success and result.info['wrong_target'] == get_task(task).target_named(
            wrong), (task, seed)
