"""`deer-ros bench gpu`: the whole GPU script runs on this CPU, so it cannot rot before a GPU."""
import json

import pytest

from deer_ros.bench.gpu import SECTIONS, GpuBenchConfig
from deer_ros.cli import main


def test_gpu_bench_runs_every_section_on_cpu(tmp_path):
    import torch
    assert main(['bench', 'gpu', '--device', 'cpu', '--preset', 'tiny',
                 '--out', str(tmp_path)]) == 0
    for name in ('gpu.json', 'gpu.md', 'environment.json', 'memory_trace.json'):
        assert (tmp_path / name).stat().st_size > 0, name
    result = json.loads((tmp_path / 'gpu.json').read_text())
    assert {k: v['status'] for k, v in result['sections'].items()} == \
        {name: 'ok' for name in ('environment', *SECTIONS)}
    assert set(SECTIONS) <= set(result) and result['passed']
    assert not torch.cuda.is_initialized()          # the CPU path never touched torch.cuda

    env = result['environment']
    assert env['driver'] == 'absent' and env['nvml_reason'].startswith('NVML unavailable')

    assert list(result['exits']) == ['fp32', 'bf16', 'fp16']
    for rows in (r['exits'] for r in result['exits'].values()):
        assert len(rows) == 6
        assert all(r[p]['median_ms'] > 0 for r in rows
                   for p in ('preprocess_ms', 'vision_ms', 'llm_ms', 'head_ms'))
        assert all(r['peak_allocated_bytes'] is None and r['nvml_used_mb'] is None
                   for r in rows)

    fidelity = result['fidelity']['precisions']
    assert fidelity['fp32']['exit_flips'] == 0 and fidelity['fp32']['pose_max_abs'] == 0.0
    for name in ('bf16', 'fp16'):
        f = fidelity[name]
        assert 0 <= f['exit_flips'] <= f['frames']
        assert 0.0 < max(f['per_exit_pose_max_abs']) < 0.5    # rounding, not garbage or NaN
        assert 0.0 <= f['pose_mean_abs'] <= f['pose_max_abs'] < 2.0

    memory = result['memory']
    assert memory['verdicts'] == dict(budget_sheds=True, budget_reloads=True,
                                      competitor_sheds=True, competitor_gone_reloads=True,
                                      replay_matches=True)
    assert {'shed', 'reload'} <= {r['action'] for r in memory['frames']}

    node = result['node']
    assert [r['budget_fraction'] for r in node['rows']] == [1.0, 0.5, 0.333]
    assert node['rows'][0]['mean_fraction'] == pytest.approx(1.0)

    compiled = result['compile']
    assert compiled['mode'] == 'reduce-overhead'
    assert compiled['max_action_difference'] <= 1e-4
    assert '## torch.compile against eager' in (tmp_path / 'gpu.md').read_text()


def test_cuda_asked_without_a_gpu_is_a_clear_usage_error(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    assert main(['bench', 'gpu', '--device', 'cuda', '--out', str(tmp_path)]) == 2
    assert 'torch sees no CUDA device' in capsys.readouterr().err


def test_nvml_without_a_driver_says_why():
    from deer_ros.bench.gpu_env import nvml_versions
    from deer_ros.telemetry import NvmlMemorySource
    if NvmlMemorySource().active:
        pytest.skip('NVML answers here')
    out = nvml_versions()
    assert out['driver'] == 'absent' and out['nvml_reason'].startswith('NVML unavailable')


@pytest.mark.parametrize('field,value', [('budgets', '1,abc'), ('budgets', '0'),
                                         ('precisions', 'bf16'), ('precisions', 'fp32,fp8'),
                                         ('skip', 'exits,nope')])
def test_bad_lists_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        GpuBenchConfig(**{field: value})


def test_compile_mode_setting_reaches_the_rollout():
    from deer_ros.ros_io import settings as S
    from deer_ros.ros_io.model_loader import build_rollout
    rollout = build_rollout(S.from_flat({'model.compile': True, 'model.device': 'cpu',
                                         'model.compile_mode': 'reduce-overhead'}))
    starts = sorted(rollout._segment_fns)
    assert starts == [0, *(e + 1 for e in rollout.exit_layers[:-1])]
    assert rollout.compile_mode == 'reduce-overhead'


def test_node_budgets_without_ros_time_the_engine_alone(monkeypatch):
    """The GPU machine has no ROS wheels: the node section says so and times the engine."""
    from deer_ros.bench import node_budgets
    from deer_ros.bench.models import bench_rollout, camera_images
    monkeypatch.setattr(node_budgets, 'ros_available', lambda: 'ModuleNotFoundError: rclpy')
    rollout = bench_rollout('tiny')
    out = node_budgets.run_node_budgets(rollout, camera_images(2, 64, 64), [1.0, 0.5],
                                        steps=3, warmup=1, control_rate_hz=100.0)
    assert out['mode'] == 'engine only' and 'rclpy' in out['ros_missing']
    full, half = out['rows']
    assert full['frames'] == half['frames'] == 3
    assert full['mean_fraction'] == pytest.approx(1.0) and half['mean_fraction'] < 1.0
    assert full['latency_ms']['median_ms'] >= full['model_ms']['median_ms'] > 0


# What the GPU machine lacks (scripts/gpu_wheels.sh): ROS, the simulator, recording/tuning extras.
NOT_ON_GPU = ('rclpy', 'sensor_msgs', 'std_msgs', 'builtin_interfaces', 'geometry_msgs',
              'diagnostic_msgs', 'rcl_interfaces', 'lifecycle_msgs', 'std_srvs', 'action_msgs',
              'deer_ros.msg', 'deer_ros.action', 'mcap', 'mcap_ros2', 'metaworld', 'mujoco',
              'skopt', 'lerobot')


def test_the_gpu_run_imports_without_what_the_gpu_machine_lacks(tmp_path):
    import os
    import subprocess
    import sys
    (tmp_path / 'sitecustomize.py').write_text(
        'import sys\n' + ''.join(f'sys.modules[{m!r}] = None\n' for m in NOT_ON_GPU))
    code = ('import deer_ros.bench.gpu, deer_ros.bench.gpu_report, deer_ros.bench.node_budgets\n'
            'import deer_ros.bench.memory_live, deer_ros.bench.fidelity\n'
            'from deer_ros.bench.node_budgets import ros_available\n'
            'from deer_ros.cli import main\n'
            'assert ros_available().startswith("ModuleNotFoundError"), ros_available()\n'
            'raise SystemExit(main(["bench", "gpu", "--help"]))\n')
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tmp_path), os.getcwd()])}
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '--time-limit-s' in done.stdout
