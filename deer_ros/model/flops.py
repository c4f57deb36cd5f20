"""Analytic cost of the model in multiply-accumulates (MACs), from the config and token counts.

Only matmul-like work is counted (linear, attention products, patch conv, LSTM gates); norms,
softmax, activations and gates are ignored. FLOPs = 2 x MACs. DeeR's paper reports MACs under
the name "GFLOPs" (fvcore/thop), so its 31.2 / 15.6 / 5.2 are GMAC.
"""
from typing import List

from deer_ros.model.config import DeerConfig, LMConfig, PerceiverConfig, VisionConfig
from deer_ros.model.vision import count_vision_macs


def decoder_macs(lm: LMConfig, tokens: float) -> float:
    """One MosaicGPT block: qkv + out projections, MLP, and the two L x L attention products."""
    d = lm.d_model
    return (4 + 2 * lm.mlp_ratio) * d * d * tokens + 2 * tokens * tokens * d


def xattn_macs(lm: LMConfig, tokens: float, media_tokens: int, dim_visual: int) -> float:
    """One gated cross-attention block; the media k/v projection does not depend on L."""
    d = lm.d_model
    inner = lm.xattn_dim_head * lm.xattn_heads
    per_token = 2 * d * inner + 2 * lm.xattn_ff_mult * d * d + 2 * inner * media_tokens
    return per_token * tokens + media_tokens * dim_visual * 2 * inner


def layer_macs(cfg: DeerConfig, tokens: float, media_tokens: int) -> List[float]:
    """MACs of each kept LM layer (cross-attention included where present)."""
    lm = cfg.lm
    out = []
    for i in range(lm.n_layers):
        macs = decoder_macs(lm, tokens)
        if lm.has_xattn(i):
            macs += xattn_macs(lm, tokens, media_tokens, cfg.vision.width)
        out.append(macs)
    return out


def perceiver_macs(p: PerceiverConfig, v: VisionConfig) -> int:
    """One image through the resampler (latents attend to [patches; latents])."""
    d, inner, n = v.width, p.dim_head * p.heads, p.num_latents
    keys = v.num_patches + n
    per_layer = (n * d * inner + keys * d * 2 * inner + 2 * n * keys * inner + n * inner * d
                 + 2 * n * p.ff_mult * d * d)
    return p.depth * per_layer


def vision_macs(cfg: DeerConfig, cameras: int = 2) -> int:
    """ViT + perceiver for `cameras` images (not reduced by early exit)."""
    return cameras * (count_vision_macs(cfg.vision) + perceiver_macs(cfg.perceiver, cfg.vision))


def head_macs(cfg: DeerConfig) -> int:
    """One single-step evaluation of the exit head (LSTM gates + pose and gripper MLPs)."""
    h = cfg.head
    total, size = 0, cfg.lm.d_model
    for _ in range(h.lstm_num_layers):
        total += 4 * h.hidden_size * (size + h.hidden_size)
        size = h.hidden_size
    dims = list(h.mlp_hidden_dims[:h.mlp_num_hidden_layers]) \
        if h.dropout_mode in ('layerwise', 'last') else list(h.mlp_hidden_dims[:3])
    for out in (h.out_features, 1):
        sizes = [h.hidden_size] + dims + [out]
        total += sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return total


def exit_macs(cfg: DeerConfig, tokens: float, media_tokens: int) -> List[float]:
    """Cumulative LM MACs to reach each exit (layers 0..exit_layers[k])."""
    per_layer = layer_macs(cfg, tokens, media_tokens)
    return [sum(per_layer[:e + 1]) for e in cfg.exit_layers]
