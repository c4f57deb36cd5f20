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
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from deer_ros.model.head import ExitHead


def action_loss(pose: torch.Tensor, logit: torch.Tensor, actions: torch.Tensor,
                gripper_weight: float) -> torch.Tensor:
    """Scalar loss of pose (..., 6) and gripper logit (..., 1) against actions (..., 7)."""
    huber = F.huber_loss(pose, actions[..., :6], delta=1.0, reduction='none').mean(-1)
    target = (actions[..., 6:] + 1.0) / 2.0
    bce = F.binary_cross_entropy_with_logits(logit, target, reduction='none')[..., 0]
    return (huber + gripper_weight * bce).mean()


def random_exit_sequences(features: torch.Tensor, generator: Optional[torch.Generator]
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(E, B, W, d) exit features -> strategy-1 and strategy-2 sequences, each (B, W, d)."""
    e, b, w, _ = features.shape
    dev = features.device
    time = torch.arange(w, device=dev)
    batch = torch.arange(b, device=dev)[:, None]
    per_step = torch.randint(0, e, (b, w), generator=generator).to(dev)
    s1 = features[per_step, batch, time]
    prev_len = int(torch.randint(1, w + 1, (1,), generator=generator))
    a, bb = torch.randint(0, e, (2, b, 1), generator=generator).to(dev)
    which = torch.where(time[None] < prev_len, a, bb)                  # (B, W)
    s2 = features[which, batch, time]
    return s1, s2


def multi_exit_losses(head: ExitHead, features: torch.Tensor, actions: torch.Tensor,
                      gripper_weight: float, generator: Optional[torch.Generator],
                      robot_state: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """Per-output losses {'exit_0'.., 's1', 's2'}; one head call on all sequences stacked.

    robot_state (B, W, S) joins every sequence's head input when the head takes a state.
    """
    e, b = features.shape[:2]
    s1, s2 = random_exit_sequences(features, generator)
    sequences = torch.cat([features.flatten(0, 1), s1, s2])           # ((E + 2) B, W, d)
    if robot_state is not None:
        robot_state = robot_state.repeat(e + 2, 1, 1)                 # ((E + 2) B, W, S)
    pose, logit, _ = head(head.fuse(sequences, robot_state))
    names = [f'exit_{k}' for k in range(e)] + ['s1', 's2']
    losses = {}
    for k, name in enumerate(names):
        rows = slice(k * b, (k + 1) * b)
        losses[name] = action_loss(pose[rows], logit[rows], actions, gripper_weight)
    return losses
