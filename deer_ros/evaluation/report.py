"""Benchmark outputs: markdown tables, the success-vs-compute plot (PNG) and the raw JSON."""
import json
import pathlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from deer_ros.evaluation.control import control_checks, control_lines
from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.phase_report import phase_section
from deer_ros.evaluation.suite import EvalConfig
from deer_ros.evaluation.summary import (ConfigSummary, CurveCheck, TargetCheck,
                                         against_fixed_curve)
from deer_ros.sim.tasks import DEPTH_SUITE

STYLE = {'full': ('black', 's'), 'fixed': ('tab:gray', 'o'), 'deer': ('tab:blue', 'D'),
         'online': ('tab:orange', '^'), 'skip': ('tab:green', 'v'),
         'control': ('tab:red', 'x')}


def _pct(x: float) -> str:
    return f'{100.0 * x:.1f}'


def _ci(s: ConfigSummary) -> str:
    lo, hi = s.success_ci
    return f'{_pct(s.success_rate)} [{_pct(lo)}, {_pct(hi)}]'


def _delta(s: ConfigSummary) -> str:
    if s.delta_vs_full is None:
        return '-'
    point, lo, hi = (100.0 * v for v in s.delta_vs_full)
    return f'{point:+.1f} [{lo:+.1f}, {hi:+.1f}]'


def summary_table(summaries: Sequence[ConfigSummary], configs: Sequence[EvalConfig]) -> str:
    """The main table: success and compute per configuration."""
    described = {c.name: c.description for c in configs}
    lines = ['| configuration | what | success % [Wilson 95%] | vs full, points [paired 95%] | '
             'avg LLM GMAC / action | x less than full | '
             'peak GMAC | layers executed | layers skipped | latency ms mean / p95 | '
             'steps / episode |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for s in summaries:
        lines.append(
            f'| `{s.config}` | {described.get(s.config, "")} | {_ci(s)} | {_delta(s)} | '
            f'{s.avg_gflops:.5f} ({_pct(s.fraction_of_full)}%) | {s.saving:.2f} | '
            f'{s.peak_gflops:.5f} | {s.avg_layers:.2f} | {s.avg_skipped:.2f} | '
            f'{s.latency_ms_mean:.1f} / {s.latency_ms_p95:.1f} | {s.avg_steps:.1f} |')
    return '\n'.join(lines)


def task_table(summaries: Sequence[ConfigSummary]) -> str:
    """Success % per task (rows) and configuration (columns)."""
    tasks: List[str] = []
    for s in summaries:
        tasks += [t for t in s.task_success if t not in tasks]
    lines = ['| task | ' + ' | '.join(f'`{s.config}`' for s in summaries) + ' |',
             '|---|' + '---:|' * len(summaries)]
    for task in tasks:
        cells = ['%d/%d' % s.task_counts[task] if task in s.task_counts else '-'
                 for s in summaries]
        lines.append(f'| {task} | ' + ' | '.join(cells) + ' |')
    lines.append('| **mean %** | ' + ' | '.join(_pct(s.success_rate) for s in summaries) + ' |')
    return '\n'.join(lines)


def exit_table(summaries: Sequence[ConfigSummary]) -> str:
    """Where each configuration spent its depth: % of actions ending at each exit."""
    n = max((len(s.exit_histogram) for s in summaries), default=0)
    lines = ['| configuration | ' + ' | '.join(f'exit {k}' for k in range(n)) + ' |',
             '|---|' + '---:|' * n]
    for s in summaries:
        cells = [_pct(h) for h in s.exit_histogram] + ['-'] * (n - len(s.exit_histogram))
        lines.append(f'| `{s.config}` | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def curve_lines(checks: Sequence[CurveCheck]) -> str:
    """Each dynamic configuration vs the fixed-exit curve at the same average compute."""
    lines = ['| configuration | compute (fraction of full) | success % | fixed-exit curve there % '
             '| margin, points |', '|---|---:|---:|---:|---:|']
    for c in checks:
        fixed = '-' if c.fixed_at_same != c.fixed_at_same else _pct(c.fixed_at_same)
        margin = '-' if c.margin_pts != c.margin_pts else f'{c.margin_pts:+.1f}'
        lines.append(f'| `{c.config}` | {c.fraction_of_full:.3f} | {_pct(c.success)} | '
                     f'{fixed} | {margin} |')
    return '\n'.join(lines)


def target_lines(checks: Sequence[TargetCheck], baseline_success: float = 1.0) -> str:
    """Verdict on the target (>= 3x less compute, success within 3 points of full)."""
    met = [c for c in checks if c.met]
    if baseline_success <= 0:
        head = ('**Target not assessable**: the full model succeeded in no episode, so "within '
                '3 points of it" holds trivially; this run measures compute only.')
    elif met:
        best = met[0]
        head = (f'**Target met** by `{best.config}`: {best.saving:.2f}x less average LLM '
                f'compute, success {best.success_delta_pts:+.1f} points vs the full model.')
    else:
        head = '**Target not met** by any configuration.'
    rows = [f'- `{c.config}`: {c.saving:.2f}x less compute, success '
            f'{c.success_delta_pts:+.1f} points -> {"meets" if c.met else "misses"}'
            for c in checks if c.saving >= 1.5]
    return '\n'.join([head, ''] + rows)


def plot(summaries: Sequence[ConfigSummary], configs: Sequence[EvalConfig],
         path: pathlib.Path, title: str = '') -> pathlib.Path:
    """Success rate vs average LLM compute (fraction of the full model), one marker per config."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    family = {c.name: c.family for c in configs}
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    seen = set()
    static = sorted([s for s in summaries if family.get(s.config) in ('full', 'fixed')],
                    key=lambda s: s.fraction_of_full)
    if static:
        ax.plot([s.fraction_of_full for s in static], [100 * s.success_rate for s in static],
                color='tab:gray', lw=1, zorder=1)
    for s in summaries:
        fam = family.get(s.config, 'fixed')
        color, marker = STYLE[fam]
        lo, hi = s.success_ci
        if lo == lo:      # Wilson 95% as an error bar
            ax.errorbar(s.fraction_of_full, 100 * s.success_rate,
                        yerr=[[100 * max(0.0, s.success_rate - lo)],      # task mean vs
                              [100 * max(0.0, hi - s.success_rate)]],     # pooled interval
                        color=color, lw=0.8, capsize=2, alpha=0.6, zorder=2)
        ax.scatter(s.fraction_of_full, 100 * s.success_rate, color=color, marker=marker, s=50,
                   zorder=3, label=None if fam in seen else fam)
        seen.add(fam)
    y_lo, y_hi = _y_range(summaries)
    row = 0.045 * (y_hi - y_lo)                 # one label row, in % of success
    for s, (level, base) in zip(summaries, label_levels(summaries)):
        point = (s.fraction_of_full, 100 * s.success_rate)
        ax.annotate(s.config, point, (point[0] + 0.01, 100 * base + 0.3 * row + level * row),
                    fontsize=7, arrowprops={'arrowstyle': '-', 'lw': 0.4, 'alpha': 0.5}
                    if level else None)
    ax.axvline(1 / 3, color='tab:red', ls=':', lw=1, label='3x less than full')
    ax.set_xlabel('average LLM compute per action (fraction of the full model)')
    ax.set_ylabel('success rate (%), bars: Wilson 95%')
    ax.set_xlim(0, 1.1)
    ax.set_ylim(y_lo, y_hi)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='lower right')
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def label_levels(summaries: Sequence[ConfigSummary], near_x: float = 0.13,
                 near_y: float = 0.03) -> List[Tuple[int, float]]:
    """(level, base success rate) per label, so that labels of close markers stack.

    A label sits `level` rows above the highest of the markers close to its own, on the lowest
    row that no close marker's label holds.
    """
    points = [(s.fraction_of_full, s.success_rate) for s in summaries]
    levels: List[int] = []
    out = []
    for i, (x, y) in enumerate(points):
        close = [j for j, (px, py) in enumerate(points)
                 if abs(px - x) < near_x and abs(py - y) < near_y]
        taken = {levels[j] for j in close if j < i}
        levels.append(next(lv for lv in range(len(points) + 1) if lv not in taken))
        out.append((levels[-1], max(points[j][1] for j in close)))
    return out


def _y_range(summaries: Sequence[ConfigSummary]) -> Tuple[float, float]:
    """Success axis (%) around the data and its intervals, with room for stacked labels."""
    values = [100 * v for s in summaries for v in (s.success_rate, *s.success_ci) if v == v]
    if not values:
        return -3.0, 103.0
    lo, hi = min(values), max(values)
    rows = max(level for level, _ in label_levels(summaries)) + 1
    top = max(hi + 3.0, 100 * max(s.success_rate for s in summaries) + 2.0 + 2.5 * rows)
    return max(-3.0, lo - 5.0), min(112.0, top)


def write_outputs(out_dir: pathlib.Path, results: Sequence[EpisodeResult],
                  summaries: Sequence[ConfigSummary], configs: Sequence[EvalConfig],
                  checks: Sequence[TargetCheck], header: Dict[str, Any],
                  title: str = '') -> Dict[str, pathlib.Path]:
    """results.json, summary.md and success_vs_compute.png under out_dir; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'json': out_dir / 'results.json', 'markdown': out_dir / 'summary.md',
             'plot': out_dir / 'success_vs_compute.png'}
    with open(paths['json'], 'w') as stream:
        json.dump({'header': header, 'configs': [c.__dict__ for c in configs],
                   'summaries': [s.to_dict() for s in summaries],
                   'target': [c.__dict__ for c in checks],
                   'episodes': [r.to_dict() for r in results]}, stream, indent=1)
    paths['markdown'].write_text(markdown(summaries, configs, checks, header, results) + '\n')
    plot(summaries, configs, paths['plot'], title)
    return paths


def markdown(summaries: Sequence[ConfigSummary], configs: Sequence[EvalConfig],
             checks: Sequence[TargetCheck], header: Optional[Dict[str, Any]] = None,
             results: Sequence[EpisodeResult] = ()) -> str:
    """The whole summary as markdown (header lines, tables, verdict).

    With results from depth-suite tasks that carry phases, a "Depth per phase" section follows.
    """
    parts = []
    for key, value in (header or {}).items():
        parts.append(f'- {key}: {value}')
    families = {c.name: c.family for c in configs}
    parts += ['', summary_table(summaries, configs), '',
              '### Success per task (successes / episodes)', '', task_table(summaries), '',
              '### Exit taken (% of actions)', '', exit_table(summaries), '',
              '### Against the fixed-exit curve at equal compute', '',
              curve_lines(against_fixed_curve(summaries, families)), '', '### Target', '',
              target_lines(checks, next((s.success_rate for s in summaries
                                         if s.config == 'full'), 1.0))]
    controls = {c.name: 'full' for c in configs if c.instruction == 'shuffled'}
    if controls:
        parts += ['', '### Shuffled-instruction control (language-conditioned tasks)', '',
                  control_lines(control_checks(summaries, controls))]
    if any(r.phases and r.task in DEPTH_SUITE for r in results):
        parts += ['', phase_section(results, configs)]
    return '\n'.join(parts)
