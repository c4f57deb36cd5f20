"""The kinds the policies report are the values the code produces and accepts."""
from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.criterion import CRITERIA as DISTANCES
from deer_ros.policies.example import ExampleModel, example_frames
from deer_ros.policies.kinds import (CRITERIA, MEMORY_ACTIONS, POLICIES, SKIP_REASONS,
                                     STOP_REASONS)


def test_config_choices_are_the_kinds():
    described = EngineConfig.describe()
    assert described['policy']['choices'] == POLICIES
    assert described['criterion']['choices'] == CRITERIA
    assert set(CRITERIA) == set(DISTANCES)          # every named criterion has a distance


def test_records_carry_kinds_from_their_sets():
    for policy, extra in (('deer', dict(thresholds=[0.5] * 5, skip_enabled=True)),
                          ('fixed', dict(fixed_exit=2)), ('full', {})):
        model = ExampleModel(decay=0.5)
        engine = InferenceEngine(model, EngineConfig(policy=policy, **extra))
        engine.reset('pick the block')
        for image in example_frames(8):
            record = engine.step(image)
            assert record.policy in POLICIES
            assert record.stop_reason in STOP_REASONS
            assert record.skip.reason in SKIP_REASONS
            assert record.memory_action in MEMORY_ACTIONS
