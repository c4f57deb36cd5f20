"""The train/distill flags are generated from TrainConfig / DistillConfig: one definition each."""
import dataclasses

import pytest

from deer_ros.cli import build_parser
from deer_ros.cli.config_flags import config_flags, config_from_args, flag_name
from deer_ros.training.config import DistillConfig, TrainConfig
from deer_ros.training.runner import config_from_args as train_config_from_args

RENAME = {'num_threads': 'threads'}


def _parse(*argv):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize('command, cls, head', [
    ('train', TrainConfig, ['data']), ('distill', DistillConfig, ['ckpt', 'data', '-o', 'x'])])
def test_every_config_field_has_a_flag_with_the_fields_help_and_default(command, cls, head):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    by_flag = {opt: action for action in sub._actions for opt in action.option_strings}
    for f in config_flags(cls):
        action = by_flag[flag_name(f.name, RENAME)]
        assert action.dest == f.name
        assert f.metadata['help'].replace('%', '%%') in action.help
    defaults = config_from_args(cls, _parse(command, *head))
    assert defaults == cls()


def test_train_flags_build_the_config_and_keep_their_names():
    args = _parse('train', 'data', '--window', '4', '--batch-size', '2', '--threads', '1',
                  '--lr', '0.5', '--freeze', 'vision', '--use-state', '--head-steps', '3')
    cfg = train_config_from_args(args)
    assert cfg == dataclasses.replace(TrainConfig(), window=4, batch_size=2, num_threads=1,
                                      lr=0.5, freeze='vision', use_state=True, head_steps=3)
    assert args.joint_steps is None   # not given: --resume keeps the saved schedule


def test_a_flag_outside_the_configs_choices_is_refused():
    with pytest.raises(SystemExit):
        _parse('train', 'data', '--freeze', 'everything')


def test_distill_flags_build_the_config():
    args = _parse('distill', 'ckpt', 'data', '-o', 'out', '--stage1-steps', '5',
                  '--skip-prob', '0.25', '--threads', '3')
    assert config_from_args(DistillConfig, args) == dataclasses.replace(
        DistillConfig(), stage1_steps=5, skip_prob=0.25, num_threads=3)
