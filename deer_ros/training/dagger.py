"""A trained checkpoint as the acting policy of DAgger collection (`deer-ros record --policy`).

Behaviour cloning from expert demonstrations alone fails in closed loop when small errors take
the arm to states no demonstration visited: the shipped mini model succeeded as often on its own
training scenes as on new ones (docs/training.md), so the failures are not unseen scenes. DAgger
records the states the policy itself reaches, labelled with the scripted expert's action there.
"""
from typing import Optional

import numpy as np

from deer_ros.sim.metaworld_sim import Observation


class CheckpointDriver:
    """Full depth, last exit, one call per frame; a new episode (step 0) resets the history."""

    def __init__(self, checkpoint: str, device: str = 'cpu', threads: Optional[int] = None):
        import torch

        from deer_ros.model.build import rollout_from_checkpoint
        if threads:
            torch.set_num_threads(threads)
        self.model = rollout_from_checkpoint(checkpoint, device=device)

    def __call__(self, obs: Observation) -> np.ndarray:
        """The model's 7-D action for this observation."""
        if obs.step == 0 or self.model.instruction != obs.instruction:
            self.model.reset(obs.instruction)
        frame = self.model.encode(obs.static, obs.gripper, state=obs.state)
        last = self.model.num_layers - 1
        self.model.run_layers(frame, 0, self.model.num_layers)
        candidate = self.model.candidate(frame, last)
        self.model.commit(candidate)
        return np.asarray(candidate.action, dtype=np.float32)
