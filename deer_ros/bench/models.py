"""Models for benchmarks: presets with config overrides, example images, the machine's name."""
import platform
from dataclasses import fields, is_dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

INSTRUCTION = 'push the red block to the left'


def parse_overrides(items: Sequence[str]) -> Dict[str, str]:
    """['lm.d_model=512', ...] -> {'lm.d_model': '512'}; ValueError on a malformed item."""
    out: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise ValueError(f'override {item!r} is not KEY=VALUE (e.g. lm.d_model=512)')
        out[key.strip()] = value.strip()
    return out


def apply_overrides(cfg: Any, overrides: Dict[str, str]) -> Any:
    """A copy of a (nested, frozen) dataclass config with dotted fields replaced.

    Values are converted to the type of the current value; tuples take comma-separated items.
    """
    for key, text in overrides.items():
        cfg = _replace_path(cfg, key.split('.'), text, key)
    return cfg


def _replace_path(obj: Any, path: List[str], text: str, key: str) -> Any:
    if not is_dataclass(obj) or path[0] not in {f.name for f in fields(obj)}:
        raise ValueError(f'unknown config field {key!r}')
    current = getattr(obj, path[0])
    if len(path) > 1:
        return replace(obj, **{path[0]: _replace_path(current, path[1:], text, key)})
    return replace(obj, **{path[0]: _convert(current, text, key)})


def _convert(current: Any, text: str, key: str) -> Any:
    try:
        if isinstance(current, bool):
            if text.lower() not in ('true', 'false', '1', '0'):
                raise ValueError(text)
            return text.lower() in ('true', '1')
        if isinstance(current, tuple):
            kind = type(current[0]) if current else int
            return tuple(kind(x) for x in text.split(',') if x.strip())
        return type(current)(text)
    except ValueError as exc:
        raise ValueError(f'bad value {text!r} for {key}: {exc}') from exc


def bench_config(preset_name: str, overrides: Optional[Dict[str, str]] = None) -> Any:
    """The preset's DeerConfig (vocabulary sized by the packaged tokenizer) with overrides."""
    from deer_ros.model.build import preset_config
    cfg = preset_config(preset_name)
    if overrides:
        cfg = apply_overrides(cfg, overrides)
        cfg = replace(cfg, name=f'{cfg.name}+' + ','.join(f'{k}={v}'
                                                          for k, v in overrides.items()))
    return cfg


def bench_rollout(preset_name: str, overrides: Optional[Dict[str, str]] = None, seed: int = 0,
                  device: str = 'cpu', precision: str = 'fp32', reference: bool = False,
                  **rollout_kwargs: Any) -> Any:
    """A ModelRollout with random weights for a preset (plus overrides), reset to INSTRUCTION.

    reference: the pre-fast-path code (bench.reference.ReferenceRollout), same weights.
    On CUDA the weights are drawn on the GPU (seconds for deer-9b instead of minutes on the
    host), so a seed gives other weights there than on a CPU.
    """
    from deer_ros.model.build import build_model
    from deer_ros.model.rollout import ModelRollout
    from deer_ros.model.tokenizer import load_tokenizer
    kind = ModelRollout
    if reference:
        from deer_ros.bench.reference import ReferenceRollout
        kind = ReferenceRollout
    cfg = bench_config(preset_name, overrides)
    on_gpu = str(device).startswith('cuda')
    model = build_model(cfg, seed, device=device if on_gpu else None)
    rollout = kind(model, load_tokenizer(), device=device,
                   precision=precision, **rollout_kwargs)
    rollout.reset(INSTRUCTION)
    return rollout


def shared_rollout(cfg: Any, rollout: Optional[Any] = None) -> Any:
    """`rollout` switched to cfg.precision, or a new one for cfg (preset, seed, device)."""
    if rollout is None:
        return bench_rollout(cfg.preset, cfg.overrides, cfg.seed, cfg.device, cfg.precision)
    rollout.precision = cfg.precision
    rollout.reset(INSTRUCTION)
    return rollout


def camera_images(count: int = 2, height: int = 480, width: int = 640, seed: int = 0
                  ) -> List[np.ndarray]:
    """`count` deterministic (H, W, 3) uint8 RGB images (smooth gradients plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        base = np.stack([(xx + 40 * i) % 256, (yy + 80 * i) % 256, (xx + yy) // 4 % 256], -1)
        noise = rng.integers(0, 32, (height, width, 3))
        out.append(((base + noise) % 256).astype(np.uint8))
    return out


def device_name(device: str = 'cpu') -> str:
    """A human-readable name of the device: the GPU's name, else the CPU model and cores."""
    if device.startswith('cuda'):
        import torch
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    import os
    return f'{model} ({os.cpu_count()} logical cores)'


def analytic_costs(cfg: Any, tokens: float, cameras: int = 2) -> Dict[str, Any]:
    """GMAC per exit, vision GMAC and parameter bytes per part, without allocating weights.

    The model is built on the meta device, so deer-3b / deer-9b cost nothing to inspect.
    """
    import torch

    from deer_ros.model.build import build_model
    from deer_ros.model.flops import exit_macs, head_macs, vision_macs
    media = cfg.perceiver.num_latents * cameras
    model = build_model(cfg, device=torch.device('meta'))
    layer_bytes = [_bytes(block) for block in model.blocks]
    exits: List[Tuple[int, float, int]] = []
    for k, (layer, macs) in enumerate(zip(cfg.exit_layers, exit_macs(cfg, tokens, media))):
        exits.append((k, macs / 1e9, sum(layer_bytes[:layer + 1])))
    return dict(
        preset=cfg.name, tokens=tokens, cameras=cameras, exit_layers=list(cfg.exit_layers),
        exit_gmacs=[e[1] for e in exits], exit_layer_bytes=[e[2] for e in exits],
        head_gmacs=head_macs(cfg) / 1e9, vision_gmacs=vision_macs(cfg, cameras) / 1e9,
        vision_bytes=_bytes(model.vision_encoder) + _bytes(model.perceiver),
        embedding_bytes=_bytes(model.lang_encoder.transformer.wte),
        head_bytes=_bytes(model.extra_exit), total_bytes=_bytes(model))


def _bytes(module: Any) -> int:
    return int(sum(p.numel() * p.element_size() for p in module.parameters()))


def environment(device: str, threads: int, command: str = '') -> Dict[str, Any]:
    """What every result records about where it was measured."""
    import torch
    return dict(device=device, device_name=device_name(device), torch=torch.__version__,
                threads=threads, command=command, cuda_available=torch.cuda.is_available())
