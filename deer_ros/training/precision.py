"""Mixed precision for training: autocast, fp16 loss scaling, frozen weights in low precision.

Trained parameters, their gradients and AdamW's moments stay fp32 (the master weights);
autocast runs matmuls and convolutions in bf16 / fp16 on whatever device trains (CUDA or CPU).
fp16's narrow range needs loss scaling (torch.amp.GradScaler); bf16 has fp32's range and needs
none. Frozen parameters receive no update, so they are stored in the compute precision: half
the memory of the frozen LM for DeeR's split, and the same values autocast would cast them to
for every matmul anyway.
"""
import contextlib
from typing import Any, Dict, Optional

import torch
from torch import nn

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def compute_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of a precision name (None: fp32, no autocast)."""
    if precision not in DTYPES:
        raise ValueError(f'precision must be one of {sorted(DTYPES)}, got {precision!r}')
    return DTYPES[precision]


def autocast(device: torch.device, precision: str) -> Any:
    """The autocast context of `precision` on `device` (a no-op context for fp32)."""
    dtype = compute_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def head_autocast(device: torch.device) -> Any:
    """The context of the exit head's forward and losses: fp32 on every device.

    oneDNN builds no bf16 / fp16 LSTM on CPUs without AVX512-BF16 / AMX (this machine's:
    "could not create a primitive descriptor for the LSTM"), and a bf16 cuDNN LSTM has not been
    checked on a GPU here; the head is a few percent of a step, so it runs in fp32 everywhere.
    """
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, precision: str,
                state: Optional[Dict[str, Any]] = None) -> Optional[torch.amp.GradScaler]:
    """A GradScaler for fp16 (restored from `state` when resuming), None otherwise."""
    if precision != 'fp16':
        return None
    scaler = torch.amp.GradScaler(device.type)
    if state:
        scaler.load_state_dict(state)
    return scaler


def keep_frozen_in(model: nn.Module, precision: str) -> int:
    """Cast every parameter without requires_grad to the compute dtype; returns how many.

    Call after the trainable set is decided. Buffers and trained parameters are untouched.
    """
    dtype = compute_dtype(precision)
    if dtype is None:
        return 0
    frozen = [p for p in model.parameters() if not p.requires_grad]
    for p in frozen:
        p.data = p.data.to(dtype)
    return len(frozen)
