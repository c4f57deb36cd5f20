"""The shared exit head `extra_exit`: max-pool over tokens -> (LayerNorm-)LSTM -> two MLPs.

Module index layouts follow DeeR's DeterministicDecoder exactly (they are checkpoint key
names), and are chosen from the saved layout fields, never guessed.
"""
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from deer_ros.model.config import HeadConfig

LSTMState = Tuple[torch.Tensor, torch.Tensor]     # (h, c), each (num_layers, B, hidden)


class LayerNormLSTM(nn.Module):
    """Stacked single-layer LSTMs, each followed by LayerNorm; Dropout between layers.

    `layers` = [LSTM, LN, Drop, LSTM, LN, Drop, ..., LSTM, LN] (DeeR's index layout).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.num_layers = num_layers
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            self.layers.append(nn.LSTM(input_size, hidden_size, num_layers=1, batch_first=True))
            self.layers.append(nn.LayerNorm(hidden_size))
            if i < num_layers - 1:
                self.layers.append(nn.Dropout(dropout))
            input_size = hidden_size

    def forward(self, x: torch.Tensor, state: Optional[LSTMState] = None
                ) -> Tuple[torch.Tensor, LSTMState]:
        """(B, W, in) -> (B, W, hidden), new state; state layer i is the LSTM's own (h, c).

        Each layer is nn.LSTM's own call, as in DeeR's LayerNormLSTM (its float order: the
        'exact' head step relies on it).
        """
        hs: List[torch.Tensor] = []
        cs: List[torch.Tensor] = []
        for i in range(self.num_layers):
            layer_state = None if state is None else (state[0][i:i + 1], state[1][i:i + 1])
            x, (h, c) = self.layers[3 * i](x, layer_state)
            x = self.layers[3 * i + 1](x)
            if 3 * i + 2 < len(self.layers):
                x = self.layers[3 * i + 2](x)
            hs.append(h)
            cs.append(c)
        return x, (torch.cat(hs), torch.cat(cs))


def mlp_layers(cfg: HeadConfig, out_features: int, final: nn.Module) -> nn.Sequential:
    """DeeR's MLPTanhHead / MLPSigmoidHead `mlp` Sequential for the configured layout."""
    drop = cfg.exit_dropout
    layers: List[nn.Module] = []
    size = cfg.hidden_size
    if cfg.dropout_mode in ('layerwise', 'last'):
        dims = cfg.mlp_hidden_dims[:cfg.mlp_num_hidden_layers]
        if cfg.dropout_mode == 'layerwise':
            layers.append(nn.Dropout(drop))
        for i, dim in enumerate(dims):
            layers += [nn.Linear(size, dim),
                       nn.LayerNorm(dim) if cfg.mlp_layernorm else nn.Identity(), nn.ReLU()]
            if cfg.dropout_mode == 'layerwise' or i == len(dims) - 1:
                layers.append(nn.Dropout(drop))
            size = dim
    else:   # legacy layouts: always three hidden layers
        dims = cfg.mlp_hidden_dims[:3]
        with_drop = cfg.mlp_layernorm or drop > 0
        for i, dim in enumerate(dims):
            if with_drop:
                layers.append(nn.Dropout(drop))
            layers.append(nn.Linear(size, dim))
            if cfg.mlp_layernorm:
                layers.append(nn.LayerNorm(dim))
            layers.append(nn.ReLU())
            size = dim
    layers += [nn.Linear(size, out_features), final]
    return nn.Sequential(*layers)


class _MLPHead(nn.Module):
    """Wrapper so keys read `actions.mlp.{i}` / `gripper.mlp.{i}`."""

    def __init__(self, mlp: nn.Sequential):
        super().__init__()
        self.mlp = mlp


class ExitHead(nn.Module):
    """One head shared by every exit; its LSTM state is the rollout's only memory."""

    def __init__(self, cfg: HeadConfig, in_features: int):
        super().__init__()
        self.cfg = cfg
        if cfg.feature_norm == 'batch':   # absent otherwise: earlier layouts are unchanged
            self.feature_norm = nn.BatchNorm1d(in_features)
        if cfg.state_dim:            # absent otherwise: DeeR's key layout is unchanged
            self.state_encoder = nn.Sequential(nn.Linear(cfg.state_dim, cfg.state_features),
                                               nn.ReLU())
            in_features += cfg.state_features
        if cfg.lstm_layernorm:
            self.rnn: nn.Module = LayerNormLSTM(in_features, cfg.hidden_size,
                                                cfg.lstm_num_layers, cfg.lstm_dropout)
        else:
            self.rnn = nn.LSTM(in_features, cfg.hidden_size, num_layers=cfg.lstm_num_layers,
                               dropout=cfg.lstm_dropout, batch_first=True)
        self.actions = _MLPHead(mlp_layers(cfg, cfg.out_features, nn.Tanh()))
        self.gripper = _MLPHead(mlp_layers(cfg, 1, nn.Sigmoid()))

    @staticmethod
    def pool(hidden: torch.Tensor) -> torch.Tensor:
        """(B, L, d) layer output -> (B, d), max over every token (DeeR ignores the mask)."""
        return hidden.amax(dim=1)

    def fuse(self, pooled: torch.Tensor, robot_state: Optional[torch.Tensor]) -> torch.Tensor:
        """(..., d) pooled feature + (..., state_dim) robot state -> the LSTM input.

        A head without a state input returns `pooled` and ignores the state; one with it
        refuses to run blind (a zero state would silently mean a robot at the origin). With a
        state, the pooled feature is layer-normalised (no parameters): raw max-pooled hidden
        states are large enough (|x| ~ 5-30) to saturate the LSTM gates, which then cannot
        feel the state at all (measured: the action did not move with it). With feature_norm
        'batch' (any head) each channel is standardised instead: a layer norm lets a few huge
        channels squash the image-dependent ones.
        """
        if self.cfg.feature_norm == 'batch':
            shape = pooled.shape
            feature = self.feature_norm(pooled.reshape(-1, shape[-1])).reshape(shape)
        elif self.cfg.state_dim:
            feature = F.layer_norm(pooled, pooled.shape[-1:])
        else:
            feature = pooled
        if not self.cfg.state_dim:
            return feature
        if robot_state is None:
            raise ValueError(f'this model needs the robot state ({self.cfg.state_dim} values)')
        s = robot_state.to(pooled.dtype)
        if self.cfg.state_mean:
            s = (s - s.new_tensor(self.cfg.state_mean)) / s.new_tensor(self.cfg.state_std)
        s = self.state_encoder(s).expand(*pooled.shape[:-1], -1)
        return torch.cat([feature, s], dim=-1)

    def forward(self, pooled: torch.Tensor, state: Optional[LSTMState] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """(B, W, in) inputs (`fuse`) -> pose (B, W, 6) in [-1, 1], gripper logit (B, W, 1)."""
        x, new_state = self.rnn(pooled, state)
        pose = self.actions.mlp(x)
        logit = self.gripper.mlp[:-1](x)
        return pose, logit, new_state

    def zero_state(self, batch: int, device: torch.device) -> LSTMState:
        """Start-of-rollout state (equal to passing None)."""
        shape = (self.cfg.lstm_num_layers, batch, self.cfg.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)
