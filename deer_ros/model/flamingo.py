"""DeerVLA: CLIP ViT -> PerceiverResampler -> MosaicGPT with gated cross-attention -> exit head.

Module names reproduce DeeR/OpenFlamingo's state_dict keys (vision_encoder.visual.*,
perceiver.*, lang_encoder.transformer.wte / blocks.{i}.gated_cross_attn_layer /
blocks.{i}.decoder_layer, extra_exit.*), so loading official weights is a key mapping.
"""
from typing import List, Optional

import torch
from open_flamingo.src.helpers import GatedCrossAttentionBlock, PerceiverResampler
from torch import nn

from deer_ros.model.config import DeerConfig, LMConfig
from deer_ros.model.head import ExitHead
from deer_ros.model.mosaic import MosaicBlock, attention_bias
from deer_ros.model.vision import VisionEncoder


class FlamingoLayer(nn.Module):
    """Optional gated cross-attention on the media, then the (frozen) decoder block."""

    def __init__(self, cfg: LMConfig, layer: int, dim_visual: int):
        super().__init__()
        self.gated_cross_attn_layer: Optional[GatedCrossAttentionBlock] = None
        if cfg.has_xattn(layer):
            self.gated_cross_attn_layer = GatedCrossAttentionBlock(
                dim=cfg.d_model, dim_visual=dim_visual, dim_head=cfg.xattn_dim_head,
                heads=cfg.xattn_heads, ff_mult=cfg.xattn_ff_mult)
            with torch.no_grad():
                self.gated_cross_attn_layer.attn_gate.fill_(cfg.gate_init)
                self.gated_cross_attn_layer.ff_gate.fill_(cfg.gate_init)
        self.decoder_layer = MosaicBlock(cfg)

    def forward(self, x: torch.Tensor, media: torch.Tensor, media_locations: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d); media (B, 1, V, d_v), media_locations (B, L) bool."""
        if self.gated_cross_attn_layer is not None:
            x = self.gated_cross_attn_layer(x, media, media_locations=media_locations)
        return self.decoder_layer(x, bias)


class LangTransformer(nn.Module):
    """`transformer` of MosaicGPT: token embedding and the kept blocks (no ln_f: never used)."""

    def __init__(self, cfg: LMConfig, dim_visual: int):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(FlamingoLayer(cfg, i, dim_visual)
                                    for i in range(cfg.n_layers))


class LangEncoder(nn.Module):
    """Holds `transformer` so keys read `lang_encoder.transformer.*`."""

    def __init__(self, cfg: LMConfig, dim_visual: int):
        super().__init__()
        self.cfg = cfg
        self.transformer = LangTransformer(cfg, dim_visual)

    def bias(self, seq_len: int, device: torch.device) -> torch.Tensor:
        """ALiBi + causal additive bias for a prompt of seq_len tokens, (H, L, L) fp32."""
        return attention_bias(self.cfg.n_heads, seq_len, self.cfg.alibi_bias_max, device,
                              torch.float32, self.cfg.alibi_slopes)


class DeerVLA(nn.Module):
    """The whole multi-exit model. Segment-wise execution lives in rollout.ModelRollout."""

    def __init__(self, cfg: DeerConfig):
        super().__init__()
        if cfg.lm.vocab_size <= 0:
            raise ValueError('lm.vocab_size must be set (the tokenizer length)')
        self.cfg = cfg
        dim_visual = cfg.vision.width
        self.vision_encoder = VisionEncoder(cfg.vision)
        p = cfg.perceiver
        self.perceiver = PerceiverResampler(dim=dim_visual, depth=p.depth, dim_head=p.dim_head,
                                            heads=p.heads, num_latents=p.num_latents,
                                            ff_mult=p.ff_mult)
        self.lang_encoder = LangEncoder(cfg.lm, dim_visual)
        self.extra_exit = ExitHead(cfg.head, cfg.lm.d_model)
        self.vision_encoder.requires_grad_(False)

    @property
    def blocks(self) -> nn.ModuleList:
        """The FlamingoLayers, index = 0-based layer."""
        return self.lang_encoder.transformer.blocks

    def encode_media(self, static: torch.Tensor, gripper: Optional[torch.Tensor] = None,
                     vision_grad: bool = False) -> torch.Tensor:
        """(B, 3, S, S) pixels per camera -> media (B, 1, V, d_v), static tokens first.

        The vision encoder runs without autograd (frozen, as in DeeR) unless vision_grad:
        training a small preset from scratch trains it too.
        """
        cams = [static] if gripper is None else [static, gripper]
        out = []
        for pixels in cams:
            with torch.set_grad_enabled(vision_grad and torch.is_grad_enabled()):
                tokens = self.vision_encoder(pixels)                 # (B, P, d_v)
            out.append(self.perceiver(tokens[:, None, None]))        # (B, 1, n, d_v)
        return torch.cat(out, dim=2)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids -> (B, L, d)."""
        return self.lang_encoder.transformer.wte(input_ids)

    def forward(self, input_ids: torch.Tensor, media_token_id: int, static: torch.Tensor,
                gripper: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
        """Full forward; returns every layer's raw output, each (B, L, d) (no ln_f)."""
        media = self.encode_media(static, gripper)
        locations = input_ids == media_token_id                      # (B, L)
        x = self.embed(input_ids)
        bias = self.lang_encoder.bias(input_ids.shape[1], x.device)
        hidden = []
        for block in self.blocks:
            x = block(x, media, locations, bias)
            hidden.append(x)
        return hidden
