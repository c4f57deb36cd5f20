"""Scripted-expert demonstrations: run an expert in MetaWorldSim and return an Episode."""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from deer_ros.data.recording import Episode
from deer_ros.sim.metaworld_sim import MetaWorldSim


@dataclass(frozen=True)
class ExpertConfig:
    """How demonstrations are generated."""

    action_noise: float = 0.0   # std of Gaussian noise on the expert's xyz, action units [-1, 1]
    noise_seed_offset: int = 7919   # noise RNG seed = episode seed + this (keeps streams apart)

    def __post_init__(self) -> None:
        if not 0.0 <= self.action_noise <= 1.0:
            raise ValueError('action_noise must be within [0, 1]')


def expert_episode(sim: MetaWorldSim, task: str, seed: int,
                   config: ExpertConfig = ExpertConfig(),
                   meta: Optional[dict] = None) -> Episode:
    """One expert demonstration of task from the scene drawn by seed.

    Frame t is the observation the action t was taken from; the recorded action is the one
    actually applied (noise included, clipped to [-1, 1]). With action_noise > 0 the expert closes
    the loop around its own perturbed motion, which diversifies the states it visits.
    """
    rng = np.random.default_rng(seed + config.noise_seed_offset)
    obs = sim.reset(task, seed)
    statics, grippers, actions, states = [], [], [], []
    reward = 0.0
    while not sim.done:
        action = sim.expert_action()
        if config.action_noise > 0.0:
            action[:3] = np.clip(action[:3] + rng.normal(0.0, config.action_noise, 3), -1.0, 1.0)
        statics.append(obs.static)
        grippers.append(obs.gripper)
        states.append(obs.state)
        actions.append(action)
        result = sim.step(action)
        obs, reward = result.observation, result.reward
    info = {'seed': int(seed), 'steps': sim.steps, 'max_steps': sim.max_steps,
            'final_reward': float(reward), 'action_noise': config.action_noise,
            'control_dt_s': sim.control_dt_s, 'source': 'metaworld-expert'}
    info.update(meta or {})
    return Episode(instruction=sim.spec.instruction, task=sim.spec.env_name,
                   static=np.stack(statics), gripper=np.stack(grippers),
                   actions=np.stack(actions).astype(np.float32), success=sim.success, meta=info,
                   state=np.stack(states))
