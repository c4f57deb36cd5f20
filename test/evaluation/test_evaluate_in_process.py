"""`deer-ros evaluate` in-process on one short episode per configuration (tiny, random weights)."""
import json

import pytest

from deer_ros.cli import main

CONFIGS = ['full', 'fixed-0', 'fixed-2', 'deer-0.33', 'online-0.33', 'skip']


def test_evaluate_writes_table_and_plot_with_sane_compute(tmp_path, capsys):
    out = tmp_path / 'bench'
    code = main(['evaluate', '--tasks', 'reach-v3', '--episodes-per-task', '1', '--max-steps',
                 '4', '--calibration-episodes', '1', '--configs', *CONFIGS, '-o', str(out),
                 '--no-progress', '--image-size', '64'])
    assert code == 0
    assert 'in-process' in capsys.readouterr().out
    summary = (out / 'summary.md').read_text()
    assert all(f'`{name}`' in summary for name in CONFIGS) and '### Target' in summary
    assert (out / 'success_vs_compute.png').stat().st_size > 10_000
    data = json.loads((out / 'results.json').read_text())
    rows = {s['config']: s for s in data['summaries']}
    assert rows['full']['avg_layers'] == 12 and rows['full']['exit_histogram'][-1] == 1.0
    assert rows['fixed-0']['avg_gflops'] < rows['fixed-2']['avg_gflops'] \
        < rows['full']['avg_gflops']
    assert rows['fixed-0']['avg_layers'] == 2
    assert rows['skip']['avg_skipped'] >= 0 and rows['skip']['avg_gflops'] <= \
        rows['full']['avg_gflops']
    assert rows['deer-0.33']['peak_gflops'] >= rows['deer-0.33']['avg_gflops'] > 0
    episodes = data['episodes']
    assert {e['seed'] for e in episodes} == {0} and len(episodes) == len(CONFIGS)
    assert all(e['steps'] == 4 and len(e['gflops']) == 4 for e in episodes)


def test_scorer_follows_the_tune_contract(monkeypatch):
    monkeypatch.setenv('DEER_EVAL_TASKS', 'reach-v3')
    monkeypatch.setenv('DEER_EVAL_MAX_STEPS', '3')
    from deer_ros.evaluation import scorer
    monkeypatch.setattr(scorer, '_STATE', {})
    eager = scorer.score([1e-8] * 5 + [1e8])          # never exits early: full depth
    lazy = scorer.score([1e3] * 5 + [1e8])            # always exits at the first exit
    assert 0.0 <= eager[0] <= 1.0 and lazy[1] < eager[1]
    scorer._STATE['worker'].close()


def test_online_fraction_is_of_the_full_model_of_the_frames_run(tmp_path, capsys):
    # Held-out scene seeds, a short and a long prompt (full model 0.0061 vs 0.0149 GMAC): a
    # fraction of the calibration's mean full model ran at ~50% of the measured full model.
    import pathlib
    shipped = pathlib.Path(__file__).resolve().parents[2] / 'models' / 'tiny-metaworld'
    out = tmp_path / 'bench'
    code = main(['evaluate', '--checkpoint', str(shipped), '--tasks', 'drawer-close-v3',
                 'reach-v3', '--episodes-per-task', '1', '--seed', '100', '--max-steps', '60',
                 '--configs', 'online-0.33', '-o', str(out), '--no-progress'])
    assert code == 0, capsys.readouterr().out
    row = json.loads((out / 'results.json').read_text())['summaries'][0]
    assert row['config'] == 'online-0.33'
    assert abs(row['fraction_of_full'] - 0.33) < 0.04, row['fraction_of_full']


def test_deer_fraction_thresholds_are_solved_for_each_instructions_costs():
    import pathlib

    import numpy as np

    from deer_ros.evaluation.model_spec import ModelSpec
    from deer_ros.evaluation.runner import make_engine
    from deer_ros.evaluation.suite import build_suite, select
    from deer_ros.evaluation.thresholds import threshold_source
    from deer_ros.policies.calibration_file import load_calibration
    shipped = pathlib.Path(__file__).resolve().parents[2] / 'models' / 'tiny-metaworld'
    calibration = load_calibration(shipped / 'calibration.yaml')
    model = ModelSpec(checkpoint=str(shipped)).load()
    suite = build_suite(6, calibration.full_gmacs, threshold_source(calibration), (0.33,),
                        ('deer',))
    engine = make_engine(model, select(suite, ['deer-0.33'])[0], calibration)
    image = np.zeros((64, 64, 3), np.uint8)
    used = {}
    for text in ('close the drawer', 'reach the goal position'):
        engine.reset(text)
        record = engine.step(image, image)
        expected = calibration.thresholds_for_fraction(0.33, model.layer_gmacs(),
                                                       model.head_gmacs)
        assert record.thresholds[:5] == pytest.approx(expected[:5])
        assert record.budget_avg_gflops == pytest.approx(0.33 * record.full_gflops)
        used[text] = record.thresholds[:5]
    assert used['close the drawer'] != used['reach the goal position'], \
        'a shorter prompt makes heads relatively dearer: other thresholds for the same fraction'
