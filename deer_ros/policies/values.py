"""Value generation for calibration: per-exit consistency values of recorded frames.

For every frame of an episode (after `model.reset(instruction)`): one full pass of the kept
layers, the head on layer 0 and on every exit from the committed head state, and the values
v_k = criterion(pose(exit k), pose(exit k-1)) with exit 0's reference = layer 0 (as DeeR).

Which candidate is committed before the next frame (ours; DeeR feeds random-exit histories
from a zero state over training windows, which a segment API cannot replay):
  'last'   the deepest exit, i.e. the state the full model would carry (default);
  'random' an exit drawn uniformly with a seeded generator (closest to DeeR's Strategy-1 history).
"""
from dataclasses import dataclass, field
from typing import Iterable, List, Optional

import numpy as np

from deer_ros.model.api import SegmentModel
from deer_ros.policies.criterion import consistency_value

COMMIT_MODES = ('last', 'random')


@dataclass
class ValueSamples:
    """Accumulated calibration values, one column per frame."""

    columns: List[np.ndarray] = field(default_factory=list)   # each (N_exits,)
    layer_gmacs: List[np.ndarray] = field(default_factory=list)   # per episode (num_layers,)
    head_gmacs: float = 0.0

    @property
    def values(self) -> np.ndarray:
        """(N_exits, n) float64."""
        return np.stack(self.columns, axis=1) if self.columns else np.zeros((0, 0))

    def mean_layer_gmacs(self) -> List[float]:
        """Per-layer GMAC averaged over episodes (token counts differ per instruction)."""
        return [float(x) for x in np.mean(np.stack(self.layer_gmacs), axis=0)]


def frame_values(model: SegmentModel, static: np.ndarray, gripper: Optional[np.ndarray],
                 criterion: str = 'rms', commit_exit: Optional[int] = None,
                 state: Optional[np.ndarray] = None) -> np.ndarray:
    """One frame: full pass, candidates at layer 0 and every exit, commit one; -> (N_exits,).

    state: the frame's robot state, passed on for models whose head takes one.
    """
    exits = list(model.exit_layers)
    if state is not None and getattr(model, 'state_dim', 0):
        frame = model.encode(static, gripper, state=state)
    else:
        frame = model.encode(static, gripper)
    model.run_layers(frame, 0, exits[-1] + 1)
    ref = model.candidate(frame, 0)
    values, candidates = [], []
    for layer in exits:
        cand = model.candidate(frame, layer)
        values.append(consistency_value(cand.pose, ref.pose, criterion))
        candidates.append(cand)
        ref = cand
    model.commit(candidates[-1 if commit_exit is None else commit_exit])
    return np.asarray(values, dtype=np.float64)


def episode_values(model: SegmentModel, instruction: str, static: np.ndarray,
                   gripper: Optional[np.ndarray], samples: ValueSamples, criterion: str = 'rms',
                   commit: str = 'last', rng: Optional[np.random.Generator] = None,
                   warmup_frames: int = 0, stride: int = 1,
                   progress: Optional[Iterable] = None,
                   state: Optional[np.ndarray] = None) -> None:
    """Append the values of one episode's frames [warmup_frames::stride] to `samples`.

    Every frame is run (the head state must follow the rollout); only the sampled ones are kept.
    """
    if commit not in COMMIT_MODES:
        raise ValueError(f'commit must be one of {COMMIT_MODES}')
    model.reset(instruction)
    samples.layer_gmacs.append(np.asarray(model.layer_gmacs(), dtype=np.float64))
    samples.head_gmacs = float(model.head_gmacs)
    n_exits = len(model.exit_layers)
    for t in range(len(static)):
        pick = None
        if commit == 'random':
            pick = int((rng or np.random.default_rng(0)).integers(n_exits))
        values = frame_values(model, static[t], None if gripper is None else gripper[t],
                              criterion, pick, None if state is None else state[t])
        if t >= warmup_frames and (t - warmup_frames) % stride == 0:
            samples.columns.append(values)
        if progress is not None:
            progress.update(1)
