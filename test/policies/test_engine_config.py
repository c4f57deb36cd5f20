"""EngineConfig is frozen and valid from construction; one model-fit rule for engine and node."""
import dataclasses

import pytest

from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.config import fit_problem
from deer_ros.policies.example import ExampleModel
from deer_ros.ros_io import settings as S


def test_an_out_of_range_config_cannot_be_made():
    with pytest.raises(ValueError, match='budget_latency_ms'):
        EngineConfig(budget_latency_ms=-1)
    with pytest.raises(ValueError, match='policy'):
        dataclasses.replace(EngineConfig(), policy='fastest')
    with pytest.raises(ValueError, match='sentinel'):
        EngineConfig(thresholds=[0.1, -0.2])


def test_config_is_frozen_all_the_way_down():
    cfg = EngineConfig(thresholds=[0.1, 0.2], static_layers=[0, 6])
    assert cfg.thresholds == (0.1, 0.2) and cfg.static_layers == (0, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.thresholds = (0.3,)
    changed = dataclasses.replace(cfg, thresholds=[0.3])
    assert changed.thresholds == (0.3,) and cfg.thresholds == (0.1, 0.2)
    assert cfg.updated(max_exit=2).max_exit == 2 and cfg.max_exit == -1


# (engine fields, fits a 6-exit model?): cases where the node's rule once disagreed
CASES = [
    (dict(policy='deer', thresholds=[0.1, 0.2], max_exit=2), True),    # 2 thresholds suffice
    (dict(policy='full', thresholds=[0.1]), True),                     # full needs none
    (dict(policy='deer', thresholds=[0.1]), False),
    (dict(policy='fixed', fixed_exit=6), False),
    (dict(policy='full', max_exit=6), False),
]
NODE_NAMES = {'policy': 'exit.policy', 'thresholds': 'exit.thresholds',
              'fixed_exit': 'exit.fixed_exit', 'max_exit': 'exit.max_exit'}


@pytest.mark.parametrize('fields, fits', CASES)
def test_engine_and_node_parameters_apply_one_model_fit_rule(fields, fits):
    cfg = EngineConfig(**fields)
    problem = fit_problem(cfg, num_exits=6)
    assert (problem is None) == fits
    node = S.from_flat({NODE_NAMES[k]: tuple(v) if isinstance(v, list) else v
                        for k, v in fields.items()})
    reason = S.model_reason(node, 6)
    engine_error = None
    try:
        InferenceEngine(ExampleModel(), cfg)
    except ValueError as exc:
        engine_error = str(exc)
    assert (reason is None) == (engine_error is None) == fits
    if not fits:
        assert reason == f'{NODE_NAMES[problem[0]]}: {problem[1]}'
        assert engine_error == f'{problem[0]}: {problem[1]}'


def test_empty_node_thresholds_fit_because_the_calibration_supplies_them():
    assert S.model_reason(S.NodeSettings(), 6) is None
    assert fit_problem(EngineConfig(), 6)[0] == 'thresholds'    # the engine itself needs them
