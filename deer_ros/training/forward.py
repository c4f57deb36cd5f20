"""Batched, differentiable forward passes of DeerVLA for training (no change to the model).

DeerVLA.encode_media runs the vision encoder under no_grad (it is frozen in DeeR); training a
small preset from scratch needs gradients there, so `encode_media` below repeats the same
computation with autograd. Frames are independent VLM passes, as in DeeR: a batch of B windows
of W frames is N = B * W prompts, regrouped to (B, W, .) only for the head.
"""
from typing import List, Optional, Sequence, Tuple

import torch

from deer_ros.model.adapters import AdapterRegistry
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.tokenizer import MEDIA
from deer_ros.training.augment import random_shift
from deer_ros.training.data import Batch, normalize


def encode_media(model: DeerVLA, static: torch.Tensor, gripper: Optional[torch.Tensor],
                 vision_grad: bool) -> torch.Tensor:
    """(N, 3, S, S) pixels per camera -> media (N, 1, V, d_v), like DeerVLA.encode_media."""
    out = []
    for pixels in [static] if gripper is None else [static, gripper]:
        with torch.set_grad_enabled(vision_grad and torch.is_grad_enabled()):
            tokens = model.vision_encoder(pixels)                    # (N, P, d_v)
        out.append(model.perceiver(tokens[:, None, None]))           # (N, 1, n, d_v)
    return torch.cat(out, dim=2)


class FrameInputs:
    """What every layer needs for the N frames of a batch."""

    def __init__(self, model: DeerVLA, batch: Batch, media_token_id: int, shift_pad: int,
                 generator: Optional[torch.Generator], vision_grad: bool):
        b, w = batch.shape
        vcfg = model.cfg.vision
        static = batch.static.flatten(0, 1)                          # (N, 3, S, S) uint8
        gripper = None if batch.gripper is None else batch.gripper.flatten(0, 1)
        static = normalize(static, vcfg)
        gripper = None if gripper is None else normalize(gripper, vcfg)
        if shift_pad > 0:
            static = random_shift(static, shift_pad, generator)
            gripper = None if gripper is None else random_shift(gripper, shift_pad, generator)
        ids = batch.input_ids.repeat_interleave(w, dim=0)            # (N, L)
        self.shape = (b, w)
        self.token_mask = batch.token_mask.repeat_interleave(w, dim=0)   # (N, L)
        self.media = encode_media(model, static, gripper, vision_grad)
        self.locations = ids == media_token_id
        self.embedding = model.embed(ids)                            # (N, L, d)
        self.bias = model.lang_encoder.bias(ids.shape[1], ids.device)


def media_token(tokenizer) -> int:  # noqa: ANN001 - transformers tokenizer
    """Id of the <image> token."""
    return int(tokenizer.convert_tokens_to_ids(MEDIA))


def run_layers(model: DeerVLA, inputs: FrameInputs, stop: Optional[int] = None
               ) -> List[torch.Tensor]:
    """Outputs of layers 0..stop-1 (all by default), each (N, L, d)."""
    x = inputs.embedding
    outputs = []
    for block in model.blocks[:stop]:
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
