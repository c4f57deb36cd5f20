"""DeeR's exit criterion: consistency of the shared head's pose between consecutive exits.

Reproduces DeeR-VLA's `ActionValueNet` (mode 'infer') and `ExitController.forward`:

* the value at exit k is a distance between the 6 pose outputs of the head at exit k and at the
  previous exit of the same frame; the first exit compares against the head on layer 0;
* DeeR's default distance ('L2' in its code) is the root-mean-square over the 6 pose dims, not the
  Euclidean norm; 'mean' (mean |d|) and 'max' (max |d|) are the paper's alternatives;
* the gripper output is ignored;
* a frame exits at exit k iff value <= threshold[k] (DeeR's `leq=True`), or when k is the deepest
  allowed exit (forced exit).
"""
from typing import Callable, Dict, Sequence

import numpy as np

NEVER_EXIT = -1e8       # DeeR's threshold for an exit calibration gives no samples to
ALWAYS_EXIT = 1e8       # DeeR's threshold of the last allowed exit

_DISTANCES: Dict[str, Callable[[np.ndarray], float]] = {
    'rms': lambda d: float(np.sqrt(np.mean(d * d))),
    'mean': lambda d: float(np.mean(np.abs(d))),
    'max': lambda d: float(np.max(np.abs(d))),
}
CRITERIA = tuple(_DISTANCES)


def consistency_value(pose: np.ndarray, ref_pose: np.ndarray, kind: str = 'rms') -> float:
    """Distance between two (6,) pose outputs: 'rms' (DeeR default), 'mean' or 'max' of |d|."""
    if kind not in _DISTANCES:
        raise ValueError(f'unknown criterion {kind!r}; choose one of {CRITERIA}')
    a = np.asarray(pose, dtype=np.float64).reshape(-1)[:6]
    b = np.asarray(ref_pose, dtype=np.float64).reshape(-1)[:6]
    if a.shape != (6,) or b.shape != (6,):
        raise ValueError(f'poses must have 6 values, got {a.shape} and {b.shape}')
    return _DISTANCES[kind](a - b)


def consistency_values(poses: np.ndarray, kind: str = 'rms') -> np.ndarray:
    """Values of consecutive rows of (N+1, 6) poses [layer 0, exit 1, ..., exit N] -> (N,)."""
    poses = np.asarray(poses, dtype=np.float64)
    return np.array([consistency_value(poses[k + 1], poses[k], kind)
                     for k in range(len(poses) - 1)])


def should_exit(value: float, threshold: float, is_deepest_allowed: bool) -> bool:
    """DeeR's decision: exit iff value <= threshold, or this is the deepest allowed exit."""
    return bool(is_deepest_allowed or value <= threshold)


def first_exit_taken(values: Sequence[float], thresholds: Sequence[float]) -> int:
    """Index of the exit a frame takes given its per-exit values (the last one is forced)."""
    last = len(values) - 1
    for k, value in enumerate(values):
        if should_exit(value, thresholds[k] if k < len(thresholds) else ALWAYS_EXIT, k == last):
            return k
    return last
