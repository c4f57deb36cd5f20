"""Rendered scenes with privileged target positions: the samples of vision pretraining.

Each sample is a MetaWorld scene right after reset (every other one with the hand start
jittered, as `deer-ros record --start-jitter` does) with its object and goal positions, or the
object and every marker in a language-conditioned scene. The positions are simulator truth, for
training only: a real robot has no such input.
"""
import time
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

JITTER_M = (0.1, 0.08, 0.06)


def scene_targets(sim, width: int) -> np.ndarray:
    """Object + goal xyz, or object + every marker's xyz in a language scene; zero-padded."""
    markers = sim.markers()
    if len(markers):
        out = np.concatenate([sim.object_and_goal()[:3], markers.reshape(-1)])
    else:
        out = sim.object_and_goal()
    return np.pad(out, (0, width - len(out)))


def target_width(tasks: Sequence[str]) -> int:
    """Columns of scene_targets for these tasks: object xyz + xyz of the most targets (>= 2)."""
    from deer_ros.sim.tasks import get_task
    return 3 + 3 * max(2, max(get_task(t).targets for t in tasks))


def render_scenes(tasks: Sequence[str], per_task: int, seed: int, size: int,
                  log: Callable[[str], None] = print, progress: bool = False
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """static, gripper (N, S, S, 3) uint8, targets (N, D) float32, task index (N,).

    Scenes use seeds seed .. seed+per_task-1 of every task (keep them apart from evaluation's).
    """
    from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
    from deer_ros.sim.rollout import ExpertConfig
    sim = MetaWorldSim(SimConfig(static_size=size, gripper_size=size))
    jitter = ExpertConfig(start_jitter_m=JITTER_M)
    width = target_width(tasks)
    static: List[np.ndarray] = []
    gripper: List[np.ndarray] = []
    targets: List[np.ndarray] = []
    task_ids: List[int] = []
    bar: Optional[object] = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks) * per_task, unit='scene', desc='render scenes')
    try:
        for index, task in enumerate(tasks):
            start = time.perf_counter()
            for s in range(seed, seed + per_task):
                obs = sim.reset(task, s, hand_offset=jitter.hand_offset(s) if s % 2 else None)
                static.append(obs.static)
                gripper.append(obs.gripper)
                targets.append(scene_targets(sim, width))
                task_ids.append(index)
                if bar is not None:
                    bar.update(1)
            log(f'{task}: {per_task} scenes in {time.perf_counter() - start:.0f} s')
    finally:
        sim.close()
        if bar is not None:
            bar.close()
    return (np.stack(static), np.stack(gripper), np.stack(targets).astype(np.float32),
            np.array(task_ids))
