"""`deer-ros bench WHICH` flags are generated from the benchmark's config: one definition."""
import dataclasses

import pytest

from deer_ros.bench.config import BenchConfig
from deer_ros.bench.exits import ExitsConfig
from deer_ros.bench.fastpath import FastPathConfig
from deer_ros.bench.load import LoadConfig
from deer_ros.bench.node import NodeBenchConfig
from deer_ros.bench.proportionality import ProportionalityConfig
from deer_ros.bench.train_throughput import TrainBenchConfig
from deer_ros.cli import build_parser
from deer_ros.cli.config_flags import config_flags, config_from_args, flag_name

CONFIGS = {'exits': ExitsConfig, 'proportionality': ProportionalityConfig,
           'node': NodeBenchConfig, 'load': LoadConfig, 'fastpath': FastPathConfig,
           'train': TrainBenchConfig}


def _bench_parser(which):
    bench = build_parser()._subparsers._group_actions[0].choices['bench']
    return bench._subparsers._group_actions[0].choices[which]


@pytest.mark.parametrize('which, cls', CONFIGS.items())
def test_every_config_field_has_its_flag_with_the_fields_help_and_default(which, cls):
    assert issubclass(cls, BenchConfig)
    sub = _bench_parser(which)
    actions = {opt: action for action in sub._actions for opt in action.option_strings}
    for f in config_flags(cls, exclude=('command',)):
        action = actions[flag_name(f.name)]
        assert action.dest == f.name and action.default == f.default
        assert f.metadata['description'].replace('%', '%%') in action.help
    args = build_parser().parse_args(['bench', which])
    assert config_from_args(cls, args, overrides={}, command='') == cls()


def test_flags_fill_the_config_and_their_names_are_kept():
    args = build_parser().parse_args(['bench', 'node', '--steps', '7', '--no-graph',
                                      '--control-rate-hz', '30', '--set', 'lm.d_model=64'])
    cfg = config_from_args(NodeBenchConfig, args, overrides={'lm.d_model': '64'}, command='c')
    assert cfg == dataclasses.replace(NodeBenchConfig(), steps=7, graph=False,
                                      control_rate_hz=30.0, overrides={'lm.d_model': '64'},
                                      command='c')
    assert NodeBenchConfig().preset == 'tiny' and LoadConfig().steps == 60


def test_a_value_outside_a_range_is_refused_at_construction():
    with pytest.raises(ValueError, match='steps'):
        ExitsConfig(steps=0)
    with pytest.raises(ValueError, match='precision'):
        FastPathConfig(precision='fp64')
