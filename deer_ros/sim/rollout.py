"""Demonstrations in MetaWorldSim, each returned as an Episode.

Scripted-expert episodes, and DAgger episodes (a trained policy acts, the expert labels).
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from deer_ros.data.recording import Episode
from deer_ros.sim.metaworld_sim import MAX_HAND_OFFSET_M, MetaWorldSim, Observation


LABELS = ('applied', 'expert')   # what a noisy demonstration records, see ExpertConfig.label


@dataclass(frozen=True)
class ExpertConfig:
    """How demonstrations are generated."""

    action_noise: float = 0.0   # std of Gaussian noise on the expert's xyz, action units [-1, 1]
    label: str = 'applied'      # 'applied': the noisy action; 'expert': the clean one (DART)
    start_jitter_m: Tuple[float, float, float] = (0.0, 0.0, 0.0)   # hand start +- x, y, z (m)
    noise_seed_offset: int = 7919   # noise RNG seed = episode seed + this (keeps streams apart)
    start_seed_offset: int = 104729   # start RNG seed = episode seed + this

    def __post_init__(self) -> None:
        if not 0.0 <= self.action_noise <= 1.0:
            raise ValueError('action_noise must be within [0, 1]')
        if self.label not in LABELS:
            raise ValueError(f'label must be one of {LABELS}, got {self.label!r}')
        jitter = tuple(float(j) for j in self.start_jitter_m)
        if len(jitter) != 3 or not all(0.0 <= j <= MAX_HAND_OFFSET_M for j in jitter):
            raise ValueError(f'start_jitter_m must be 3 values within [0, {MAX_HAND_OFFSET_M}] m')
        object.__setattr__(self, 'start_jitter_m', jitter)

    def hand_offset(self, seed: int) -> Optional[np.ndarray]:
        """The episode's hand start offset, uniform in +-start_jitter_m; None without jitter."""
        if not any(self.start_jitter_m):
            return None
        jitter = np.asarray(self.start_jitter_m)
        return np.random.default_rng(seed + self.start_seed_offset).uniform(-jitter, jitter)


def expert_episode(sim: MetaWorldSim, task: str, seed: int,
                   config: ExpertConfig = ExpertConfig(),
                   meta: Optional[dict] = None) -> Episode:
    """One expert demonstration of task from the scene drawn by seed.

    Frame t is the observation the action t was taken from. With action_noise > 0 the applied
    action is the expert's plus noise (clipped to [-1, 1]) and the expert closes the loop around
    its own perturbed motion, which diversifies the states it visits. label 'applied' records
    that noisy action; 'expert' records the expert's clean action at each state (DART, Laskey et
    al. 2017): the motion seen so far then no longer predicts the label, only the scene does,
    which keeps a cloned policy from copying its own past motion. start_jitter_m moves the
    hand's start per episode (reproducible from seed).
    """
    rng = np.random.default_rng(seed + config.noise_seed_offset)
    offset = config.hand_offset(seed)
    obs = sim.reset(task, seed, hand_offset=offset)
    statics, grippers, actions, states = [], [], [], []
    reward = 0.0
    while not sim.done:
        clean = sim.expert_action()
        action = clean.copy()
        if config.action_noise > 0.0:
            action[:3] = np.clip(action[:3] + rng.normal(0.0, config.action_noise, 3), -1.0, 1.0)
        statics.append(obs.static)
        grippers.append(obs.gripper)
        states.append(obs.state)
        actions.append(clean if config.label == 'expert' else action)
        result = sim.step(action)
        obs, reward = result.observation, result.reward
    info = {'seed': int(seed), 'steps': sim.steps, 'max_steps': sim.max_steps,
            'final_reward': float(reward), 'action_noise': config.action_noise,
            'label': config.label,
            'hand_offset_m': None if offset is None else [float(v) for v in offset],
            'control_dt_s': sim.control_dt_s, 'source': 'metaworld-expert'}
    info.update(meta or {})
    return Episode(instruction=sim.instruction, task=sim.spec.env_name,
                   static=np.stack(statics), gripper=np.stack(grippers),
                   actions=np.stack(actions).astype(np.float32), success=sim.success, meta=info,
                   state=np.stack(states))


Driver = Callable[[Observation], np.ndarray]   # observation -> 7-D action (model convention)


def relabelled_episode(sim: MetaWorldSim, task: str, seed: int, driver: Driver,
                       expert_mix: float = 0.0, meta: Optional[dict] = None) -> Episode:
    """One DAgger episode: `driver` (a trained policy) acts, the scripted expert labels.

    Frame t is the observation, action t the expert's clean action *at that state*, whoever
    acted: the data then covers the states the policy itself reaches, off the expert's path,
    with the correction the expert would make there (Ross et al., DAgger). With probability
    expert_mix a step is taken by the expert instead (DAgger's beta), so later phases of a task
    are still reached when the policy stalls. Failed episodes are as useful as successful ones.
    """
    if not 0.0 <= expert_mix <= 1.0:
        raise ValueError('expert_mix must be within [0, 1]')
    rng = np.random.default_rng(seed + ExpertConfig().noise_seed_offset)
    obs = sim.reset(task, seed)
    statics, grippers, labels, states = [], [], [], []
    expert_steps = 0
    while not sim.done:
        label = sim.expert_action()
        policy_action = driver(obs)       # always called: a recurrent driver sees every frame
        use_expert = rng.random() < expert_mix
        expert_steps += int(use_expert)
        statics.append(obs.static)
        grippers.append(obs.gripper)
        states.append(obs.state)
        labels.append(label)
        obs = sim.step(label if use_expert else policy_action).observation
    info = {'seed': int(seed), 'steps': sim.steps, 'max_steps': sim.max_steps,
            'control_dt_s': sim.control_dt_s, 'source': 'dagger',
            'expert_mix': float(expert_mix), 'expert_steps': expert_steps}
    info.update(meta or {})
    return Episode(instruction=sim.instruction, task=sim.spec.env_name,
                   static=np.stack(statics), gripper=np.stack(grippers),
                   actions=np.stack(labels).astype(np.float32), success=sim.success, meta=info,
                   state=np.stack(states))
