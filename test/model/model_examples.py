"""Deterministic example builders for the model tests (no fixtures hiding data)."""
import numpy as np

INSTRUCTION = 'push the red block to the left'


def make_image(seed: int, size: int = 48) -> np.ndarray:
    """(size, size, 3) uint8 RGB noise, deterministic for `seed`."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def make_tiny(seed: int = 0, **kwargs):
    """A tiny-preset ModelRollout on CPU, reset to INSTRUCTION."""
    from deer_ros.model.build import rollout_from_preset
    rollout = rollout_from_preset('tiny', seed=seed, device='cpu', **kwargs)
    rollout.reset(INSTRUCTION)
    return rollout
