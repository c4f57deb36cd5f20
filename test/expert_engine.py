"""The scripted expert behind InferenceEngine's reset/step, for tests of run_episode."""
from dataclasses import dataclass

import numpy as np


@dataclass
class _Record:
    action: np.ndarray
    gflops: float = 0.0
    layers_executed: int = 0
    layers_skipped: int = 0
    exit_index: int = 0
    latency_ms: float = 0.0


class ExpertEngine:
    """The scripted expert behind InferenceEngine's reset/step: follows what it is told."""

    full_gflops = 1.0

    def __init__(self, sim):
        self.sim, self.instruction = sim, ''

    def reset(self, instruction):
        self.instruction = instruction

    def step(self, static, gripper, t_received=0.0, state=None):
        return _Record(self.sim.expert_action(self.instruction))
