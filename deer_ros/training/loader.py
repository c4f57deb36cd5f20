"""Batches by optimisation step, read ahead by DataLoader workers.

The trainer asks for the batch of step s; which windows that is stays a pure function of
(seed, s) (the sampler's indices), so workers change only *when* a batch is read, never what
is in it: a run with --workers 4 trains on exactly the batches of --workers 0.

Memory held for data in the trainer's process: at most workers x prefetch batches in flight
(each B x W x cameras x 3 x S x S uint8 bytes, shared memory from the workers) plus the one
being trained; the frames themselves stay on disk (deer_ros.training.frame_cache).
"""
import itertools
from typing import Callable, Iterator, List, Optional, Sequence

import torch

from deer_ros.training.data import Batch, WindowDataset

Indices = Callable[[int], Sequence[int]]


class _Steps:
    """A DataLoader batch_sampler: the index lists of steps start, start + 1, ..."""

    def __init__(self, indices: Indices, start: int):
        self.indices, self.start = indices, start

    def __iter__(self) -> Iterator[List[int]]:
        for step in itertools.count(self.start):
            yield [int(i) for i in self.indices(step)]


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)           # workers read and collate; the trainer computes


class StepBatches:
    """The batch of any step; with workers, the next steps are read while one trains."""

    def __init__(self, data: WindowDataset, indices: Indices, workers: int = 0,
                 prefetch: int = 2):
        """indices(step) -> the window indices of that step (this process's share).

        Frames already in RAM (MemoryFrames) are read in this process: nothing to read ahead.
        """
        if workers < 0 or prefetch < 1:
            raise ValueError('workers must be >= 0 and prefetch >= 1')
        self.data, self.indices = data, indices
        self.workers, self.prefetch = (workers if data.on_disk else 0), prefetch
        self._iter: Optional[Iterator[Batch]] = None
        self._next = -1

    def get(self, step: int) -> Batch:
        """The batch of `step` (read ahead when the steps come in order)."""
        if self.workers == 0:
            return self.data.batch(self.indices(step))
        if self._iter is None or step != self._next:
            self.close()
            loader = torch.utils.data.DataLoader(
                self.data, batch_sampler=_Steps(self.indices, step), num_workers=self.workers,
                collate_fn=self.data.collate, prefetch_factor=self.prefetch,
                worker_init_fn=_worker_init,
                generator=torch.Generator().manual_seed(0))   # leaves the global RNG alone
            self._iter, self._next = iter(loader), step
        self._next += 1
        return next(self._iter)

    def close(self) -> None:
        """Stop the workers (a later get starts new ones)."""
        self._iter = None              # the DataLoader's iterator ends its workers when freed
