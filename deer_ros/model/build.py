"""Building models and rollouts: from a preset and a seed, or from a checkpoint path.

`rollout_from_preset('tiny', seed=0)` gives a deterministic random model for tests, demos and
CPU training; `rollout_from_checkpoint(path)` accepts our format (a directory) or an
official DeeR `.pth` together with the files that one needs.
"""
import pathlib
from dataclasses import replace
from typing import Any, Optional, Tuple

import torch

from deer_ros.model.checkpoint import is_our_checkpoint, load_adapters, load_checkpoint
from deer_ros.model.config import DeerConfig, preset
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.official import load_official
from deer_ros.model.rollout import ModelRollout
from deer_ros.model.tokenizer import load_tokenizer


def build_model(cfg: DeerConfig, seed: Optional[int] = None,
                device: Optional[torch.device] = None) -> DeerVLA:
    """A randomly initialised DeerVLA; the same seed gives the same weights."""
    if seed is not None:
        torch.manual_seed(seed)
    if device is None:
        return DeerVLA(cfg)
    with torch.device(device):
        return DeerVLA(cfg)


def preset_config(name: str, tokenizer: Any = None, max_exit: Optional[int] = None
                  ) -> DeerConfig:
    """Preset config with the vocabulary sized by `tokenizer` where the preset leaves it 0."""
    cfg = preset(name)
    if cfg.lm.vocab_size == 0:
        tokenizer = tokenizer or load_tokenizer()
        cfg = replace(cfg, lm=replace(cfg.lm, vocab_size=len(tokenizer)))
    return cfg if max_exit is None else cfg.truncated(max_exit)


def rollout_from_preset(name: str, seed: int = 0, device: Optional[str] = None,
                        precision: str = 'fp32', max_exit: Optional[int] = None,
                        tokenizer_path: Optional[str] = None,
                        compile_layers: bool = False, transform: Optional[str] = None,
                        head_step: Optional[str] = None, compile_mode: str = 'default'
                        ) -> ModelRollout:
    """Random weights (deterministic for `seed`); `max_exit` builds only layers up to it.

    The weights of the kept layers do not depend on max_exit (the full model is drawn, then
    truncated), so a capped model equals the first layers of the uncapped one.
    """
    tokenizer = load_tokenizer(tokenizer_path)
    cfg = preset_config(name, tokenizer)
    model = build_model(cfg, seed)
    if max_exit is not None:
        model = truncate(model, max_exit)
    return ModelRollout(model, tokenizer, device=device, precision=precision,
                        compile_layers=compile_layers, transform=transform,
                        head_step=head_step, compile_mode=compile_mode)


def truncate(model: DeerVLA, max_exit: int) -> DeerVLA:
    """Keep the layers up to exit `max_exit` (DeeR's max_layer, without its off-by-one)."""
    cfg = model.cfg.truncated(max_exit)
    del model.lang_encoder.transformer.blocks[cfg.lm.n_layers:]
    model.cfg = cfg
    model.lang_encoder.cfg = cfg.lm
    return model


def rollout_from_checkpoint(path: str, device: Optional[str] = None, precision: str = 'fp32',
                            max_exit: Optional[int] = None, compile_layers: bool = False,
                            transform: Optional[str] = None, head_step: Optional[str] = None,
                            compile_mode: str = 'default', **official: Any) -> ModelRollout:
    """Our checkpoint directory, or an official DeeR .pth (see official.load_official).

    transform None: the image resize the checkpoint records (official files: 'pil');
    head_step None: the head step it records (official files: 'exact').
    """
    model, tokenizer = load_any(path, max_exit=max_exit, **official)
    rollout = ModelRollout(model, tokenizer, device=device, precision=precision,
                           compile_layers=compile_layers, transform=transform,
                           head_step=head_step, compile_mode=compile_mode)
    if is_our_checkpoint(pathlib.Path(path)):
        for block, adapter in load_adapters(path, model.cfg.lm.d_model).items():
            rollout.register_adapter(block, adapter)
    return rollout


def load_any(path: str, max_exit: Optional[int] = None, **official: Any
             ) -> Tuple[DeerVLA, Any]:
    """(model, tokenizer) from our format or the official one, chosen by what `path` is."""
    if is_our_checkpoint(pathlib.Path(path)):
        if official:
            raise ValueError(f'our checkpoints are self-contained; unexpected {sorted(official)}')
        return load_checkpoint(path, max_exit=max_exit)
    loaded = load_official(path, max_exit=max_exit, **official)
    return loaded.model, loaded.tokenizer
