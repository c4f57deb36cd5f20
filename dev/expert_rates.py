"""Scripted-expert success per task, told the episode's instruction and (language tasks) another.

The measurement behind docs/benchmark.md's expert table: the ceiling a cloned policy can reach
on each task, and the shuffled-instruction control applied to the expert itself (it follows
what it is told, so it must drop to <= 1/k, by construction 0). Nothing is rendered (the expert
reads the simulator state, not the images; software rendering is ~90% of a step's time here).
`deer-ros record --suite depth` on the same seeds gives the same "given" counts (it renders and
writes the episodes too).

  PYTHONPATH=. .venv/bin/python dev/expert_rates.py --suite depth --seed 1000 --episodes 20
"""
import argparse
import time

import numpy as np

from deer_ros.evaluation.intervals import wilson_interval
from deer_ros.sim.metaworld_sim import MetaWorldSim, Observation, SimConfig
from deer_ros.sim.tasks import SUITES, get_task, suite_tasks

BLANK = np.zeros((1, 1, 3), np.uint8)


class StateOnlySim(MetaWorldSim):
    """MetaWorldSim without cameras: observations carry blank 1x1 images."""

    def observe(self) -> Observation:
        """The episode's state, no rendering."""
        return Observation(BLANK, BLANK, self.spec.env_name, self.instruction, self.steps,
                           self.robot_state())


def _episode(sim: MetaWorldSim, task: str, seed: int, shuffled: bool) -> bool:
    sim.reset(task, seed)
    told = sim.control_instruction(seed) if shuffled else sim.instruction
    while not sim.done:
        sim.step(sim.expert_action(told))
    return sim.success


def main() -> None:
    """Print one markdown row per task (and control)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--suite', default='depth', choices=sorted(SUITES))
    parser.add_argument('--tasks', nargs='+', default=None, help='instead of the suite')
    parser.add_argument('--seed', type=int, default=1000)
    parser.add_argument('--episodes', type=int, default=20)
    args = parser.parse_args()
    sim = StateOnlySim(SimConfig())
    print('| task | k | told | expert success | Wilson 95% | wall s |')
    print('|---|---:|---|---:|---:|---:|')
    try:
        for task in args.tasks or suite_tasks(args.suite):
            k = get_task(task).targets
            for shuffled in ((False, True) if k > 1 else (False,)):
                start = time.monotonic()
                wins = sum(_episode(sim, task, args.seed + e, shuffled)
                           for e in range(args.episodes))
                lo, hi = wilson_interval(wins, args.episodes)
                print(f'| {task} | {k} | {"another target" if shuffled else "its target"} | '
                      f'{wins}/{args.episodes} | {100 * lo:.0f}-{100 * hi:.0f}% | '
                      f'{time.monotonic() - start:.0f} |', flush=True)
    finally:
        sim.close()


if __name__ == '__main__':
    main()
