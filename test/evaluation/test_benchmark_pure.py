"""The benchmark's pure pieces: suite, summaries, target verdict, params files, pictures."""
import numpy as np
import yaml

from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.graph_params import (GraphConfig, deer_parameters, engine_parameters,
                                              graph_environment, params_yaml)
from deer_ros.evaluation.media import pick_frames, save_gif, save_strip
from deer_ros.evaluation.suite import build_suite, select
from deer_ros.evaluation.summary import check_target, summarise


def test_suite_has_baseline_fixed_exits_deer_online_and_skip_at_each_budget():
    suite = build_suite(6, 1.0, lambda g: [g] * 5 + [1e8], fractions=(0.25, 0.5))
    names = [c.name for c in suite]
    assert names[0] == 'full' and [f'fixed-{k}' for k in range(5)] == names[1:6]
    assert {'deer-0.25', 'online-0.25', 'deer-0.5', 'online-0.5', 'skip'} <= set(names)
    online, deer = select(suite, ['online-0.5', 'deer-0.5'])
    assert online.engine['budget_avg_fraction'] == 0.5, 'a fraction, not a fixed GMAC number'
    assert 'budget_avg_gflops' not in online.engine
    assert deer.engine['budget_avg_fraction'] == 0.5 and deer.engine['budget_gain'] == 0.0
    assert online.engine['thresholds'] == [0.5] * 5 + [1e8]
    skip = select(suite, ['skip-0.25'])[0]
    assert skip.engine == {'policy': 'full', 'skip_enabled': True, 'budget_avg_fraction': 0.25}
    assert skip.budget_fraction == 0.25 and skip.family == 'skip'


def _episode(config, task, success, gflops, full=1.0):
    n = len(gflops)
    return EpisodeResult(config, task, 0, success, n, full, list(gflops), [4] * n, [0] * n,
                         [1] * n, [10.0] * n)


def test_summary_averages_tasks_equally_and_compute_per_action():
    episodes = [_episode('a', 't1', True, [0.2, 0.4]), _episode('a', 't1', False, [0.3]),
                _episode('a', 't2', True, [0.1] * 7)]
    s = summarise('a', episodes, num_exits=2)
    assert s.success_rate == (0.5 + 1.0) / 2
    assert np.isclose(s.avg_gflops, (0.2 + 0.4 + 0.3 + 0.7) / 10)
    assert s.peak_gflops == 0.4 and s.exit_histogram == [0.0, 1.0]
    assert np.isclose(s.saving, 1.0 / s.avg_gflops)


def test_target_needs_three_times_less_compute_and_at_most_three_points_drop():
    full = summarise('full', [_episode('full', 't', True, [1.0])] * 50)
    cheap_ok = summarise('cheap', [_episode('cheap', 't', True, [0.3])] * 50)
    cheap_bad = summarise('worse', [_episode('worse', 't', True, [0.3])] * 48
                          + [_episode('worse', 't', False, [0.3])] * 2)   # -4 points
    checks = {c.config: c for c in check_target([full, cheap_ok, cheap_bad])}
    assert checks['cheap'].met and not checks['worse'].met


def test_deer_node_params_file_maps_engine_fields_and_keeps_doubles():
    cfg = GraphConfig(tasks=('reach-v3',), engine={'policy': 'deer', 'thresholds': [0.1, 1e8],
                                                   'budget_avg_gflops': 1, 'skip_enabled': True})
    flat = deer_parameters(cfg)
    assert flat['exit.thresholds'] == [0.1, 1e8] and flat['budget.avg_gflops'] == 1.0
    assert flat['skip.enabled'] is True and flat['autostart'] is True
    text = params_yaml('deer_node', flat)
    data = yaml.safe_load(text)['/**/deer_node']['ros__parameters']
    assert data['budget']['avg_gflops'] == 1.0 and 'avg_gflops: 1.0' in text
    assert engine_parameters({'thresholds': []}) == {}


def test_graph_environment_keeps_user_domain_and_isolates_otherwise():
    env = {'ROS_DOMAIN_ID': '7'}
    child = graph_environment(env)
    assert child['ROS_DOMAIN_ID'] == '7' and child['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert child['OMP_NUM_THREADS'] == '1'
    fresh: dict = {}
    graph_environment(fresh)
    assert 30 <= int(fresh['ROS_DOMAIN_ID']) < 90


def test_strip_and_gif_are_written(tmp_path):
    frames = [np.full((8, 8, 3), i * 20, np.uint8) for i in range(12)]
    assert len(pick_frames(frames, 5)) == 5 and pick_frames(frames, 5)[-1] is frames[-1]
    from PIL import Image
    strip = Image.open(save_strip(frames, tmp_path / 's.png', count=4, scale=2, gap_px=2))
    assert strip.size == ((4 * 10 - 2) * 2, 16)
    gif = Image.open(save_gif(frames, tmp_path / 'e.gif'))
    assert gif.n_frames == 12
