r"""A `deer-ros tune` scorer: closed-loop success rate and average LLM GMAC of given thresholds.

    deer-ros tune --score deer_ros.evaluation.scorer:score --calibration cal.yaml \
        --budget-gflops 0.005

Contract (deer_ros.policies.tuning): score(thresholds) -> (score, avg_cost), higher score better.
Here score = success rate in [0, 1] over the episodes below (in-process, the same episodes for
every call, so calls are paired) and avg_cost = mean LLM GMAC per action. The scorer is set up
from environment variables (tune passes only thresholds):

    DEER_EVAL_CHECKPOINT   checkpoint (default: the shipped model, else DEER_EVAL_PRESET random)
    DEER_EVAL_PRESET       preset without a checkpoint (tiny)
    DEER_EVAL_TASKS        comma-separated tasks (default: all ten)
    DEER_EVAL_EPISODES     episodes per task (1)
    DEER_EVAL_SEED         first scene seed (0; use seeds apart from the final benchmark's)
    DEER_EVAL_MAX_STEPS    step limit (0: the task's)
    DEER_EVAL_BUDGET_GFLOPS  optional: also run the online controller at this average budget
"""
import os
from typing import Any, Dict, List, Optional, Tuple

from deer_ros.evaluation.model_spec import resolve_model
from deer_ros.evaluation.runner import EvalSettings, Worker, set_torch_threads
from deer_ros.evaluation.suite import EvalConfig

_STATE: Dict[str, Any] = {}


def settings_from_env(env: Optional[Dict[str, str]] = None) -> Tuple[Any, EvalSettings]:
    """(ModelSpec, EvalSettings) from the DEER_EVAL_* variables."""
    from deer_ros.sim.tasks import DEFAULT_TASKS, get_task
    env = dict(os.environ if env is None else env)
    spec = resolve_model(env.get('DEER_EVAL_CHECKPOINT', ''), env.get('DEER_EVAL_PRESET', 'tiny'))
    names = [t for t in env.get('DEER_EVAL_TASKS', '').split(',') if t.strip()] or DEFAULT_TASKS
    settings = EvalSettings(tasks=tuple(get_task(t.strip()).env_name for t in names),
                            episodes_per_task=int(env.get('DEER_EVAL_EPISODES', '1')),
                            seed=int(env.get('DEER_EVAL_SEED', '0')),
                            max_steps=int(env.get('DEER_EVAL_MAX_STEPS', '0')))
    return spec, settings


def _worker() -> Worker:
    if 'worker' not in _STATE:
        spec, settings = settings_from_env()
        set_torch_threads(settings.torch_threads)
        _STATE['worker'] = Worker(spec.load(), settings)
    return _STATE['worker']


def score(thresholds: List[float]) -> Tuple[float, float]:
    """(success rate, mean LLM GMAC per action) of DeeR with these thresholds."""
    worker = _worker()
    engine: Dict[str, Any] = {'policy': 'deer', 'thresholds': [float(t) for t in thresholds]}
    budget = float(os.environ.get('DEER_EVAL_BUDGET_GFLOPS', '0') or 0)
    if budget > 0:
        engine['budget_avg_gflops'] = budget
    config = EvalConfig('tune', 'online' if budget > 0 else 'deer', 'tune candidate', engine)
    results = [r for task in worker.settings.tasks for r in worker.run(config, task)]
    actions = [g for r in results for g in r.gflops]
    success = sum(r.success for r in results) / len(results)
    return float(success), float(sum(actions) / max(len(actions), 1))
