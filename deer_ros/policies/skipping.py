"""DySL-style layer skipping: static/dynamic layers, prior guidance, blocks (our implementation).

Published idea (DySL-VLA): "informative" (static) layers always run; "incremental" (dynamic)
layers are skipped in blocks, an adapter standing in for each block; skipping is allowed only
while the trajectory is continuous (prior guidance) and a skipped pass is verified afterwards
(post guidance). What is ours: the selection rule below, blocks split at exit boundaries, the
gripper rule's window, and the post-guidance check (see engine.py and docs/policies.md).

Static set from an offline analysis (`deer-ros analyze-layers`): for each layer, the mean cosine
similarity between its input and output hidden states over recorded frames; the layers that change
their input most (lowest similarity) are static, about 20% of them; layer 0 is always static (its
head output is the reference of the first exit). Blocks = maximal runs of consecutive dynamic
layers, split so that no block crosses an exit (an exit reads the output of its layer).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.policies.kinds import SkipReason

Block = Tuple[int, int]


def default_static_layers(num_layers: int, fraction: float = 0.2) -> List[int]:
    """Evenly spaced static layers (layer 0 first), used when no analysis is configured."""
    count = max(1, int(round(num_layers * fraction)))
    return sorted({int(x) for x in np.floor(np.arange(count) * num_layers / count)})


def skip_blocks(num_layers: int, static_layers: Sequence[int],
                exit_layers: Sequence[int] = ()) -> List[Block]:
    """[a, b) runs of dynamic layers between static layers, cut after every exit layer."""
    static = set(int(x) for x in static_layers)
    cuts = set(int(e) + 1 for e in exit_layers)
    blocks: List[Block] = []
    start = None
    for layer in range(num_layers + 1):
        dynamic = layer < num_layers and layer not in static
        if start is not None and (not dynamic or layer in cuts):
            blocks.append((start, layer))
            start = None
        if dynamic and start is None:
            start = layer
    return blocks


def blocks_in(blocks: Sequence[Block], start: int, stop: int) -> List[Block]:
    """The blocks lying inside [start, stop)."""
    return [(a, b) for a, b in blocks if a >= start and b <= stop]


def continuity(actions: Sequence[np.ndarray], k: int) -> Optional[float]:
    """C_t = -mean_j ||A_j - A_{j-1}|| over the pose dims of the last k actions (None if < k)."""
    if len(actions) < k:
        return None
    poses = np.asarray([np.asarray(a, dtype=np.float64)[:6] for a in list(actions)[-k:]])
    return -float(np.mean(np.linalg.norm(np.diff(poses, axis=0), axis=1)))


def gripper_changed(actions: Sequence[np.ndarray], window: int) -> bool:
    """True if the gripper command flipped between any two of the last window + 1 actions."""
    if window <= 0 or len(actions) < 2:
        return False
    grip = [float(np.asarray(a)[6]) > 0 for a in list(actions)[-(window + 1):]]
    return any(g != grip[0] for g in grip)


@dataclass(frozen=True)
class PriorDecision:
    """Whether this frame may skip, and why."""

    allowed: bool
    reason: SkipReason              # 'ok' | 'history' | 'continuity' | 'gripper_change'
    continuity: Optional[float]
    full_depth: bool = False        # gripper change: no skipping and no early exit


def prior_guidance(actions: Sequence[np.ndarray], history: int, continuity_min: float,
                   gripper_window: int) -> PriorDecision:
    """DySL's prior guidance on the actions already sent (newest last)."""
    c = continuity(actions, history)
    if gripper_changed(actions, gripper_window):
        return PriorDecision(False, 'gripper_change', c, full_depth=True)
    if c is None:
        return PriorDecision(False, 'history', None)
    if c < continuity_min:
        return PriorDecision(False, 'continuity', c)
    return PriorDecision(True, 'ok', c)


def layer_cosine_similarity(hidden: np.ndarray) -> np.ndarray:
    """(num_layers,) mean over tokens of cos(input, output) of each layer.

    hidden: (num_layers + 1, tokens, d) = [embedding, output of layer 0, ..., of the last].
    """
    hidden = np.asarray(hidden, dtype=np.float64)
    x, y = hidden[:-1], hidden[1:]
    num = np.sum(x * y, axis=-1)
    den = np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1) + 1e-12
    return np.mean(num / den, axis=-1)


def select_static_layers(similarity: Sequence[float], fraction: float = 0.2) -> List[int]:
    """Layer 0 plus the layers with the lowest input/output similarity, ~fraction of all."""
    sim = np.asarray(similarity, dtype=np.float64)
    count = max(1, int(round(len(sim) * fraction)))
    order = [int(i) for i in np.argsort(sim, kind='stable') if i != 0]
    return sorted([0] + order[:count - 1])
