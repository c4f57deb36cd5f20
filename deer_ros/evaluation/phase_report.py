"""The summary's "Depth per phase" section (markdown, pure): which phases need depth (#25)."""
from typing import Dict, List, Sequence

from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.phases import depth_by_phase, failure_phases, PHASES
from deer_ros.evaluation.suite import EvalConfig

PER_FRAME = ('deer', 'online', 'skip')    # families that choose depth per frame
STATIC = ('full', 'fixed')                # families with one depth for every frame


def _header(first: str) -> List[str]:
    return [f'| {first} | ' + ' | '.join(PHASES) + ' |', '|---|' + '---:|' * len(PHASES)]


def per_frame_table(config: EvalConfig, episodes: Sequence[EpisodeResult]) -> str:
    """Tasks x phases: mean exit (skip: mean % of layers run) and the phase's share of actions."""
    skip = config.family == 'skip'
    lines = _header('task')
    for task, phases in depth_by_phase(episodes).items():
        cells = []
        for phase in PHASES:
            d = phases[phase]
            depth = f'{100 * d.mean_layers:.0f}% layers' if skip else f'exit {d.mean_exit:.2f}'
            cells.append('-' if d.actions == 0 else f'{depth} ({100 * d.share:.0f}%)')
        lines.append(f'| {task} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def failure_table(configs: Sequence[EvalConfig],
                  by_config: Dict[str, Sequence[EpisodeResult]]) -> str:
    """Tasks x phases: per static configuration, failed episodes whose last action was there."""
    counts = {c.name: failure_phases(by_config[c.name]) for c in configs}
    tasks = list(dict.fromkeys(t for c in counts.values() for t in c))
    lines = ['| task | ' + ' | '.join(PHASES) + ' | failed / episodes |',
             '|---|' + '---|' * (len(PHASES) + 1)]
    for task in tasks:
        cells = []
        for phase in PHASES:
            hits = [f'`{n}` {c[task][phase]}' for n, c in counts.items()
                    if task in c and c[task][phase]]
            cells.append(', '.join(hits) or '-')
        totals = [f'`{c.name}` {sum(not e.success for e in by_config[c.name] if e.task == task)}'
                  f'/{sum(e.task == task for e in by_config[c.name])}' for c in configs]
        lines.append(f'| {task} | ' + ' | '.join(cells) + ' | ' + ', '.join(totals) + ' |')
    return '\n'.join(lines)


def phase_section(results: Sequence[EpisodeResult], configs: Sequence[EvalConfig]) -> str:
    """'### Depth per phase': per-frame configurations' depth, static ones' failures, by phase."""
    by_config = {c.name: [r for r in results if r.config == c.name and r.phases]
                 for c in configs}
    parts = ['### Depth per phase', '',
             'Phases per action (docs/benchmark.md, "Phases"): approach, contact (hand near '
             'the object or closing on it), transport (object > 2 cm from where the hand found '
             'it); reach tasks are all approach. Cells: mean exit (skip: mean % of layers run) '
             "and the phase's share of the task's actions."]
    for config in configs:
        if config.family in PER_FRAME and by_config[config.name]:
            parts += ['', f'#### `{config.name}`', '',
                      per_frame_table(config, by_config[config.name])]
    static = [c for c in configs if c.family in STATIC and by_config[c.name]]
    if static:
        parts += ['', '#### Fixed depth: phase of the last action of each failed episode', '',
                  failure_table(static, by_config)]
    return '\n'.join(parts)
