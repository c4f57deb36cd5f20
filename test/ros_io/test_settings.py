"""settings: one definition -> descriptors, YAML, validation; config/deer.yaml is generated."""
import dataclasses
import pathlib

import pytest
import yaml

from deer_ros.policies.config import EngineConfig
from deer_ros.ros_io import settings as S
from deer_ros.ros_io.param_docs import yaml_scalar
from deer_ros.ros_io.param_schema import KINDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
ISSUE_PARAMS = ['model.preset', 'model.checkpoint', 'model.seed', 'model.device',
                'control_rate_hz', 'use_gripper_camera', 'exit.policy', 'exit.thresholds',
                'exit.fixed_exit', 'skip.enabled', 'budget.avg_gflops', 'budget.latency_ms',
                'budget.gpu_memory_mb', 'safety.max_translation_m', 'safety.max_rotation_rad',
                'safety.stale_image_s', 'dry_run', 'autostart', 'image_transport', 'sync.slop_s',
                'action.translation_scale_m', 'action.rotation_scale_rad',
                'action.gripper_open_positive', 'action.frame_id', 'twist.command_in_type']


def _flatten(tree, prefix=''):
    """Nested ros__parameters -> {'group.name': value}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + key + '.'))
        else:
            flat[prefix + key] = value
    return flat


def test_every_parameter_of_the_issue_exists_with_a_description():
    for name in ISSUE_PARAMS:
        assert name in S.SPECS, name
    for spec in S.SPECS.values():
        assert spec.description and spec.kind in KINDS.values()
    assert set(S.to_flat(S.NodeSettings())) == set(S.SPECS)
    leaves = [f for group in dataclasses.fields(S.NodeSettings) for f in (
        dataclasses.fields(group.type) if group.metadata.get('group') else [group])]
    assert len(leaves) == len(S.SPECS), 'every NodeSettings field is a setting()'


def test_live_versus_read_only_follows_the_issue():
    live = {'control_rate_hz', 'exit.policy', 'exit.thresholds', 'budget.avg_gflops',
            'budget.latency_ms', 'budget.gpu_memory_mb', 'safety.max_translation_m',
            'safety.stale_image_s', 'dry_run', 'skip.enabled'}
    reload = {'model.preset', 'model.checkpoint', 'model.seed', 'model.device', 'autostart',
              'model.precision', 'model.compile',
              'use_gripper_camera', 'image_transport'}
    assert all(S.SPECS[n].live for n in live)
    assert not any(S.SPECS[n].live for n in reload)


def test_engine_fields_reuse_engine_config_metadata():
    meta = EngineConfig.describe()
    for spec in S.SPECS.values():
        if spec.engine:
            assert spec.min == meta[spec.engine]['min'] and spec.max == meta[spec.engine]['max']
            assert spec.live == meta[spec.engine]['live']
    cfg = S.engine_config(S.from_flat({'budget.avg_gflops': 3.5, 'exit.policy': 'full'}))
    assert cfg.budget_avg_gflops == 3.5 and cfg.policy == 'full'
    cfg = S.engine_config(S.from_flat({'skip.continuity_min': -0.5,
                                       'skip.verify_threshold': 0.2}))
    assert (cfg.skip_continuity_min, cfg.skip_verify_threshold) == (-0.5, 0.2)


def test_config_deer_yaml_is_the_generated_file():
    text = (ROOT / 'config' / 'deer.yaml').read_text()
    assert text == S.render_yaml(), 'regenerate: python -m deer_ros.ros_io.settings > ' \
                                    'config/deer.yaml'


def test_generated_yaml_round_trips_and_writes_doubles_with_a_point():
    data = yaml.safe_load(S.render_yaml())
    flat = _flatten(data['/**/deer_node']['ros__parameters'])
    for name, value in flat.items():
        spec = S.SPECS[name]
        if spec.kind == 'double':
            assert isinstance(value, float), name     # 150.0, never 150
        assert S.coerce(spec, value) == spec.default
    assert set(S.SPECS) - set(flat) == {'exit.thresholds'}    # empty list: commented out
    assert yaml_scalar('double', 150) == '150.0'
    assert yaml_scalar('double', 1e-5) == '0.00001'


def test_example_configs_use_known_parameters_within_range():
    examples = sorted((ROOT / 'config').glob('*.yaml'))
    assert len(examples) >= 2
    for path in examples:
        data = yaml.safe_load(path.read_text())
        (params,) = [v['ros__parameters'] for v in data.values()]
        flat = _flatten(params)
        for name, value in flat.items():
            assert name in S.SPECS, f'{path.name}: unknown {name}'
            spec = S.SPECS[name]
            if spec.kind == 'double':
                assert isinstance(value, float), f'{path.name}: {name} needs a decimal point'
            assert S.check_value(spec, S.coerce(spec, value)) is None, (path.name, name)
        assert S.validate(S.from_flat(flat)) == [], path.name


@pytest.mark.parametrize('flat,match', [
    ({'control_rate_hz': 1000.0}, 'control_rate_hz: 1000 is outside 0.5..100 Hz'),
    ({'exit.policy': 'sometimes'}, 'not one of deer, fixed, full'),
    ({'action.frame_id': ' '}, 'must not be empty'),
    ({'model.device': 'tpu'}, 'model.device'),
    ({'model.precision': 'fp64'}, 'not one of fp32, fp16, bf16, amp'),
    ({'exit.thresholds': (0.1, float('nan'))}, 'not a finite number'),
])
def test_validation_gives_reasons(flat, match):
    reasons = S.validate(S.from_flat(flat))
    assert any(match in r for r in reasons), reasons


def test_model_reason_checks_exit_counts():
    s = S.from_flat({'exit.thresholds': (0.1, 0.2)})
    assert 'needs 5' in S.model_reason(s, 6)
    assert S.model_reason(S.from_flat({'exit.fixed_exit': 6}), 6).startswith('exit.fixed_exit')
    assert S.model_reason(S.NodeSettings(), 6) is None


def test_unknown_parameter_names_raise():
    with pytest.raises(KeyError):
        S.from_flat({'budget.avg_gflop': 1.0})


@pytest.mark.parametrize('doc', ['docs/node.md', 'README.md'])
def test_docs_parameter_table_is_generated(doc):
    text = (ROOT / doc).read_text()
    assert S.render_markdown() in text, f'regenerate the table in {doc}: render_markdown()'


def test_model_precision_and_compile_reach_the_rollout():
    from deer_ros.ros_io.model_loader import build_rollout
    rollout = build_rollout(S.from_flat({'model.precision': 'bf16', 'model.compile': True,
                                         'model.device': 'cpu'}))
    assert rollout.precision == 'bf16'
    assert all(fn is not block for fn, block in zip(rollout._layer_fns, rollout.model.blocks))
    plain = build_rollout(S.from_flat({'model.device': 'cpu'}))
    assert plain.precision == 'fp32'
    assert plain.head_step == 'fused'                       # the preset's (our training's)
    assert build_rollout(S.from_flat({'model.device': 'cpu', 'model.head_step': 'exact'})
                         ).head_step == 'exact'
    assert all(fn is block for fn, block in zip(plain._layer_fns, plain.model.blocks))


def test_model_transform_reaches_the_rollout():
    from deer_ros.ros_io.model_loader import build_rollout
    default = build_rollout(S.from_flat({'model.device': 'cpu'}))
    assert default.transform == default.config.vision.transform == 'torch'   # as trained
    exact = build_rollout(S.from_flat({'model.device': 'cpu', 'model.transform': 'pil'}))
    assert exact.transform == 'pil'


def test_an_official_pth_given_to_the_node_asks_for_convert(tmp_path):
    from deer_ros.ros_io.model_loader import build_rollout
    pth = tmp_path / 'deer.pth'
    pth.write_bytes(b'not read')
    with pytest.raises(ValueError, match='deer-ros convert'):
        build_rollout(S.from_flat({'model.device': 'cpu', 'model.checkpoint': str(pth)}))
