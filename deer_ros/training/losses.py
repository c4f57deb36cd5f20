"""DeeR's action loss and the multi-exit objective (deer_vla.md section 5.2).

Outputs trained on one batch, all with the single shared head `extra_exit` (ours has no
auxiliary per-exit heads: DeeR discards them at inference, so we train the shared head on each
exit directly):
  exit_k  the head on exit k's feature sequence, for every exit k;
  s1      strategy 1: an exit drawn uniformly per (sample, timestep);
  s2      strategy 2: timesteps < prev_len from exit a, the rest from exit b (a, b per sample,
          prev_len ~ U{1..W} per batch).
Each loss = Huber(pose, a[..., :6]) (delta 1, mean over dims) + w * BCE-with-logits(gripper,
(a[..., 6] + 1) / 2), averaged over batch and time; the total is their plain sum.

Under torchrun each rank holds b of the B = b x R windows of a step (sampling.Shard). Every
random draw (exits, prev_len) is made for all B and sliced, and the head runs on B rows (the
other ranks' rows zero, their outputs unused): its dropout masks then come out of the torch
generator exactly as in one process. The head is a small share of a step (docs/training.md).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from deer_ros.model.head import ExitHead
from deer_ros.training.sampling import Shard


def action_loss(pose: torch.Tensor, logit: torch.Tensor, actions: torch.Tensor,
                gripper_weight: float) -> torch.Tensor:
    """Scalar loss of pose (..., 6) and gripper logit (..., 1) against actions (..., 7)."""
    huber = F.huber_loss(pose, actions[..., :6], delta=1.0, reduction='none').mean(-1)
    target = (actions[..., 6:] + 1.0) / 2.0
    bce = F.binary_cross_entropy_with_logits(logit, target, reduction='none')[..., 0]
    return (huber + gripper_weight * bce).mean()


def random_exit_sequences(features: torch.Tensor, generator: Optional[torch.Generator],
                          shard: Shard = Shard()) -> Tuple[torch.Tensor, torch.Tensor]:
    """(E, B, W, d) exit features -> strategy-1 and strategy-2 sequences, each (B, W, d)."""
    e, b, w, _ = features.shape
    dev = features.device
    total, rows = b * shard.world_size, shard.rows(b * shard.world_size)
    time = torch.arange(w, device=dev)
    batch = torch.arange(b, device=dev)[:, None]
    per_step = torch.randint(0, e, (total, w), generator=generator)[rows].to(dev)
    s1 = features[per_step, batch, time]
    prev_len = int(torch.randint(1, w + 1, (1,), generator=generator))
    a, bb = torch.randint(0, e, (2, total, 1), generator=generator)[:, rows].to(dev)
    which = torch.where(time[None] < prev_len, a, bb)                  # (B, W)
    s2 = features[which, batch, time]
    return s1, s2


def _global_rows(x: torch.Tensor, groups: int, shard: Shard) -> torch.Tensor:
    """(G b, ...) rows of this rank -> (G B, ...), the other ranks' rows zero."""
    if shard.world_size == 1:
        return x
    local = x.view(groups, -1, *x.shape[1:])                          # (G, b, ...)
    full = local.new_zeros(groups, local.shape[1] * shard.world_size, *x.shape[1:])
    full[:, shard.rows(full.shape[1])] = local
    return full.flatten(0, 1)


def _local_rows(x: torch.Tensor, groups: int, shard: Shard) -> torch.Tensor:
    """Inverse of _global_rows: (G B, ...) -> this rank's (G b, ...)."""
    if shard.world_size == 1:
        return x
    full = x.view(groups, -1, *x.shape[1:])
    return full[:, shard.rows(full.shape[1])].flatten(0, 1)


def multi_exit_losses(head: ExitHead, features: torch.Tensor, actions: torch.Tensor,
                      gripper_weight: float, generator: Optional[torch.Generator],
                      robot_state: Optional[torch.Tensor] = None,
                      shard: Shard = Shard()) -> Dict[str, torch.Tensor]:
    """Per-output losses {'exit_0'.., 's1', 's2'}; one head call on all sequences stacked.

    robot_state (B, W, S) joins every sequence's head input when the head takes a state.
    Losses are means over this rank's windows (DDP averages the ranks' gradients).
    """
    e, b = features.shape[:2]
    s1, s2 = random_exit_sequences(features, generator, shard)
    sequences = torch.cat([features.flatten(0, 1), s1, s2])           # ((E + 2) B, W, d)
    if robot_state is not None:
        robot_state = robot_state.repeat(e + 2, 1, 1)                 # ((E + 2) B, W, S)
    fused = _global_rows(head.fuse(sequences, robot_state), e + 2, shard)
    pose, logit, _ = head(fused)
    pose, logit = (_local_rows(t.float(), e + 2, shard) for t in (pose, logit))
    names = [f'exit_{k}' for k in range(e)] + ['s1', 's2']
    losses = {}
    for k, name in enumerate(names):
        rows = slice(k * b, (k + 1) * b)
        losses[name] = action_loss(pose[rows], logit[rows], actions, gripper_weight)
    return losses
