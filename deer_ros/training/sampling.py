"""Which windows each optimisation step trains on, for one process or each rank of many.

The order is a pure function of (seed, step) over the whole dataset, drawn for the *global*
batch (per-rank batch x world size): rank r of R takes rows [r b, (r + 1) b) of it, so the
union of the ranks' shards at a step is exactly the batch one process would draw. Any
per-sample random draw (shifts, exit sampling, dropout) follows the same rule: drawn for the
global batch, sliced by `Shard.rows` (deer_ros.training.trainer). Windows listed several
times by the dataset (early-frame weighting) are sampled as often on any world size.
"""
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np
import torch


@dataclass(frozen=True)
class Shard:
    """A process's place in a torch.distributed job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank {self.rank} outside world size {self.world_size}')

    def local_batch(self, global_batch: int) -> int:
        """Windows per step on this rank; the global batch must split evenly."""
        if global_batch % self.world_size:
            raise ValueError(f'global batch {global_batch} does not split over '
                             f'{self.world_size} processes (use a multiple of the world size)')
        return global_batch // self.world_size

    def rows(self, global_batch: int, per_sample: int = 1) -> slice:
        """Rows this rank takes of a global batch of `global_batch` samples.

        per_sample: rows per sample (the W frames of a window flattened: rows of frames).
        """
        b = self.local_batch(global_batch) * per_sample
        return slice(self.rank * b, (self.rank + 1) * b)


def epoch_order(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The sample permutation of one epoch; a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_samples)


def batch_indices(num_samples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices of the global batch at `step` (drop-last epochs of shuffled windows)."""
    per_epoch = max(1, num_samples // batch_size)
    epoch, pos = divmod(step, per_epoch)
    order = epoch_order(num_samples, seed, epoch)
    if num_samples < batch_size:                 # tiny datasets: sample with wrap-around
        return np.resize(order, batch_size)
    return order[pos * batch_size:(pos + 1) * batch_size]


class StepBatchSampler(torch.utils.data.Sampler):
    """Window indices of one rank, one list per optimisation step from `start_step` on.

    Usable as a DataLoader's `batch_sampler` (each item is one step's local batch), or
    directly through `indices(step)`. Resuming at another world size only changes the
    slicing: the global batch of every step stays the same.
    """

    def __init__(self, num_samples: int, global_batch: int, seed: int,
                 shard: Shard = Shard(), start_step: int = 0,
                 total_steps: Optional[int] = None):
        if num_samples < 1:
            raise ValueError('no samples to draw from')
        shard.local_batch(global_batch)             # validates the split
        self.num_samples, self.global_batch, self.seed = num_samples, global_batch, seed
        self.shard, self.start_step, self.total_steps = shard, start_step, total_steps

    def indices(self, step: int) -> List[int]:
        """The window indices this rank trains on at `step`."""
        order = batch_indices(self.num_samples, self.global_batch, self.seed, step)
        return [int(i) for i in order[self.shard.rows(self.global_batch)]]

    def __iter__(self) -> Iterator[List[int]]:
        step = self.start_step
        while self.total_steps is None or step < self.total_steps:
            yield self.indices(step)
            step += 1

    def __len__(self) -> int:
        if self.total_steps is None:
            raise TypeError('an endless sampler has no length')
        return max(0, self.total_steps - self.start_step)
