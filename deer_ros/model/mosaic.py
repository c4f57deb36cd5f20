"""A MosaicGPT (MPT) decoder block that loads mpt-1b-redpajama-200b-dolly's weight names.

transformers' MptForCausalLM has no q/k LayerNorm, which MPT-1B uses, so we write the block:
pre-LN causal self-attention with ALiBi and optional LayerNorm on q and k, then a GELU MLP; no
biases anywhere; LayerNorms run in the autocast dtype ("low precision"), as MosaicML's did.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from deer_ros.model.config import LMConfig


class LPLayerNorm(nn.LayerNorm):
    """LayerNorm computed in the autocast dtype instead of fp32 (MosaicGPT's LPLayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise over the last dim; in the autocast dtype when autocast is on."""
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(x.device.type)
        weight = None if self.weight is None else self.weight.to(dtype)
        bias = None if self.bias is None else self.bias.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            return F.layer_norm(x.to(dtype), self.normalized_shape, weight, bias, self.eps)


def _norm(cfg: LMConfig) -> nn.LayerNorm:
    cls = LPLayerNorm if cfg.low_precision_layernorm else nn.LayerNorm
    return cls(cfg.d_model, eps=cfg.layer_norm_eps, bias=False)


def alibi_slopes(n_heads: int, bias_max: int = 8, style: str = 'mpt') -> torch.Tensor:
    """Per-head ALiBi slopes, (H,). Both styles agree when n_heads is a power of two.

    'mpt': llm-foundry / MPT-7B `gen_slopes` (interleaved for other head counts);
    'mosaic_gpt': MPT-1B's MosaicGPT code (DeeR 3B): 2^-(h * bias_max / H), h = 1..H.
    """
    if style == 'mosaic_gpt':
        heads = torch.arange(1, n_heads + 1, dtype=torch.float32)
        return 1.0 / torch.pow(2.0, heads * (bias_max / n_heads))
    pow2 = 2 ** math.ceil(math.log2(n_heads))
    slopes = 1.0 / torch.pow(2.0, torch.arange(1, pow2 + 1, dtype=torch.float32)
                             * (bias_max / pow2))
    if pow2 != n_heads:
        slopes = torch.cat([slopes[1::2], slopes[::2]])[:n_heads]
    return slopes


def attention_bias(n_heads: int, seq_len: int, bias_max: int, device: torch.device,
                   dtype: torch.dtype, style: str = 'mpt') -> torch.Tensor:
    """ALiBi + causal mask as one additive bias, (H, L, L).

    MosaicML's ALiBi depends only on the key position (j - (L-1)); with softmax's shift
    invariance per row this equals the relative form (j - i).
    """
    keys = torch.arange(1 - seq_len, 1, device=device, dtype=torch.float32)      # (L,)
    bias = alibi_slopes(n_heads, bias_max, style).to(device)[:, None, None] * keys  # (H, 1, L)
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).triu(1)
    bias = bias.expand(n_heads, seq_len, seq_len).masked_fill(causal, float('-inf'))
    return bias.to(dtype)


class MosaicAttention(nn.Module):
    """Causal multi-head self-attention: fused Wqkv, optional q/k LayerNorm, ALiBi bias."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.d_model // cfg.n_heads
        self.Wqkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        if cfg.qk_ln:
            self.q_ln = _norm(cfg)
            self.k_ln = _norm(cfg)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.sdpa = True     # F.scaled_dot_product_attention; False: explicit softmax

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d); bias (H, L, L) holds ALiBi and the causal mask."""
        b, n, d = x.shape                                        # (B, L, d)
        q, k, v = self.Wqkv(x).chunk(3, dim=-1)                  # 3 x (B, L, d)
        if hasattr(self, 'q_ln'):
            dtype = q.dtype
            q, k = self.q_ln(q).to(dtype), self.k_ln(k).to(dtype)
        q, k, v = (t.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)
                   for t in (q, k, v))                           # (B, H, L, hd)
        if self.sdpa:       # fused kernel; ALiBi + causal mask as the additive attn_mask
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                                 scale=1.0 / math.sqrt(self.head_dim))
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias  # (B, H, L, L)
            out = scores.float().softmax(dim=-1).to(v.dtype) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))  # (B, L, d)


class MosaicMLP(nn.Module):
    """d -> ratio*d -> d with exact GELU, no biases."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.mlp_up = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=False)
        self.mlp_down = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d)."""
        return self.mlp_down(F.gelu(self.mlp_up(x)))


class MosaicBlock(nn.Module):
    """Pre-LN residual block: x + attn(ln_1(x)), then + mlp(ln_2(x)). Names match MosaicGPT."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.ln_1 = _norm(cfg)
        self.attn = MosaicAttention(cfg)
        self.ln_2 = _norm(cfg)
        self.mlp = MosaicMLP(cfg)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d)."""
        x = x + self.attn(self.ln_1(x), bias)
        return x + self.mlp(self.ln_2(x))
