"""`deer-ros evaluate` and `demo` flags come from the configs they fill: one definition."""
import dataclasses

import pytest

from deer_ros.cli import build_parser
from deer_ros.cli.config_flags import config_flags, config_from_args, flag_name
from deer_ros.evaluation.benchmark import BenchmarkRequest
from deer_ros.evaluation.demo import DemoConfig
from deer_ros.evaluation.model_spec import ModelSpec
from deer_ros.evaluation.runner import EvalSettings

MODEL = ({'seed': 'model-seed'}, 'model_')
CASES = [('evaluate', ModelSpec, *MODEL), ('evaluate', EvalSettings,
                                           {'use_gripper_camera': 'gripper-camera'}, ''),
         ('evaluate', BenchmarkRequest, {}, ''), ('demo', ModelSpec, *MODEL),
         ('demo', DemoConfig, {}, '')]
NOT_FLAGS = {BenchmarkRequest: {'command'}}   # filled by the command itself


def _actions(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {opt: action for action in sub._actions for opt in action.option_strings}


@pytest.mark.parametrize('command, cls, rename, prefix', CASES)
def test_every_config_field_has_its_flag_with_the_fields_help_and_default(command, cls, rename,
                                                                          prefix):
    actions = _actions(command)
    for f in config_flags(cls, exclude=NOT_FLAGS.get(cls, ())):
        action = actions[flag_name(f.name, rename)]
        assert action.dest == prefix + f.name
        assert f.metadata['description'].replace('%', '%%') in action.help
        if action.default is not None:
            assert action.default == f.default, f.name


def test_defaults_build_the_configs_defaults():
    args = build_parser().parse_args(['evaluate'])
    assert config_from_args(ModelSpec, args, dest_prefix='model_') == ModelSpec()
    assert config_from_args(EvalSettings, args, tasks=('reach-v3',)) == \
        EvalSettings(tasks=('reach-v3',))
    args = build_parser().parse_args(['demo'])
    assert args.max_steps is None          # not given: the demo decides (random weights: 40)
    model = ModelSpec()
    assert config_from_args(DemoConfig, args, model=model, max_steps=0) == DemoConfig(model)


def test_flags_fill_the_configs():
    args = build_parser().parse_args([
        'evaluate', '--preset', 'small', '--model-seed', '3', '--seed', '5', '--no-gripper-camera',
        '--episodes-per-task', '2', '--workers', '2', '--calibration-episodes', '4', '--ros',
        '--no-progress'])
    assert config_from_args(ModelSpec, args, dest_prefix='model_') == ModelSpec('', 'small', 3)
    settings = config_from_args(EvalSettings, args, tasks=('reach-v3',))
    assert settings == dataclasses.replace(EvalSettings(tasks=('reach-v3',)), seed=5,
                                           use_gripper_camera=False, episodes_per_task=2,
                                           workers=2)
    request = config_from_args(BenchmarkRequest, args, model=ModelSpec(), settings=settings,
                               output_dir='x', command='c')
    assert (request.calibration_episodes, request.ros, request.progress) == (4, True, False)


def test_a_value_outside_a_configs_range_is_refused_at_construction():
    with pytest.raises(ValueError, match='episodes_per_task'):
        EvalSettings(tasks=('reach-v3',), episodes_per_task=0)
    with pytest.raises(ValueError, match='budget_fraction'):
        DemoConfig(ModelSpec(), budget_fraction=1.5)
