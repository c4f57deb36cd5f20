"""DeeR's online Bayesian optimisation of the thresholds (scikit-optimize), any scoring callable.

DeeR (`bayesian_optimization.py`): the budget is the average cost realised by the initial
thresholds; each threshold but the last (fixed, forced exit) is searched in a box around its
initial value; objective to minimise = -score + penalty * max(0, avg_cost - budget);
`skopt.gp_minimize(n_calls=20, random_state=seed, acq_func in {EI, LCB, PI})`, warm-started with
the initial point. Ours: the box is given as a relative radius (DeeR used +-0.02 for the first
threshold and +-0.002 for the others), and the scorer is any callable.

Scorer contract: `score(thresholds: List[float]) -> (score, avg_cost)` (a mapping with keys
'score' and 'avg_cost' is accepted too); higher score is better, avg_cost in the budget's unit.
"""
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

from deer_ros.policies.criterion import ALWAYS_EXIT

Scorer = Callable[[List[float]], Any]


@dataclass
class TuneResult:
    """Best thresholds found and every evaluation."""

    thresholds: List[float]
    objective: float
    score: float
    avg_cost: float
    budget: float
    history: List[dict] = field(default_factory=list)   # thresholds, score, avg_cost, objective


def _unpack(result: Any) -> Tuple[float, float]:
    if isinstance(result, dict):
        return float(result['score']), float(result['avg_cost'])
    score, cost = result
    return float(score), float(cost)


def objective(score: float, avg_cost: float, budget: float, penalty: float) -> float:
    """DeeR's objective: -score + penalty * max(0, avg_cost - budget)."""
    return -score + penalty * max(0.0, avg_cost - budget)


def load_scorer(path: str) -> Scorer:
    """Import 'package.module:function'."""
    if ':' not in path:
        raise ValueError(f"scorer must be 'module:function', got {path!r}")
    module, name = path.split(':', 1)
    return getattr(importlib.import_module(module), name)


def tune_thresholds(scorer: Scorer, initial: Sequence[float], budget: Optional[float] = None,
                    penalty: float = 1.0, n_calls: int = 20, radius: float = 0.5,
                    min_radius: float = 1e-3, acq_func: str = 'LCB', seed: int = 0,
                    callback: Optional[Callable[[dict], None]] = None) -> TuneResult:
    """Bayesian optimisation of thresholds[:-1] around `initial` (the last stays 1e8)."""
    from skopt import gp_minimize
    from skopt.space import Real

    initial = [float(t) for t in initial]
    searched = initial[:-1]
    if not searched:
        raise ValueError('need at least two exits to tune')
    history: List[dict] = []

    def evaluate(x: Sequence[float]) -> float:
        thresholds = [float(v) for v in x] + [ALWAYS_EXIT]
        score, cost = _unpack(scorer(thresholds))
        entry = {'thresholds': thresholds, 'score': score, 'avg_cost': cost}
        history.append(entry)
        entry['objective'] = objective(score, cost, budget_box[0], penalty)
        if callback is not None:
            callback(entry)
        return entry['objective']

    budget_box = [budget if budget is not None else 0.0]
    first_score, first_cost = _unpack(scorer(searched + [ALWAYS_EXIT]))
    if budget is None:
        budget_box[0] = first_cost            # DeeR: the initial run's cost is the budget
    y0 = objective(first_score, first_cost, budget_box[0], penalty)
    history.append({'thresholds': searched + [ALWAYS_EXIT], 'score': first_score,
                    'avg_cost': first_cost, 'objective': y0})
    space = [Real(t - max(abs(t) * radius, min_radius), t + max(abs(t) * radius, min_radius))
             for t in searched]
    gp_minimize(evaluate, space, x0=[searched], y0=[y0], n_calls=max(n_calls, 1),
                n_initial_points=min(5, max(n_calls, 1)), random_state=seed,
                acq_func=acq_func)
    best = min(history, key=lambda e: e['objective'])
    return TuneResult(thresholds=list(best['thresholds']), objective=best['objective'],
                      score=best['score'], avg_cost=best['avg_cost'], budget=budget_box[0],
                      history=history)
