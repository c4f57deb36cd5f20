"""Batched, differentiable forward passes of DeerVLA for training.

The media come from the model's own DeerVLA.encode_media (with gradients into the vision
encoder when it trains) and every layer is the model's own FlamingoLayer, optionally under
activation checkpointing. Frames are independent VLM passes, as in DeeR: a batch of B windows
of W frames is N = B * W prompts, regrouped to (B, W, .) only for the head.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch.utils.checkpoint import checkpoint

from deer_ros.model.adapters import AdapterRegistry
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.tokenizer import MEDIA
from deer_ros.training.augment import random_shift, shift_offsets
from deer_ros.training.data import Batch, normalize
from deer_ros.training.sampling import Shard


class FrameInputs:
    """What every layer needs for the N frames of a batch (this rank's shard of it).

    The shift offsets are drawn for the global batch and sliced by `shard`, so a frame gets
    the same shift whichever process trains it.
    """

    def __init__(self, model: DeerVLA, batch: Batch, media_token_id: int, shift_pad: int,
                 generator: Optional[torch.Generator], vision_grad: bool,
                 shard: Shard = Shard()):
        b, w = batch.shape
        vcfg = model.cfg.vision
        static = batch.static.flatten(0, 1)                          # (N, 3, S, S) uint8
        gripper = None if batch.gripper is None else batch.gripper.flatten(0, 1)
        static = normalize(static, vcfg)
        gripper = None if gripper is None else normalize(gripper, vcfg)
        if shift_pad > 0:
            total, rows = b * shard.world_size * w, shard.rows(b * shard.world_size, w)
            static = random_shift(static, shift_pad,
                                  offsets=shift_offsets(total, shift_pad, generator)[rows])
            if gripper is not None:
                gripper = random_shift(gripper, shift_pad,
                                       offsets=shift_offsets(total, shift_pad, generator)[rows])
        ids = batch.input_ids.repeat_interleave(w, dim=0)            # (N, L)
        self.shape = (b, w)
        self.token_mask = batch.token_mask.repeat_interleave(w, dim=0)   # (N, L)
        self.media = model.encode_media(static, gripper, vision_grad=vision_grad)
        self.locations = ids == media_token_id
        self.embedding = model.embed(ids)                            # (N, L, d)
        self.bias = model.lang_encoder.bias(ids.shape[1], ids.device)


def media_token(tokenizer) -> int:  # noqa: ANN001 - transformers tokenizer
    """Id of the <image> token."""
    return int(tokenizer.convert_tokens_to_ids(MEDIA))


def run_layers(model: DeerVLA, inputs: FrameInputs, stop: Optional[int] = None,
               recompute: bool = False) -> List[torch.Tensor]:
    """Outputs of layers 0..stop-1 (all by default), each (N, L, d).

    recompute: activation checkpointing per layer (torch.utils.checkpoint, non-reentrant):
    only each layer's output is kept; its inside is recomputed in the backward pass.
    """
    x = inputs.embedding
    outputs = []
    for block in model.blocks[:stop]:
        if recompute and torch.is_grad_enabled():
            x = checkpoint(block, x, inputs.media, inputs.locations, inputs.bias,
                           use_reentrant=False)
        else:
            x = block(x, inputs.media, inputs.locations, inputs.bias)
        outputs.append(x)
    return outputs


def run_layers_skipping(model: DeerVLA, inputs: FrameInputs, adapters: AdapterRegistry,
                        skip: torch.Tensor, blocks: Sequence[Tuple[int, int]]
                        ) -> List[torch.Tensor]:
    """Like run_layers, frame n replacing block k by its adapter where skip[n, k].

    skip: (N, K) bool over `blocks`; skipped layers a..b-1 all output the adapter's output,
    as ModelRollout.run_layers does. Both paths are computed and selected per frame.
    """
    starts = {a: (k, b) for k, (a, b) in enumerate(blocks)}
    x = inputs.embedding
    outputs: List[torch.Tensor] = []
    i = 0
    while i < len(model.blocks):
        if i not in starts:
            x = model.blocks[i](x, inputs.media, inputs.locations, inputs.bias)
            outputs.append(x)
            i += 1
            continue
        k, end = starts[i]
        shortcut = adapters.get((i, end))(x)
        mask = skip[:, k].view(-1, 1, 1)
        for j in range(i, end):
            x = model.blocks[j](x, inputs.media, inputs.locations, inputs.bias)
            outputs.append(torch.where(mask, shortcut, x))
        x = outputs[-1]
        i = end
    return outputs


def pooled(hidden: torch.Tensor, token_mask: torch.Tensor, shape: Tuple[int, int]
           ) -> torch.Tensor:
    """(N, L, d) layer output -> (B, W, d): max over the real tokens only.

    Equal to ExitHead.pool at inference, where a prompt has no padding.
    """
    masked = hidden.masked_fill(~token_mask[..., None], float('-inf'))
    return masked.amax(dim=1).view(*shape, -1)


def exit_features(model: DeerVLA, outputs: Sequence[torch.Tensor], inputs: FrameInputs
                  ) -> torch.Tensor:
    """(E, B, W, d) pooled features of every exit layer."""
    return torch.stack([pooled(outputs[e], inputs.token_mask, inputs.shape)
                        for e in model.cfg.exit_layers])
