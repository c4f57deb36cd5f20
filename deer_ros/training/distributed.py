"""torch.distributed for `deer-ros train`: one script for 1 or N processes (torchrun).

Started by torchrun, a process reads RANK / WORLD_SIZE / LOCAL_RANK (and the rendezvous
variables) from the environment and joins the process group: NCCL on CUDA (one GPU per
process, cuda:LOCAL_RANK), gloo on CPU. Started without torchrun it is rank 0 of 1 and
nothing is initialised. Gradients are exchanged by DistributedDataParallel only.
"""
import os
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.distributed as dist

from deer_ros.training.sampling import Shard

TORCHRUN_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


@dataclass(frozen=True)
class Context:
    """Where this process trains: its shard of every step, device and backend."""

    shard: Shard
    device: torch.device
    backend: Optional[str]           # None: a single process without a process group

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, plots and writes."""
        return self.shard.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is in use."""
        return self.backend is not None


def launched_by_torchrun() -> bool:
    """Whether the torchrun environment variables are set."""
    return all(name in os.environ for name in TORCHRUN_VARS)


def init_from_env(device: torch.device) -> Context:
    """Join torchrun's process group (if launched by it) on `device`.

    A CUDA device without an index becomes cuda:LOCAL_RANK; a device given with an index is
    refused under torchrun with several processes on the node (they would share one GPU).
    """
    if not launched_by_torchrun():
        return Context(Shard(), device, None)
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    local = int(os.environ['LOCAL_RANK'])
    if device.type == 'cuda':
        if device.index is not None and int(os.environ.get('LOCAL_WORLD_SIZE', '1')) > 1:
            raise ValueError(f'--device {device} under torchrun: give "cuda" (or auto), each '
                             'process takes cuda:LOCAL_RANK')
        device = torch.device('cuda', local if device.index is None else device.index)
        torch.cuda.set_device(device)
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    dist.init_process_group(backend=backend, rank=rank, world_size=world,
                            device_id=device if device.type == 'cuda' else None)
    return Context(Shard(rank, world), device, backend)


def shutdown(ctx: Context) -> None:
    """Leave the process group (every rank, at the end or on an error)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: Dict[str, float], ctx: Context) -> Dict[str, float]:
    """Each value averaged over the ranks (per-rank means of equal shards: the global mean)."""
    if not ctx.distributed or ctx.shard.world_size == 1:
        return values
    keys = sorted(values)
    packed = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(packed)
    return {k: float(v) / ctx.shard.world_size for k, v in zip(keys, packed.tolist())}


def barrier(ctx: Context) -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    if ctx.distributed:
        dist.barrier()


def sync_batch_norm(model: torch.nn.Module, ctx: Context) -> Optional[str]:
    """Make BatchNorm layers use the statistics of the global batch across ranks.

    SyncBatchNorm runs on CUDA only: on CPU with several processes each rank normalises with
    its own shard's statistics (plain DDP), so the one-process equivalence does not hold for
    such a model; the returned warning says so (None when nothing is off).
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not ctx.distributed or ctx.shard.world_size == 1:
        return None
    if ctx.device.type == 'cuda':
        for name, child in list(model.named_children()):
            setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
        return None
    return (f'{len(norms)} BatchNorm layer(s) (head.feature_norm "batch"): on CPU each of the '
            f'{ctx.shard.world_size} processes normalises with its own shard\'s statistics '
            '(SyncBatchNorm needs CUDA); results differ from one process')
