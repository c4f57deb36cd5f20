"""Every `deer-ros bench` command runs in CI-sized form and writes its JSON and markdown."""
import json

import pytest

from deer_ros.cli import main

TINY = ['--preset', 'tiny', '--warmup', '1']


def _run(tmp_path, *args):
    assert main(['bench', *args, '--out', str(tmp_path)]) == 0
    which = args[0]
    result = json.loads((tmp_path / f'{which}.json').read_text())
    assert (tmp_path / f'{which}.md').read_text().startswith('###')
    return result


def test_exits_reports_every_exit_with_ratios_vs_full(tmp_path):
    result = _run(tmp_path, 'exits', *TINY, '--steps', '2')
    rows = result['exits']
    assert len(rows) == 6 and rows[-1]['ratio_latency'] == 1.0
    assert rows[0]['ratio_gmacs'] == pytest.approx(2 / 12)
    assert rows[0]['resident_param_bytes'] < rows[-1]['resident_param_bytes']
    assert result['environment']['threads'] == 1


def test_proportionality_reports_verdicts(tmp_path):
    result = _run(tmp_path, 'proportionality', *TINY, '--steps', '3')
    assert {'linear_pass', 'check_pass', 'passed', 'check_fraction'} <= set(result)
    assert [r['gmacs_ratio'] for r in result['exits']][-1] == 1.0
    first, further = result['first_head']['median_ms'], result['check']['median_ms']
    assert first > 0 and further > 0           # the first head (with the shared terms) apart
    assert result['check_fraction'] == pytest.approx(further / result['step_ms'])
    assert result['all_checks_fraction'] == pytest.approx(
        (len(result['exits']) - 1) * result['check_fraction'])


def test_node_stages_and_graph(tmp_path):
    result = _run(tmp_path, 'node', *TINY, '--steps', '3')
    assert result['graph']['frames'] == 3
    assert result['stages']['stages']['decode (2 images)']['n'] == 4


def test_load_runs_both_phases(tmp_path):
    result = _run(tmp_path, 'load', *TINY, '--steps', '4', '--load-processes', '1')
    assert set(result['phases']) == {'before', 'after'}
    assert len(result['trace']) == 8


def test_fastpath_is_equivalent_to_the_reference_path(tmp_path):
    result = _run(tmp_path, 'fastpath', *TINY, '--steps', '2')
    assert result['equivalent'] == {'before': True, 'after': True}


def test_costs_without_weights(tmp_path):
    result = _run(tmp_path, 'costs', '--presets', 'tiny', 'deer-9b')
    assert [p['preset'] for p in result['presets']] == ['tiny', 'deer-9b']


def test_bad_override_is_a_usage_error(tmp_path, capsys):
    assert main(['bench', 'exits', '--set', 'lm.nope=1', '--out', str(tmp_path)]) == 2
    assert 'lm.nope' in capsys.readouterr().err


def test_compiled_layers_match_eager(tmp_path):
    result = _run(tmp_path, 'fastpath', *TINY, '--steps', '2', '--compile')
    assert result['equivalent']['after+compile']


def test_train_throughput_runs_each_variant_under_torchrun(tmp_path):
    result = _run(tmp_path, 'train', *TINY, '--processes', '1', '--precisions', 'fp32',
                  '--steps', '1', '--rounds', '1', '--batch-size', '2', '--window', '2')
    (row,) = result['rows']
    assert row['variant'] == '1 x fp32' and row['ratio'] == 1.0 and row['samples_s'] > 0


@pytest.mark.slow       # four fresh interpreters import torch and lerobot: ~2 min on 2 cores
def test_formats_compares_the_recording_with_its_lerobot_copies(tmp_path):
    from deer_ros.data.recording import make_example_episode, write_episode
    for seed in range(2):
        write_episode(tmp_path / 'data', make_example_episode(length=4, size=16, seed=seed))
    result = _run(tmp_path, 'formats', str(tmp_path / 'data'), '--work', str(tmp_path / 'w'),
                  '--vcodec', 'h264')
    rows = result['rows']
    assert [r['frames'] for r in rows] == [8, 8, 8, 8]
    assert rows[0]['error'] == 0.0 and rows[2]['error'] == 0.0    # PNG is lossless
    assert rows[1]['error'] > 0.0                                 # video is not
    assert all(r['disk_bytes'] > 0 and r['read_s'] > 0 for r in rows)
