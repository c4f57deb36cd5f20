"""DeeR's threshold calibration (§4.1 of the DeeR notes), plus a solver for the prior's q.

From per-exit consistency values of recorded frames (one column per frame, one row per exit):

1. exit proportions p_k from a prior over the N allowed exits (k = 1..N):
   'exp'   p_k ∝ q^k                      (DeeR's default; q = `exit_ratio`)
   'gauss' p_k ∝ exp(-(k - 1 - q)^2 / 2)  (DeeR's 0-based index i = k - 1, centre q, sigma 1)
   'gamma' p_k ∝ Gamma pdf(k; shape q, scale 2)
2. greedy sequential quantiles (DeeR's `ExitController.set_threshold`, leq=True): for k = 1..N-1,
   walk the frames not yet exited in ascending order of value k; T_k is the value of the
   floor(n * p_k)-th of them (n = all frames); if that rank is 0 or beyond the frames left, T_k
   stays -1e8 (never exit); frames with value_k <= T_k are marked exited. T_N = 1e8.
3. ours: given a target average compute, solve for q so that the average realised on the
   calibration frames under the resulting thresholds hits it (DeeR sweeps q by hand).

Compute of a frame exiting at exit k (0-based): the LLM layers 0..exit_layers[k] plus k + 2 head
evaluations (layer 0 reference and exits 0..k), in GMAC (DeeR's "GFLOPs" count MACs).
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from deer_ros.policies.criterion import ALWAYS_EXIT, NEVER_EXIT

PRIORS = ('exp', 'gauss', 'gamma')


def exit_proportions(num_exits: int, q: float, prior: str = 'exp',
                     disable_first: bool = False) -> np.ndarray:
    """Normalised exit proportions p_k (k = 1..num_exits) of DeeR's priors."""
    if num_exits < 1:
        raise ValueError('need at least one exit')
    k = np.arange(1, num_exits + 1, dtype=np.float64)
    if prior == 'exp':
        if q <= 0:
            raise ValueError(f'q must be > 0 for the exp prior, got {q}')
        probs = np.exp(k * math.log(q) - np.max(k * math.log(q)))   # q^k, overflow-safe
    elif prior == 'gauss':
        probs = np.exp(-((k - 1.0) - q) ** 2 / 2.0)
    elif prior == 'gamma':
        if q <= 0:
            raise ValueError(f'gamma shape must be > 0, got {q}')
        probs = np.exp((q - 1.0) * np.log(k) - k / 2.0 - math.lgamma(q) - q * math.log(2.0))
    else:
        raise ValueError(f'unknown prior {prior!r}; choose one of {PRIORS}')
    if disable_first:          # DeeR's 9B model: no exit after the first exit
        probs[0] = 0.0
    total = probs.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f'prior {prior}({q}) has no mass over {num_exits} exits')
    return probs / total


def greedy_thresholds(values: np.ndarray, proportions: Sequence[float]) -> np.ndarray:
    """DeeR's greedy sequential quantile thresholds for values (N_exits, n) -> (N_allowed,)."""
    values = np.asarray(values, dtype=np.float64)
    n_allowed = len(proportions)
    if values.ndim != 2 or values.shape[0] < n_allowed:
        raise ValueError(f'values must be (>= {n_allowed}, n), got {values.shape}')
    n = values.shape[1]
    thresholds = np.full(n_allowed, NEVER_EXIT)
    exited = np.zeros(n, dtype=bool)
    for k in range(n_allowed - 1):
        out_n = math.floor(n * float(proportions[k]))
        order = np.argsort(values[k], kind='stable')
        remaining = order[~exited[order]]
        if 1 <= out_n <= len(remaining):
            thresholds[k] = values[k, remaining[out_n - 1]]
        exited |= values[k] <= thresholds[k]
    thresholds[-1] = ALWAYS_EXIT
    return thresholds


def exit_costs(exit_layers: Sequence[int], layer_gmacs: Sequence[float],
               head_gmacs: float) -> np.ndarray:
    """GMAC of a frame that exits at each exit (layers up to it + the criterion's head evals)."""
    cum = np.cumsum(np.asarray(layer_gmacs, dtype=np.float64))
    return np.array([cum[layer] + (k + 2) * head_gmacs for k, layer in enumerate(exit_layers)])


def taken_exits(values: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Exit index each frame takes: first k with value <= T_k, else the last allowed (n,)."""
    values = np.asarray(values, dtype=np.float64)
    n_allowed = len(thresholds)
    fires = values[:n_allowed] <= np.asarray(thresholds, dtype=np.float64)[:, None]
    fires[-1] = True
    return np.argmax(fires, axis=0)


def realised_average(values: np.ndarray, thresholds: Sequence[float],
                     costs: Sequence[float]) -> float:
    """Average cost (costs[k] per frame exiting at k) of the frames under the thresholds."""
    return float(np.mean(np.asarray(costs, dtype=np.float64)[taken_exits(values, thresholds)]))


def expected_average(proportions: Sequence[float], costs: Sequence[float]) -> float:
    """The prior's expected cost, sum_k p_k costs[k] (e.g. costs = layers -> average layers)."""
    return float(np.dot(np.asarray(proportions, dtype=np.float64),
                        np.asarray(costs, dtype=np.float64)[:len(proportions)]))


@dataclass(frozen=True)
class BudgetSolution:
    """Thresholds calibrated for one average-compute target."""

    target_gmacs: float            # requested average LLM GMAC per action
    q: float                       # solved prior parameter
    prior: str                     # 'exp' | 'gauss' | 'gamma'
    thresholds: List[float]        # per allowed exit; the last is 1e8 (forced exit)
    proportions: List[float]       # prior's p_k
    realised_gmacs: float          # average on the calibration frames under `thresholds`
    expected_gmacs: float          # sum_k p_k cost_k
    expected_layers: float         # sum_k p_k (exit_layers[k] + 1), DeeR's "average exit"

    @property
    def relative_error(self) -> float:
        """(realised - target) / target."""
        return (self.realised_gmacs - self.target_gmacs) / self.target_gmacs


def thresholds_for_q(values: np.ndarray, q: float, prior: str = 'exp',
                     num_allowed: Optional[int] = None) -> np.ndarray:
    """DeeR's calibration for a given prior parameter (what `--exit_ratio q` does)."""
    n_allowed = num_allowed or np.asarray(values).shape[0]
    return greedy_thresholds(values, exit_proportions(n_allowed, q, prior))


def solve_budget(values: np.ndarray, exit_layers: Sequence[int], layer_gmacs: Sequence[float],
                 head_gmacs: float, target_gmacs: float, prior: str = 'exp',
                 num_allowed: Optional[int] = None, q_range=(1e-3, 1e3)) -> BudgetSolution:
    """Find the prior parameter whose thresholds realise `target_gmacs` on the frames.

    Bisection on log q (the realised average grows with q), then the best of the bisection path
    and a log-spaced grid is kept, since the realised average is a step function of q.
    """
    values = np.asarray(values, dtype=np.float64)
    n_allowed = num_allowed or values.shape[0]
    costs = exit_costs(exit_layers[:n_allowed], layer_gmacs, head_gmacs)
    lo, hi = (math.log(q_range[0]), math.log(q_range[1])) if prior != 'gauss' else \
        (-2.0, float(n_allowed + 1))
    to_q = math.exp if prior != 'gauss' else float

    def realised(x: float) -> float:
        try:
            thresholds = thresholds_for_q(values, to_q(x), prior, n_allowed)
        except ValueError:          # no prior mass over the exits at this parameter
            return math.nan
        return realised_average(values, thresholds, costs)

    tried = {}
    for x in np.linspace(lo, hi, 41):
        tried[float(x)] = realised(float(x))
    a, b = lo, hi
    for _ in range(50):
        mid = 0.5 * (a + b)
        tried[mid] = realised(mid)
        if math.isnan(tried[mid]):
            a = mid
        elif tried[mid] < target_gmacs:
            a = mid
        else:
            b = mid
    tried = {x: r for x, r in tried.items() if not math.isnan(r)}
    best = min(tried, key=lambda x: (abs(tried[x] - target_gmacs), x))
    q = to_q(best)
    probs = exit_proportions(n_allowed, q, prior)
    thresholds = greedy_thresholds(values, probs)
    layers = np.asarray(exit_layers[:n_allowed], dtype=np.float64) + 1.0
    return BudgetSolution(target_gmacs=float(target_gmacs), q=float(q), prior=prior,
                          thresholds=[float(t) for t in thresholds],
                          proportions=[float(p) for p in probs],
                          realised_gmacs=float(tried[best]),
                          expected_gmacs=expected_average(probs, costs),
                          expected_layers=expected_average(probs, layers))
