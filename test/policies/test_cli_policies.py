"""`deer-ros calibrate`, `tune` and `analyze-layers` end to end on tiny inputs."""
import numpy as np
import pytest
import yaml

from deer_ros.cli import build_parser, main
from deer_ros.data.recording import make_example_episode, write_episode
from deer_ros.policies.calibration_file import load_calibration


def synthetic_score(thresholds):
    """Score peaks at thresholds[0] = 0.3; cost falls as thresholds grow."""
    return -(thresholds[0] - 0.3) ** 2, 10.0 - 5.0 * thresholds[0] - thresholds[1]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('data')
    for seed in range(2):
        write_episode(root, make_example_episode(length=4, size=32, gripper_size=24, seed=seed))
    yield root
    torch.set_num_threads(threads)


def test_help_lists_the_policy_commands():
    text = build_parser().format_help()
    for command in ('calibrate', 'tune', 'analyze-layers'):
        assert command in text


def test_calibrate_writes_deterministic_thresholds_per_budget(dataset, tmp_path):
    outputs = []
    for name in ('a.yaml', 'b.yaml'):
        out = tmp_path / name
        assert main(['calibrate', str(dataset), '-o', str(out), '--preset', 'tiny',
                     '--device', 'cpu', '--budget-fractions', '0.4', '0.7',
                     '--no-progress']) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    cal = load_calibration(tmp_path / 'a.yaml')
    assert cal.values.shape == (6, 8)
    assert [round(b.target_gmacs / cal.full_gmacs, 3) for b in cal.budgets] == [0.4, 0.7]
    assert all(b.thresholds[-1] == 1e8 for b in cal.budgets)


def test_analyze_layers_writes_static_set_and_blocks(dataset, tmp_path):
    out = tmp_path / 'layers.yaml'
    assert main(['analyze-layers', str(dataset), '-o', str(out), '--preset', 'tiny',
                 '--device', 'cpu', '--max-frames', '4', '--no-progress']) == 0
    data = yaml.safe_load(out.read_text())
    assert len(data['cosine_similarity']) == 12
    assert 0 in data['static_layers'] and len(data['static_layers']) == 2
    covered = {i for a, b in data['blocks'] for i in range(a, b)}
    assert covered == set(range(12)) - set(data['static_layers'])


def test_tune_improves_a_synthetic_score(tmp_path):
    out = tmp_path / 'tuned.yaml'
    assert main(['tune', '--score', 'test_cli_policies:synthetic_score',
                 '--thresholds', '0.2', '0.1', '1e8', '--n-calls', '8', '--radius', '1.0',
                 '--penalty', '1.0', '-o', str(out)]) == 0
    data = yaml.safe_load(out.read_text())
    first = data['history'][0]
    assert data['budget'] == pytest.approx(first['avg_cost'])
    assert data['objective'] <= first['objective']
    assert len(data['history']) == 9 and data['thresholds'][-1] == 1e8
    best = np.array(data['thresholds'][:2])
    assert np.all(np.isfinite(best))
