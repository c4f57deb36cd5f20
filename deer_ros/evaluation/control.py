"""The shuffled-instruction control, read on the language-conditioned tasks only (pure).

In a language-conditioned task (TaskSpec.goals) the scene holds k targets and only the
instruction says which counts, so a policy told another target's instruction succeeds on at
most 1/k of the episodes if it ignores language, and on none if it follows it. Comparing
`full` with `full-shuffled` on those tasks (same scene seeds, paired) measures how much the
policy uses the instruction; the other tasks of a suite are left out of that comparison.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from deer_ros.evaluation.intervals import paired_bootstrap_delta
from deer_ros.evaluation.summary import ConfigSummary
from deer_ros.sim.tasks import get_task


@dataclass(frozen=True)
class ControlCheck:
    """One control configuration against the configuration told the right instruction."""

    config: str                  # e.g. 'full-shuffled'
    baseline: str                # e.g. 'full'
    tasks: Tuple[str, ...]       # the language-conditioned tasks both ran
    chance: float                # mean over those tasks of 1/k: ignoring language scores <= this
    given: float                 # baseline success on them (task mean), 0..1
    shuffled: float              # control success on them (task mean), 0..1
    delta: Optional[Tuple[float, float, float]]   # shuffled - given and its paired 95% interval


def _language_tasks(summary: ConfigSummary) -> List[str]:
    return [t for t in summary.task_counts if get_task(t).targets > 1]


def _mean_success(summary: ConfigSummary, tasks: Sequence[str]) -> float:
    rates = [summary.task_counts[t][0] / summary.task_counts[t][1] for t in tasks]
    return sum(rates) / len(rates)


def control_checks(summaries: Sequence[ConfigSummary], controls: Dict[str, str]
                   ) -> List[ControlCheck]:
    """controls: control configuration -> its baseline; checks on their common language tasks."""
    by_name = {s.config: s for s in summaries}
    out = []
    for name, baseline in controls.items():
        control, base = by_name.get(name), by_name.get(baseline)
        if control is None or base is None:
            continue
        tasks = [t for t in _language_tasks(control) if t in base.task_counts]
        if not tasks:
            continue
        keep = set(tasks)
        pick = {k: v for k, v in control.outcomes.items() if k[0] in keep}
        delta = paired_bootstrap_delta(pick, {k: v for k, v in base.outcomes.items()
                                              if k[0] in keep})
        chance = sum(1.0 / get_task(t).targets for t in tasks) / len(tasks)
        out.append(ControlCheck(name, baseline, tuple(tasks), chance, _mean_success(base, tasks),
                                _mean_success(control, tasks),
                                None if delta is None else (delta[0], *delta[1])))
    return out


def control_lines(checks: Sequence[ControlCheck]) -> str:
    """Markdown: one line per control, with the 1/k bound an instruction-blind policy meets."""
    if not checks:
        return 'no language-conditioned task in this run'
    lines = []
    for c in checks:
        diff = '' if c.delta is None else (
            f', difference {100 * c.delta[0]:+.1f} points '
            f'[paired 95% {100 * c.delta[1]:+.1f}, {100 * c.delta[2]:+.1f}]')
        lines.append(f'- `{c.config}` vs `{c.baseline}` on {", ".join(c.tasks)}: '
                     f'{100 * c.shuffled:.1f}% vs {100 * c.given:.1f}%{diff}; a policy that '
                     f'ignores the instruction can expect <= {100 * c.chance:.1f}% (1/k)')
    return '\n'.join(lines)
