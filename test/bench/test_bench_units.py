"""Pure helpers of the benchmarks: overrides, statistics, analytic costs, tables."""
import pytest

from deer_ros.bench.models import apply_overrides, bench_config, parse_overrides
from deer_ros.bench.report import table
from deer_ros.bench.timing import PhaseTimer, summarize


def test_overrides_replace_nested_fields_with_the_current_type():
    cfg = apply_overrides(bench_config('tiny'), parse_overrides(['lm.d_model=128',
                                                                 'exit_layers=3,11']))
    assert cfg.lm.d_model == 128 and cfg.exit_layers == (3, 11)


@pytest.mark.parametrize('item', ['lm.d_model', 'lm.nope=3', 'lm.d_model=abc'])
def test_bad_overrides_are_rejected_with_the_key(item):
    with pytest.raises(ValueError):
        apply_overrides(bench_config('tiny'), parse_overrides([item]))


def test_summary_statistics():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.n == 5 and s.median_ms == 3.0 and s.min_ms == 1.0 and s.p95_ms > 4.0


def test_phase_timer_sums_repeated_phases():
    timer = PhaseTimer('cpu')
    timer.start()
    timer.mark('a')
    timer.mark('b')
    timer.mark('a')
    out = timer.finish()
    assert set(out) == {'a', 'b', 'total'}
    assert out['total'] == pytest.approx(out['a'] + out['b'])


def test_analytic_costs_of_deer_3b_match_the_reference_table():
    from deer_ros.bench.costs import run_costs
    result = run_costs(['deer-3b'], 14.0)
    p = result['presets'][0]
    assert p['exit_gmacs'][-1] == pytest.approx(16.09, abs=0.01)     # notes §10, L = 14
    assert p['exit_gmacs'][0] == pytest.approx(2.68, abs=0.01)


def test_markdown_table_shape():
    text = table(['a', 'b'], [[1, 0.5], ['x', None]])
    assert text.splitlines()[1] == '|---|---|' and '–' in text
