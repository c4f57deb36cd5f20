"""Teacher-forced per-axis R^2 of a checkpoint's xyz command on recorded demonstrations.

Why: closed-loop success mixes perception and drift. Fed the demonstration's own frames (and
robot state), the model's xyz command is compared with the recorded one per task: an axis with
R^2 near 0 is one the model does not infer from what it sees (docs/benchmark.md uses this for the
shipped mini model's sideways command).

  PYTHONPATH=. .venv/bin/python dev/action_r2.py models/mini-metaworld runs/calib-s64 \
      --episodes 10 --stride 3
"""
import argparse
from typing import Dict, List

import numpy as np
import torch

from deer_ros.data.recording import list_episodes, read_episode
from deer_ros.model.build import rollout_from_checkpoint


def axis_r2(checkpoint: str, data: str, episodes: int, stride: int) -> Dict[str, np.ndarray]:
    """Task -> R^2 of x, y, z over every frame of the chosen episodes (full depth, last exit)."""
    model = rollout_from_checkpoint(checkpoint, device='cpu')
    predicted: Dict[str, List[np.ndarray]] = {}
    recorded: Dict[str, List[np.ndarray]] = {}
    for path in list_episodes(data)[::stride][:episodes]:
        ep = read_episode(path)
        model.reset(ep.instruction)
        for t in range(len(ep)):
            state = None if ep.state is None else ep.state[t]
            gripper = None if ep.gripper is None else ep.gripper[t]
            frame = model.encode(ep.static[t], gripper, state=state)
            model.run_layers(frame, 0, model.num_layers)
            candidate = model.candidate(frame, model.num_layers - 1)
            model.commit(candidate)
            predicted.setdefault(ep.task, []).append(np.asarray(candidate.action)[:3])
            recorded.setdefault(ep.task, []).append(ep.actions[t, :3])
    out = {}
    for task in sorted(predicted):
        p, r = np.array(predicted[task]), np.array(recorded[task])
        out[task] = 1.0 - ((p - r) ** 2).mean(0) / np.maximum(r.var(0), 1e-6)
    return out


def main() -> None:
    """Print one line per task."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint')
    parser.add_argument('data', help='a recording (deer-ros record)')
    parser.add_argument('--episodes', type=int, default=10)
    parser.add_argument('--stride', type=int, default=1, help='every Nth episode')
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for task, r2 in axis_r2(args.checkpoint, args.data, args.episodes, args.stride).items():
        print(f'{task:26s} R^2 x {r2[0]:+.2f}  y {r2[1]:+.2f}  z {r2[2]:+.2f}')


if __name__ == '__main__':
    main()
