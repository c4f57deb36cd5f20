"""ExampleModel: a deterministic numpy SegmentModel with a simulated clock and GPU memory.

For tests, examples and controller simulations (no torch). Per frame, a target pose a* and a
direction z come from the image content; the head's pose after `depth` executed layers is
a* + difficulty * z * decay^depth, so consistency values shrink with depth. Skipped layers add no
depth (identity adapters). Latency and memory follow settable `load` and `external_mb`.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.model.api import Candidate
from deer_ros.telemetry import MemorySample


class SimClock:
    """A clock that only moves when told (seconds)."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        """Current time, seconds."""
        return self.now

    def advance_ms(self, ms: float) -> None:
        """Move time forward by ms milliseconds."""
        self.now += ms / 1e3


@dataclass
class ExampleFrame:
    """Frame state of ExampleModel: effective depth of each computed layer's output."""

    target: np.ndarray                 # (6,) a*
    direction: np.ndarray              # (6,)
    difficulty: float
    gripper_prob: float
    depth: Dict[int, int] = field(default_factory=dict)     # layer -> executed layers so far
    hidden: Optional[np.ndarray] = None                     # (L + 1, tokens, d)

    @property
    def layers_done(self) -> int:
        """Next layer to run."""
        return max(self.depth) + 1 if self.depth else 0


class ExampleModel:
    """Deterministic SegmentModel; see the module docstring."""

    def __init__(self, num_layers: int = 12, exit_layers: Sequence[int] = (1, 3, 5, 7, 9, 11),
                 seed: int = 0, decay: float = 0.7, difficulty: float = 1.0,
                 clock: Optional[SimClock] = None, vision_ms: float = 5.0,
                 layer_ms: float = 1.0, head_ms: float = 0.1, jitter: float = 0.0,
                 base_mb: float = 1000.0, layer_mb: float = 100.0, total_mb: float = 8000.0,
                 layer_gmac: float = 1.3, head_gmac: float = 0.041) -> None:
        self.num_layers = num_layers
        self.exit_layers: Tuple[int, ...] = tuple(exit_layers)
        self.seed, self.decay, self.difficulty = seed, decay, difficulty
        self.clock = clock or SimClock()
        self.vision_ms, self.layer_ms, self.head_ms, self.jitter = \
            vision_ms, layer_ms, head_ms, jitter
        self.load = 1.0                    # latency multiplier (machine load)
        self.base_mb, self.layer_mb, self.total_mb = base_mb, layer_mb, total_mb
        self.external_mb = 0.0             # other processes on the device
        self._layer_gmac, self._head_gmac = layer_gmac, head_gmac
        self._resident = len(self.exit_layers) - 1
        self._rng = np.random.default_rng(seed)
        self.commits: List[int] = []
        self.instruction = ''
        self.calls: List[tuple] = []       # ('run', start, stop, skip) / ('head', layer)

    # --- SegmentModel -----------------------------------------------------------------------
    def reset(self, instruction: str) -> None:
        """Start a rollout."""
        self.instruction = instruction
        self.commits = []

    def encode(self, static: np.ndarray, gripper: Optional[np.ndarray] = None) -> ExampleFrame:
        """Derive the frame's target and direction from the image content."""
        key = int(np.asarray(static, dtype=np.int64).sum()) % (2 ** 31)
        rng = np.random.default_rng([self.seed, key])
        target = rng.uniform(-0.5, 0.5, 6)
        direction = rng.normal(0.0, 1.0, 6)
        difficulty = self.difficulty * float(np.exp(rng.normal(0.0, 0.5)))
        grip = 0.8 if target[0] > 0 else 0.2
        self._spend(self.vision_ms)
        return ExampleFrame(target, direction, difficulty, grip)

    def run_layers(self, frame: ExampleFrame, start: int, stop: int,
                   skip: Sequence[Tuple[int, int]] = ()) -> None:
        """Advance depth for executed layers; skipped layers copy their input's depth."""
        if stop - 1 > self.exit_layers[self._resident]:
            raise RuntimeError(f'layer {stop - 1} is not resident')
        if start != 0 and start - 1 not in frame.depth:
            raise RuntimeError(f'layer {start - 1} has not run')
        self.calls.append(('run', start, stop, tuple(skip)))
        depth = frame.depth.get(start - 1, 0)
        for layer in range(start, stop):
            if not any(a <= layer < b for a, b in skip):
                depth += 1
                self._spend(self.layer_ms)
            frame.depth[layer] = depth
        for layer in [x for x in frame.depth if x >= stop]:
            del frame.depth[layer]

    def candidate(self, frame: ExampleFrame, layer: int) -> Candidate:
        """Head pose after the layer's effective depth."""
        self.calls.append(('head', layer))
        self._spend(self.head_ms)
        depth = frame.depth[layer]
        pose = frame.target + frame.difficulty * frame.direction * self.decay ** depth
        return Candidate(layer=layer, pose=np.clip(pose, -1, 1).astype(np.float32),
                         gripper_prob=frame.gripper_prob, state=layer)

    def commit(self, candidate: Candidate) -> None:
        """Remember which layer's state was committed."""
        self.commits.append(int(candidate.layer))

    def layer_gmacs(self) -> List[float]:
        """Constant GMAC per layer."""
        return [self._layer_gmac] * self.num_layers

    @property
    def head_gmacs(self) -> float:
        """GMAC of a head evaluation."""
        return self._head_gmac

    @property
    def resident_exit(self) -> int:
        """Deepest resident exit."""
        return self._resident

    def set_resident_exit(self, exit_index: int) -> None:
        """Shed / reload layers."""
        self._resident = int(np.clip(exit_index, 0, len(self.exit_layers) - 1))

    def synchronize(self) -> None:
        """Nothing queued."""

    # --- simulation helpers -----------------------------------------------------------------
    @property
    def resident_layers(self) -> int:
        """Layers on the (simulated) device."""
        return self.exit_layers[self._resident] + 1

    @property
    def process_mb(self) -> float:
        """Simulated memory held by the model."""
        return self.base_mb + self.resident_layers * self.layer_mb

    def memory_sample(self) -> MemorySample:
        """A MemorySample of the simulated device."""
        used = self.process_mb + self.external_mb
        return MemorySample(active=True, process_mb=self.process_mb, device_used_mb=used,
                            device_free_mb=self.total_mb - used, device_total_mb=self.total_mb,
                            allocated_mb=self.process_mb, reason='simulated')

    def memory_source(self) -> 'ExampleMemorySource':
        """A MemorySource reading this model's simulated device."""
        return ExampleMemorySource(self)

    def _spend(self, ms: float) -> None:
        factor = 1.0 + self.jitter * float(self._rng.uniform(-1.0, 1.0)) if self.jitter else 1.0
        self.clock.advance_ms(ms * self.load * factor)


class ExampleMemorySource:
    """MemorySource over an ExampleModel's simulated device."""

    def __init__(self, model: ExampleModel) -> None:
        self.model = model

    def sample(self) -> MemorySample:
        """Current simulated memory."""
        return self.model.memory_sample()


def example_frames(count: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) uint8 deterministic random images."""
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)
