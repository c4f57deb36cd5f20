"""Robot state for state-taking models: topic values by name, freshness, the engine decorator."""
import dataclasses

import numpy as np
import pytest

from deer_ros.model.build import build_model, preset_config
from deer_ros.model.rollout import ModelRollout
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.ros_io.robot_state import (STATE_NAMES, RobotStateBuffer, RobotStateUnavailable,
                                         StateFeedingEngine, model_takes_state, state_values)


def state_engine(seed: int = 0) -> InferenceEngine:
    """A real engine over the tiny preset with a 4-value state input (untrained weights)."""
    tokenizer = load_tokenizer()
    cfg = preset_config('tiny', tokenizer)
    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, state_dim=4))
    engine = InferenceEngine(ModelRollout(build_model(cfg, seed=seed), tokenizer, device='cpu'),
                             EngineConfig(policy='full'))
    engine.reset('reach the goal position')
    return engine


IMAGE = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
STATE = np.float32([0.0, 0.6, 0.2, 1.0])


def test_state_values_are_picked_by_name_in_the_model_order():
    names = ['gripper_opening', 'joint_7', 'ee_z', 'ee_y', 'ee_x']
    values, why = state_values(names, [0.5, 9.0, 0.2, 0.6, -0.1])
    assert why == '' and values.dtype == np.float32
    np.testing.assert_allclose(values, [-0.1, 0.6, 0.2, 0.5])
    assert STATE_NAMES == ('ee_x', 'ee_y', 'ee_z', 'gripper_opening')


@pytest.mark.parametrize('names, positions, reason', [
    (['ee_x', 'ee_y', 'ee_z'], [0.0, 0.6, 0.2], 'missing'),
    (list(STATE_NAMES), [0.0, 0.6], 'positions'),
    (list(STATE_NAMES), [0.0, float('nan'), 0.2, 1.0], 'non-finite'),
])
def test_malformed_states_are_rejected_with_the_reason(names, positions, reason):
    values, why = state_values(names, positions)
    assert values is None and reason in why


def test_a_stale_or_missing_state_stops_the_step_with_the_reason():
    now = [10.0]
    buffer = RobotStateBuffer()
    fed = StateFeedingEngine(state_engine(), buffer, max_age_s=0.5, clock=lambda: now[0])
    assert model_takes_state(fed)
    with pytest.raises(RobotStateUnavailable, match='no robot state'):
        fed.step(IMAGE, IMAGE)
    buffer.put(STATE, received_s=9.8)
    action = fed.step(IMAGE, IMAGE).action
    direct = state_engine().step(IMAGE, IMAGE, state=STATE).action
    np.testing.assert_allclose(action, direct, atol=1e-6)     # the state reached the model
    other = state_engine().step(IMAGE, IMAGE, state=STATE + np.float32([0.3, 0, 0, -1])).action
    assert np.abs(other - direct).max() > 1e-4
    now[0] = 10.4
    with pytest.raises(RobotStateUnavailable, match='old'):
        fed.step(IMAGE, IMAGE)
    buffer.put(None, received_s=10.4, why='robot state rejected: missing')
    with pytest.raises(RobotStateUnavailable, match='rejected'):
        fed.step(IMAGE, IMAGE)


def test_models_without_a_state_input_ignore_it():
    tokenizer = load_tokenizer()
    rollout = ModelRollout(build_model(preset_config('tiny', tokenizer), seed=0), tokenizer,
                           device='cpu')
    engine = InferenceEngine(rollout, EngineConfig(policy='full'))
    assert not model_takes_state(engine)
    engine.reset('reach the goal position')
    with_state = engine.step(IMAGE, IMAGE, state=STATE).action
    engine.reset('reach the goal position')
    np.testing.assert_array_equal(engine.step(IMAGE, IMAGE).action, with_state)
