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


def test_summary_has_the_tail():
    s = summarize(list(range(1, 101)))
    assert s.p99_ms == pytest.approx(99.01) and s.max_ms == 100.0


def test_node_bench_fails_a_tail_behind_a_good_median():
    from deer_ros.bench.node import tail_verdicts
    steady = {'model_ms': {'median_ms': 5.0, 'p99_ms': 9.0},
              'arrival_to_publish_ms': {'median_ms': 12.0, 'p99_ms': 30.0}}
    assert all(tail_verdicts(steady).values())
    spiky = dict(steady, model_ms={'median_ms': 5.0, 'p99_ms': 2500.0})
    assert tail_verdicts(spiky) == {'model_ms_tail': False, 'arrival_to_publish_ms_tail': True}


def test_auto_cpu_threads_leave_a_core_for_the_executor():
    from deer_ros.ros_io.model_loader import intra_op_threads
    assert [intra_op_threads(0, cores) for cores in (1, 2, 4, 16)] == [1, 1, 2, 4]
    assert intra_op_threads(3, 2) == 3
