"""The benchmark's 95% intervals: Wilson per configuration, paired bootstrap against full."""
import numpy as np
import pytest

from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.intervals import (interpolate_curve, paired_bootstrap_delta,
                                           wilson_interval)
from deer_ros.evaluation.report import markdown, plot
from deer_ros.evaluation.suite import EvalConfig
from deer_ros.evaluation.summary import against_fixed_curve, summarise_all


@pytest.mark.parametrize('k, n, lo, hi', [
    (16, 20, 0.5840, 0.9193),      # textbook values (Wilson 1927 / Newcombe 1998 method 3)
    (0, 20, 0.0, 0.1611),
    (20, 20, 0.8389, 1.0),
    (81, 263, 0.2553, 0.3662),     # Newcombe's example, 95%
])
def test_wilson_interval_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-4)


def test_wilson_interval_contains_the_rate_and_narrows_with_more_episodes():
    for k, n in [(1, 5), (3, 20), (60, 100)]:
        lo, hi = wilson_interval(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert np.diff(wilson_interval(40, 50)) < np.diff(wilson_interval(8, 10))
    assert all(np.isnan(wilson_interval(0, 0)))
    for n in range(1, 60):          # exact at the ends (3/3 and 0/6 once gave 1e-17 off)
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
        assert all(lo <= k / n <= hi for k in range(n + 1)
                   for lo, hi in [wilson_interval(k, n)])
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def test_paired_bootstrap_sees_a_consistent_drop_that_unpaired_noise_would_hide():
    rng = np.random.default_rng(1)
    full = {('t', s): bool(rng.random() < 0.6) for s in range(100)}
    worse = dict(full)
    for key in list(full)[:10]:          # 10 of 100 shared episodes flip to failure
        worse[key] = False
    point, (lo, hi) = paired_bootstrap_delta(worse, full, seed=0)
    flipped = sum(full[k] for k in list(full)[:10]) / 100
    assert point == pytest.approx(-flipped)
    assert hi <= 0.0 <= 0.0 - lo          # the whole interval is a drop (or zero)
    same, (slo, shi) = paired_bootstrap_delta(full, full)
    assert same == 0.0 and slo == shi == 0.0
    assert paired_bootstrap_delta({('a', 0): True}, {('b', 0): True}) is None


def test_fixed_curve_is_interpolated_not_extrapolated():
    assert interpolate_curve([0.2, 1.0, 0.6], [0.5, 0.9, 0.7], 0.4) == pytest.approx(0.6)
    assert np.isnan(interpolate_curve([0.2, 1.0], [0.5, 0.9], 0.1))


def _episodes(config, outcomes, gflops):
    return [EpisodeResult(config, task, seed, ok, 3, 1.0, [gflops] * 3, [4] * 3, [0] * 3,
                          [0] * 3, [1.0] * 3) for (task, seed), ok in outcomes.items()]


def test_table_and_plot_carry_the_intervals(tmp_path):
    full = {('t1', s): s % 5 != 0 for s in range(20)} | {('t2', s): True for s in range(20)}
    fixed = {k: v and k[1] % 2 == 0 for k, v in full.items()}
    deer = {k: v and k[1] != 1 for k, v in full.items()}
    results = (_episodes('full', full, 1.0) + _episodes('fixed-0', fixed, 0.2)
               + _episodes('deer-0.33', deer, 0.3))
    summaries = summarise_all(results, ['full', 'fixed-0', 'deer-0.33'], num_exits=2)
    full_s = summaries[0]
    assert (full_s.successes, full_s.episodes) == (36, 40)
    assert full_s.success_ci == pytest.approx(wilson_interval(36, 40))
    deer_s = summaries[2]
    assert deer_s.delta_vs_full[0] == pytest.approx(-1 / 20)   # seed 1 lost in each task
    configs = [EvalConfig('full', 'full', 'full model'), EvalConfig('fixed-0', 'fixed', 'x'),
               EvalConfig('deer-0.33', 'deer', 'y')]
    curve = against_fixed_curve(summaries, {c.name: c.family for c in configs})
    assert [c.config for c in curve] == ['deer-0.33']
    assert curve[0].fixed_at_same == pytest.approx(np.interp(0.3, [0.2, 1.0], [
        summaries[1].success_rate, full_s.success_rate]))
    text = markdown(summaries, configs, [])
    lo, hi = full_s.success_ci
    assert f'90.0 [{100 * lo:.1f}, {100 * hi:.1f}]' in text
    assert '| t1 | 16/20 |' in text and 'Exit taken' in text and 'margin' in text
    assert plot(summaries, configs, tmp_path / 'p.png').stat().st_size > 1000
    # every episode failed (a held-out task): the plot is drawn, not refused
    failed = summarise_all(_episodes('full', {('t', s): False for s in range(6)}, 1.0),
                           ['full'], num_exits=2)
    assert plot(failed, configs[:1], tmp_path / 'zero.png').stat().st_size > 1000


def test_labels_of_close_markers_are_stacked_and_far_ones_are_not():
    from deer_ros.evaluation.report import label_levels
    results = (_episodes('full', {('t', s): s < 8 for s in range(10)}, 1.0)
               + _episodes('deer-0.33', {('t', s): s < 8 for s in range(10)}, 0.30)
               + _episodes('online-0.33', {('t', s): s < 8 for s in range(10)}, 0.32)
               + _episodes('skip-0.33', {('t', s): s < 8 for s in range(10)}, 0.33))
    summaries = summarise_all(results, ['full', 'deer-0.33', 'online-0.33', 'skip-0.33'],
                              num_exits=2)
    levels = [level for level, _ in label_levels(summaries)]
    assert levels[0] == 0                                  # full, alone at 1.0
    assert sorted(levels[1:]) == [0, 1, 2], 'three markers within 0.03 of compute: three rows'
