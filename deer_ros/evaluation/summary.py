"""Aggregate EpisodeResults per configuration (pure numpy).

Compute is per action, averaged over every action of every episode of the configuration
(episodes that end early weigh less, as on a robot). Success is averaged per task first, then
over tasks (every task weighs the same). Intervals (deer_ros.evaluation.intervals): Wilson 95%
on each success count; paired bootstrap 95% on each configuration's difference from `full`.
"""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.intervals import (interpolate_curve, paired_bootstrap_delta,
                                           wilson_interval)


@dataclass
class ConfigSummary:
    """One row of the benchmark table."""

    config: str
    episodes: int
    success_rate: float                       # mean over tasks of the per-task rate, 0..1
    task_success: Dict[str, float] = field(default_factory=dict)   # task -> rate 0..1
    avg_gflops: float = 0.0                   # LLM GMAC per action, mean
    peak_gflops: float = 0.0                  # max over actions
    full_gmacs: float = 0.0                   # the full model's GMAC (mean over actions)
    avg_layers: float = 0.0                   # layers executed per action
    avg_skipped: float = 0.0                  # layers skipped per action
    latency_ms_mean: float = 0.0              # engine latency per action (this machine)
    latency_ms_p95: float = 0.0
    avg_steps: float = 0.0                    # actions per episode
    exit_histogram: List[float] = field(default_factory=list)   # fraction of actions per exit
    successes: int = 0                        # successful episodes (all tasks)
    success_ci: Tuple[float, float] = (float('nan'), float('nan'))   # Wilson 95%, 0..1
    task_counts: Dict[str, Tuple[int, int]] = field(default_factory=dict)   # task -> (k, n)
    delta_vs_full: Optional[Tuple[float, float, float]] = None   # paired: point, lo, hi (0..1)
    outcomes: Dict[Tuple[str, int], bool] = field(default_factory=dict, repr=False)

    @property
    def fraction_of_full(self) -> float:
        """avg_gflops / full model's GMAC."""
        return self.avg_gflops / self.full_gmacs if self.full_gmacs > 0 else float('nan')

    @property
    def saving(self) -> float:
        """How many times less compute than the full model (full / avg)."""
        return self.full_gmacs / self.avg_gflops if self.avg_gflops > 0 else float('inf')

    def to_dict(self) -> dict:
        """JSON-friendly dict with the derived fields."""
        out = asdict(self)
        out.pop('outcomes')
        out.update(fraction_of_full=self.fraction_of_full, saving=self.saving)
        return out


def summarise(config: str, episodes: Sequence[EpisodeResult],
              num_exits: Optional[int] = None) -> ConfigSummary:
    """The summary of one configuration's episodes."""
    if not episodes:
        return ConfigSummary(config, 0, float('nan'))
    by_task: Dict[str, List[bool]] = {}
    for e in episodes:
        by_task.setdefault(e.task, []).append(e.success)
    task_success = {t: float(np.mean(v)) for t, v in by_task.items()}
    successes = int(sum(e.success for e in episodes))
    gflops = np.concatenate([np.asarray(e.gflops, float) for e in episodes])
    full = np.concatenate([np.full(len(e.gflops), e.full_gmacs) for e in episodes])
    layers = np.concatenate([np.asarray(e.layers, float) for e in episodes])
    skipped = np.concatenate([np.asarray(e.skipped, float) for e in episodes])
    latency = np.concatenate([np.asarray(e.latency_ms, float) for e in episodes])
    exits = np.concatenate([np.asarray(e.exits, int) for e in episodes])
    n_exits = num_exits or (int(exits.max()) + 1 if exits.size else 0)
    histogram = (np.bincount(exits, minlength=n_exits) / max(exits.size, 1)).tolist() \
        if exits.size else []
    empty = gflops.size == 0
    return ConfigSummary(
        config=config, episodes=len(episodes),
        success_rate=float(np.mean(list(task_success.values()))), task_success=task_success,
        avg_gflops=0.0 if empty else float(gflops.mean()),
        peak_gflops=0.0 if empty else float(gflops.max()),
        full_gmacs=0.0 if empty else float(full.mean()),
        avg_layers=0.0 if empty else float(layers.mean()),
        avg_skipped=0.0 if empty else float(skipped.mean()),
        latency_ms_mean=0.0 if empty else float(latency.mean()),
        latency_ms_p95=0.0 if empty else float(np.percentile(latency, 95)),
        avg_steps=float(np.mean([e.steps for e in episodes])),
        exit_histogram=[float(x) for x in histogram], successes=successes,
        success_ci=wilson_interval(successes, len(episodes)),
        task_counts={t: (int(sum(v)), len(v)) for t, v in by_task.items()},
        outcomes={(e.task, int(e.seed)): bool(e.success) for e in episodes})


def summarise_all(results: Sequence[EpisodeResult], order: Sequence[str],
                  num_exits: Optional[int] = None) -> List[ConfigSummary]:
    """One summary per configuration name in `order`, with its paired difference from `full`."""
    summaries = [summarise(name, [r for r in results if r.config == name], num_exits)
                 for name in order]
    base = next((s for s in summaries if s.config == 'full'), None)
    for s in summaries:
        if base is not None and s is not base:
            delta = paired_bootstrap_delta(s.outcomes, base.outcomes)
            if delta is not None:
                s.delta_vs_full = (delta[0], delta[1][0], delta[1][1])
    return summaries


@dataclass(frozen=True)
class CurveCheck:
    """A dynamic configuration against the fixed-exit curve at its own average compute."""

    config: str
    fraction_of_full: float   # its average compute
    success: float            # its success rate, 0..1
    fixed_at_same: float      # the fixed-exit curve (full included) interpolated there; nan: out
    margin_pts: float         # success - fixed_at_same, percentage points


def against_fixed_curve(summaries: Sequence[ConfigSummary], families: Dict[str, str]
                        ) -> List[CurveCheck]:
    """Every non-static configuration compared with the static (fixed + full) curve."""
    static = [s for s in summaries if families.get(s.config) in ('full', 'fixed') and s.episodes]
    xs = [s.fraction_of_full for s in static]
    ys = [s.success_rate for s in static]
    out = []
    for s in summaries:
        if families.get(s.config) in ('full', 'fixed', 'control') or not s.episodes:
            continue
        at = interpolate_curve(xs, ys, s.fraction_of_full)
        out.append(CurveCheck(s.config, s.fraction_of_full, s.success_rate, at,
                              100.0 * (s.success_rate - at)))
    return out


@dataclass(frozen=True)
class TargetCheck:
    """The issue's target: >= 3x less average LLM compute, success within 3 points of full."""

    config: str
    saving: float             # full / avg compute
    success_delta_pts: float  # success(config) - success(full), percentage points
    met: bool


def check_target(summaries: Sequence[ConfigSummary], baseline: str = 'full',
                 min_saving: float = 3.0, max_drop_pts: float = 3.0) -> List[TargetCheck]:
    """Every non-baseline configuration checked against the target, best candidates first."""
    base = next((s for s in summaries if s.config == baseline), None)
    if base is None:
        return []
    checks = []
    for s in summaries:
        if s.config == baseline or s.episodes == 0:
            continue
        delta = 100.0 * (s.success_rate - base.success_rate)
        checks.append(TargetCheck(s.config, s.saving, delta,
                                  s.saving >= min_saving and delta >= -max_drop_pts))
    return sorted(checks, key=lambda c: (not c.met, -c.success_delta_pts, -c.saving))
