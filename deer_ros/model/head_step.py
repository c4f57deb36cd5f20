"""The exit head's per-frame path: one LSTM step at batch 1, the head config's `step`.

'exact' (`ExactHeadStep`) is `ExitHead.forward`, nn.LSTM's own call: DeeR's float order, so an
official checkpoint's criterion values equal DeeR's to the last bit. 'fused' (`HeadStep`) is the
same cell written as plain tensor ops, described below: ~40% cheaper per check on the `small`
preset, poses within ~7e-7 of 'exact' (a different float order, the same math). Both have one
interface: `terms(state)` once per committed state, then `step(pooled, state, terms)` per exit.

At batch 1 the head is a chain of small matrix-vector products, and on CPU (or a GPU's launch
queue) the cost of going through nn.Module calls is as large as the arithmetic. What this
path does differently (the first and last points make it cheaper, the middle one keeps the
state accurate), without changing what the head computes:

* every exit checked in one frame starts from the same committed state, so each LSTM layer's
  recurrent term W_hh h + b_hh + b_ih is computed once per frame (`terms`) and shared: a further
  check only pays for W_ih x;
* the cell's pointwise part runs in fp32 whatever the autocast dtype, so the carried state
  (h, c) does not accumulate fp16/bf16 rounding frame after frame;
* in eval mode Dropout is the identity, so the layers reduce to linear / layer_norm /
  pointwise calls taken straight from the modules' own parameters (read at call time, so
  loading weights or moving the model never leaves a stale copy).

`ExitHead.forward` stays the reference; tests hold the two within float rounding.
"""
from typing import Callable, List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from deer_ros.model.config import HEAD_STEPS
from deer_ros.model.head import ExitHead, LayerNormLSTM, LSTMState


def make_head_step(head: ExitHead, step: str) -> 'HeadStep | ExactHeadStep':
    """The per-frame head path named by `step` (HEAD_STEPS: 'exact' or 'fused')."""
    if step not in HEAD_STEPS:
        raise ValueError(f'head step must be one of {HEAD_STEPS}, got {step!r}')
    return ExactHeadStep(head) if step == 'exact' else HeadStep(head)


class ExactHeadStep:
    """Single-step inference through ExitHead.forward: nn.LSTM's own call, as DeeR runs it."""

    def __init__(self, head: ExitHead) -> None:
        self.head = head

    def terms(self, state: Optional[LSTMState], batch: int = 1) -> List[torch.Tensor]:
        """Nothing shared between exits: each call runs the whole cell."""
        return []

    def __call__(self, pooled: torch.Tensor, state: Optional[LSTMState],
                 terms: List[torch.Tensor]
                 ) -> Tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """(B, d) pooled features -> pose (B, 6), gripper logit (B, 1), new (h, c)."""
        pose, logit, new_state = self.head(pooled[:, None], state)    # (B, 1, ...) as DeeR
        return pose[:, 0], logit[:, 0], new_state


class HeadStep:
    """Single-step inference of an ExitHead (eval mode, no autograd): the 'fused' step."""

    def __init__(self, head: ExitHead) -> None:
        self.head = head
        self.cells = _cells(head.rnn)              # per layer: (lstm, layer index, norm or None)
        self.actions = _plan(head.actions.mlp)
        self.gripper = _plan(head.gripper.mlp[:-1])

    def terms(self, state: Optional[LSTMState], batch: int = 1) -> List[torch.Tensor]:
        """Per-layer W_hh h + b_hh + b_ih for the committed state (None: the zero state)."""
        out = []
        for k, (lstm, idx, _) in enumerate(self.cells):
            w_hh, b_hh = getattr(lstm, f'weight_hh_l{idx}'), getattr(lstm, f'bias_hh_l{idx}')
            b_ih = getattr(lstm, f'bias_ih_l{idx}')
            if state is None:
                out.append((b_hh + b_ih).expand(batch, -1))
            else:
                out.append(torch.addmm(b_hh + b_ih, state[0][k], w_hh.t()))
        return out

    def __call__(self, pooled: torch.Tensor, state: Optional[LSTMState],
                 terms: List[torch.Tensor]
                 ) -> Tuple[torch.Tensor, torch.Tensor, LSTMState]:
        """(B, d) pooled features -> pose (B, 6), gripper logit (B, 1), new (h, c)."""
        x, hs, cs = pooled, [], []
        for k, (lstm, idx, norm) in enumerate(self.cells):
            gates = torch.addmm(terms[k], x, getattr(lstm, f'weight_ih_l{idx}').t()).float()
            h, c = lstm_cell_update(gates, None if state is None else state[1][k])
            hs.append(h)
            cs.append(c)
            x = h if norm is None else F.layer_norm(h, norm.normalized_shape, norm.weight,
                                                    norm.bias, norm.eps)
        pose = _run(self.actions, x)
        logit = _run(self.gripper, x)
        return pose, logit, (torch.stack(hs), torch.stack(cs))


def _cells(rnn: nn.Module) -> List[Tuple[nn.LSTM, int, Optional[nn.LayerNorm]]]:
    """The LSTM layers in order, for both saved layouts (LayerNorm-LSTM or plain nn.LSTM)."""
    if isinstance(rnn, LayerNormLSTM):
        return [(rnn.layers[3 * i], 0, rnn.layers[3 * i + 1]) for i in range(rnn.num_layers)]
    return [(rnn, i, None) for i in range(rnn.num_layers)]


def _plan(mlp: nn.Sequential) -> List[Callable[[torch.Tensor], torch.Tensor]]:
    """The MLP as plain calls, chosen once (Dropout and Identity dropped: eval mode)."""
    steps: List[Callable[[torch.Tensor], torch.Tensor]] = []
    for m in mlp:
        if isinstance(m, nn.Linear):
            steps.append(lambda x, m=m: F.linear(x, m.weight, m.bias))
        elif isinstance(m, nn.LayerNorm):
            steps.append(lambda x, m=m: F.layer_norm(x, m.normalized_shape, m.weight, m.bias,
                                                     m.eps))
        elif isinstance(m, nn.ReLU):
            steps.append(torch.relu)
        elif isinstance(m, nn.Tanh):
            steps.append(torch.tanh)
        elif not isinstance(m, (nn.Dropout, nn.Identity)):
            raise TypeError(f'HeadStep cannot run {type(m).__name__}')
    return steps


def _run(steps: List[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    for step in steps:
        x = step(x)
    return x


def lstm_cell_update(gates: torch.Tensor, c: Optional[torch.Tensor]
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The LSTM cell's pointwise part: gates (B, 4H) in order i, f, g, o -> new (h, c).

    c None is the zero start state (the forget term vanishes).
    """
    n = gates.shape[1] // 4
    act = torch.sigmoid(gates)                         # i, f, o used; g gets tanh below
    g = torch.tanh(gates[:, 2 * n:3 * n])
    if c is None:
        c = act[:, :n] * g
    else:
        c = torch.addcmul(act[:, n:2 * n] * c, act[:, :n], g)
    return act[:, 3 * n:] * torch.tanh(c), c
