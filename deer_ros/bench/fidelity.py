"""Fidelity of reduced precision: DeeR's exits and actions in bf16 / fp16 against fp32.

Same weights and frames: one rollout whose autocast precision is switched between passes (a
second copy of deer-9b would not fit beside the first). Each frame starts from the zero head
state, runs every layer and evaluates the head at layer 0 and every exit; DeeR's decision then
follows from the candidates with thresholds set to the fp32 median consistency value of each exit
(so about half the frames exit at each check). Per precision: exit flips against fp32, the
difference of the action taken (each at its own exit, so a flip counts) and of each exit's
pose. fp32 against itself is the determinism check: no flips, no difference.
"""
from typing import Any, Dict, List, Sequence

import numpy as np

from deer_ros.bench.models import INSTRUCTION, camera_images
from deer_ros.policies.criterion import consistency_values, should_exit


def _candidates(rollout: Any, images: Sequence[Any]) -> np.ndarray:
    """(N+1, 7) pose and gripper probability at layer 0 and every exit, zero head state."""
    rollout.reset(INSTRUCTION)
    frame = rollout.encode(images[0], images[1])
    rollout.run_layers(frame, 0, rollout.exit_layers[-1] + 1)
    cands = [rollout.candidate(frame, layer) for layer in [0, *rollout.exit_layers]]
    return np.stack([np.append(c.pose, c.gripper_prob) for c in cands]).astype(np.float64)


def _exit(values: np.ndarray, thresholds: Sequence[float]) -> int:
    last = len(values) - 1
    return next(k for k, v in enumerate(values) if should_exit(v, thresholds[k], k == last))


def run_fidelity(rollout: Any, precisions: List[str], frames: int, height: int, width: int,
                 seed: int) -> Dict[str, Any]:
    """Exit flips and pose differences per precision against fp32 (JSON-ready)."""
    clips = [camera_images(2, height, width, seed + 1 + i) for i in range(frames)]
    kept = rollout.precision
    out: Dict[str, Any] = {}
    try:
        rollout.precision = 'fp32'
        ref = [_candidates(rollout, c) for c in clips]
        values = np.stack([consistency_values(r[:, :6]) for r in ref])       # (F, N)
        thresholds = [float(t) for t in np.median(values, axis=0)]
        ref_exits = [_exit(v, thresholds) for v in values]
        for name in ['fp32', *[p for p in precisions if p != 'fp32']]:
            rollout.precision = name
            got = [_candidates(rollout, c) for c in clips]
            exits = [_exit(consistency_values(g[:, :6]), thresholds) for g in got]
            taken = np.stack([np.abs(g[e + 1] - r[f + 1]) for g, r, e, f
                              in zip(got, ref, exits, ref_exits)])          # (F, 7)
            per_exit = np.max(np.stack([np.abs(g - r)[:, :6] for g, r in zip(got, ref)]),
                              axis=(0, 2))                                    # (N+1,)
            out[name] = dict(frames=frames, exit_flips=int(sum(a != b for a, b
                                                               in zip(exits, ref_exits))),
                             mean_exit=float(np.mean(exits)),
                             fp32_mean_exit=float(np.mean(ref_exits)),
                             mean_exit_shift=float(np.mean(np.subtract(exits, ref_exits))),
                             pose_max_abs=float(taken[:, :6].max()),
                             pose_mean_abs=float(taken[:, :6].mean()),
                             gripper_max_abs=float(taken[:, 6].max()),
                             per_exit_pose_max_abs=[float(x) for x in per_exit[1:]],
                             exits=exits)
            out[name]['flip_rate'] = out[name]['exit_flips'] / frames
    finally:
        rollout.precision = kept
    return dict(thresholds=thresholds, fp32_exits=ref_exits, precisions=out)
