"""Our checkpoint format: a directory with config.json, model.safetensors and tokenizer/.

config.json holds `DeerConfig.to_dict()` (the whole architecture) and the adapter list, so a
model is rebuilt with no code edits. Loading builds on the meta device and assigns the
stored tensors, with strict accounting.
"""
import json
import pathlib
from typing import Any, Dict, Optional, Tuple

import torch
from safetensors.torch import load_file, save_file

from deer_ros.model.accounting import (CheckpointError, LoadReport, check, expected_shapes,
                                       layer_index, load_into)
from deer_ros.model.adapters import AdapterRegistry, SkipAdapter
from deer_ros.model.config import DeerConfig
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.tokenizer import load_tokenizer

FORMAT = 'deer_ros.checkpoint/1'
CONFIG, WEIGHTS, TOKENIZER = 'config.json', 'model.safetensors', 'tokenizer'


def is_our_checkpoint(path: pathlib.Path) -> bool:
    """A directory holding our config.json and weights."""
    return path.is_dir() and (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def save_checkpoint(out_dir: str, model: DeerVLA, tokenizer: Any,
                    adapters: Optional[AdapterRegistry] = None,
                    metadata: Optional[Dict[str, Any]] = None) -> pathlib.Path:
    """Write model (+ adapters, tokenizer) to `out_dir`; returns the directory.

    Weights are stored in fp32 whatever their dtype in memory (training keeps frozen weights in
    bf16 / fp16; loading assigns the file's dtype, and every command expects fp32).
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: _fp32(v.detach().cpu()).contiguous() for k, v in model.state_dict().items()}
    adapter_meta = {}
    for (a, b), module in (adapters.items() if adapters is not None else ()):
        if not isinstance(module, SkipAdapter):
            raise TypeError(f'only SkipAdapter can be saved, got {type(module).__name__}')
        adapter_meta[AdapterRegistry.key((a, b))] = {'rank': module.down.out_features}
        for k, v in module.state_dict().items():
            tensors[f'adapters.{AdapterRegistry.key((a, b))}.{k}'] = v.detach().cpu().contiguous()
    save_file(tensors, str(out / WEIGHTS), metadata={'format': FORMAT})
    config = {'format': FORMAT, 'model': model.cfg.to_dict(), 'adapters': adapter_meta,
              'metadata': metadata or {}}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + '\n')
    tokenizer.save_pretrained(str(out / TOKENIZER))
    return out


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def read_config(path: str) -> DeerConfig:
    """The DeerConfig stored in a checkpoint directory."""
    data = json.loads((pathlib.Path(path) / CONFIG).read_text())
    if data.get('format') != FORMAT:
        raise ValueError(f'{path}: unknown checkpoint format {data.get("format")!r}')
    return DeerConfig.from_dict(data['model'])


def load_checkpoint(path: str, max_exit: Optional[int] = None
                    ) -> Tuple[DeerVLA, Any]:
    """(model on CPU, tokenizer); `max_exit` keeps only the layers up to that exit."""
    root = pathlib.Path(path)
    cfg = read_config(path)
    if max_exit is not None:
        cfg = cfg.truncated(max_exit)     # on meta: the same model as building, then truncate
    with torch.device('meta'):
        model = DeerVLA(cfg)
    tensors = load_file(str(root / WEIGHTS))
    weights = {k: v for k, v in tensors.items() if not k.startswith('adapters.')}
    kept = expected_shapes(model)
    report = LoadReport()
    for name in weights:
        if name not in kept:
            layer = layer_index(name)
            capped = layer is not None and layer >= model.cfg.lm.n_layers
            (report.ignored if capped else report.unexpected).append(name)
    check(kept, weights, report)
    if report.unexpected:
        raise CheckpointError(f'{path}: keys the config does not describe:\n' + report.summary())
    load_into(model, {k: weights[k] for k in kept})
    return model, load_tokenizer(str(root / TOKENIZER))


def load_adapters(path: str, d_model: int) -> AdapterRegistry:
    """Adapters stored with a checkpoint (empty registry when none)."""
    root = pathlib.Path(path)
    meta = json.loads((root / CONFIG).read_text()).get('adapters', {})
    registry = AdapterRegistry()
    if not meta:
        return registry
    tensors = load_file(str(root / WEIGHTS))
    for key, spec in meta.items():
        a, b = (int(x) for x in key.split('_'))
        adapter = SkipAdapter(d_model, rank=int(spec['rank']))
        prefix = f'adapters.{key}.'
        adapter.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                 if k.startswith(prefix)}, strict=True)
        registry.register((a, b), adapter)
    return registry
