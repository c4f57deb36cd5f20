"""The multi-exit objective as one module: what DistributedDataParallel wraps.

DDP exchanges gradients for the parameters of the module whose forward produced the loss, so
the whole training computation (media, layers, exit features, losses) is this module's
forward; the DeerVLA is its only child, and its state_dict keys stay the model's own.
"""
from typing import Dict, Optional

import torch
from torch import nn

from deer_ros.model.flamingo import DeerVLA
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import Batch
from deer_ros.training.forward import FrameInputs, exit_features, run_layers
from deer_ros.training.losses import multi_exit_losses
from deer_ros.training.precision import head_autocast
from deer_ros.training.sampling import Shard


class MultiExitObjective(nn.Module):
    """Batch (this rank's shard) -> {'exit_0'.., 's1', 's2'} losses."""

    def __init__(self, model: DeerVLA, media_token_id: int, cfg: TrainConfig,
                 shard: Shard = Shard()):
        super().__init__()
        self.model = model
        self.media_token_id = media_token_id
        self.cfg = cfg
        self.shard = shard

    def forward(self, batch: Batch, generator: Optional[torch.Generator],
                backbone_grad: bool = True) -> Dict[str, torch.Tensor]:
        """Losses of one step; backbone_grad False runs the backbone under no_grad."""
        cfg, model = self.cfg, self.model
        with torch.set_grad_enabled(backbone_grad and torch.is_grad_enabled()):
            inputs = FrameInputs(model, batch, self.media_token_id, cfg.shift_pad, generator,
                                 vision_grad=cfg.freeze == 'none', shard=self.shard)
            outputs = run_layers(model, inputs, recompute=cfg.checkpoint_activations)
            features = exit_features(model, outputs, inputs)
        with head_autocast(features.device):
            return multi_exit_losses(model.extra_exit, features.float(), batch.actions,
                                     cfg.gripper_weight, generator, batch.state, self.shard)
