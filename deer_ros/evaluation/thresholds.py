"""DeeR thresholds for the benchmark: a calibration YAML, or one made on the fly in the sim.

On the fly = `deer-ros calibrate` without the recording step: scripted-expert episodes are run
in MetaWorldSim (scene seeds CALIBRATION_SEED_OFFSET + e, disjoint from the evaluation seeds),
every frame goes through the model (values.episode_values, commit 'last') and the budgets are
solved by the same code (Calibration.solve).
"""
import pathlib
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from deer_ros.policies.calibration_file import Calibration, load_calibration

CALIBRATION_SEED_OFFSET = 1000


def calibrate_in_sim(model: Any, sim: Any, tasks: Sequence[str], episodes_per_task: int = 1,
                     seed: int = 0, use_gripper_camera: bool = True, criterion: str = 'rms',
                     prior: str = 'exp', progress: Optional[Any] = None) -> Calibration:
    """Consistency values of expert demonstrations of `tasks` -> a Calibration (no budgets)."""
    from deer_ros.policies.values import ValueSamples, episode_values
    from deer_ros.sim.rollout import expert_episode
    samples = ValueSamples()
    seeds = [seed + CALIBRATION_SEED_OFFSET + e for e in range(episodes_per_task)]
    for task in tasks:
        for s in seeds:
            episode = expert_episode(sim, task, s)
            episode_values(model, episode.instruction, episode.static,
                           episode.gripper if use_gripper_camera else None, samples,
                           criterion=criterion, commit='last', state=episode.state)
            if progress is not None:
                progress.update(1)
    return Calibration(exit_layers=list(model.exit_layers),
                       layer_gmacs=samples.mean_layer_gmacs(), head_gmacs=samples.head_gmacs,
                       values=samples.values, criterion=criterion, prior=prior,
                       source={'data': 'expert episodes in MetaWorldSim (on the fly)',
                               'tasks': list(tasks), 'seeds': seeds,
                               'frames': int(samples.values.shape[1])})


def load_checked(path: pathlib.Path, num_exits: int) -> Calibration:
    """Load a calibration YAML and check it matches the model's exits."""
    calibration = load_calibration(path)
    if len(calibration.exit_layers) != num_exits:
        raise ValueError(f'calibration {path} has {len(calibration.exit_layers)} exits, the '
                         f'model {num_exits}')
    return calibration


def threshold_source(calibration: Calibration, solve: bool = True):
    """A function budget_gmacs -> thresholds: solved for that exact budget, or the nearest stored.

    solve=True solves every budget from the stored values (exactly the requested target);
    solve=False uses the YAML's stored budgets (what deer_node does with model.calibration).
    """
    def thresholds_for(target_gmacs: float) -> list:
        if solve and calibration.values.size:
            return list(calibration.solve(target_gmacs=target_gmacs).thresholds)
        return list(calibration.thresholds_for(target_gmacs))
    return thresholds_for


def describe(calibration: Calibration, targets: Iterable[float]) -> str:
    """Lines with the realised calibration compute of each target (for logs and docs)."""
    lines = []
    for target in targets:
        solution = calibration.solve(target_gmacs=target)
        lines.append(f'  target {target:.4g} GMAC -> realised {solution.realised_gmacs:.4g} on '
                     f'{calibration.values.shape[1]} frames, thresholds '
                     f'{np.round(solution.thresholds[:-1], 4).tolist()}')
    return '\n'.join(lines)
