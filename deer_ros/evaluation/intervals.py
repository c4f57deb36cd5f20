"""95% confidence intervals for closed-loop success rates (pure numpy).

Two questions, two tools:
* "how good is this configuration?": the Wilson score interval of its success count. Unlike
  the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n, which is
  where a 20-episode benchmark lives.
* "is configuration A within 3 points of the full model?": every configuration runs the same
  episodes (task x seed), so the difference is paired; the paired bootstrap resamples episodes
  (within each task, so every task keeps its weight) and reads the 2.5 / 97.5 percentiles of
  the mean difference. Pairing removes the scene-to-scene variance both share.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

Z95 = 1.959963984540054     # two-sided 95% normal quantile
Interval = Tuple[float, float]


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a binomial proportion, (lo, hi) in [0, 1]; (nan, nan) if n == 0."""
    if n <= 0:
        return float('nan'), float('nan')
    if not 0 <= successes <= n:
        raise ValueError(f'successes {successes} outside 0..{n}')
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)     # exact at the ends: rounding
    hi = 1.0 if successes == n else min(1.0, centre + half)     # left 1e-17 there
    return lo, hi


def paired_bootstrap_delta(a: Dict[Tuple[str, int], bool], b: Dict[Tuple[str, int], bool],
                           resamples: int = 2000, seed: int = 0,
                           level: float = 0.95) -> Optional[Tuple[float, Interval]]:
    """Mean over tasks of success(a) - success(b) and its paired-bootstrap interval.

    a, b: (task, seed) -> success. Only episodes both ran are used; None when there are none.
    Each resample draws, per task, that task's episodes with replacement (the same draw for a
    and b), so the statistic matches the benchmark's task-averaged success rate.
    """
    keys = sorted(set(a) & set(b))
    if not keys:
        return None
    by_task: Dict[str, np.ndarray] = {}
    for task in sorted({k[0] for k in keys}):
        rows = [k for k in keys if k[0] == task]
        by_task[task] = np.array([float(a[k]) - float(b[k]) for k in rows])
    point = float(np.mean([d.mean() for d in by_task.values()]))
    rng = np.random.default_rng(seed)
    means = np.zeros(resamples)
    for d in by_task.values():
        idx = rng.integers(0, len(d), (resamples, len(d)))
        means += d[idx].mean(axis=1)
    means /= len(by_task)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return point, (float(lo), float(hi))


def interpolate_curve(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """The piecewise-linear curve through (xs, ys), read at x; nan outside its x range.

    The fixed-exit curve is only known between its shallowest and deepest point: no
    extrapolation, so a dynamic configuration cheaper than every fixed exit is not compared.
    """
    order = np.argsort(xs)
    xs_sorted, ys_sorted = np.asarray(xs, float)[order], np.asarray(ys, float)[order]
    if len(xs_sorted) == 0 or x < xs_sorted[0] or x > xs_sorted[-1]:
        return float('nan')
    return float(np.interp(x, xs_sorted, ys_sorted))
