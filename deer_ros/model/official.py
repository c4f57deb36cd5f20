"""Loader for the released DeeR-VLA checkpoints and the files they lean on.

A DeeR .pth holds (after stripping `module.`) perceiver, wte, the gated cross-attention layers
(twice: `transformer.blocks.{i}.gated_cross_attn_layer` and the `gated_cross_attn_layers.{i}`
alias), the frozen MPT blocks under the `old_decoder_blocks.{i}` alias, the heads, and the head
layout fields. What it lacks comes from the OpenFlamingo checkpoint, then the base MPT weights,
and CLIP from an open_clip checkpoint (precedence DeeR > OpenFlamingo > base). Files are read
with weights_only=True or safetensors: no pickled code runs.
"""
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch
from safetensors.torch import load_file

from deer_ros.model.accounting import LoadReport, check, expected_shapes, layer_index, load_into
from deer_ros.model.config import DeerConfig
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.official_config import Facts, clip_facts, deer_facts, mpt_facts, resolve
from deer_ros.model.tokenizer import load_tokenizer

BLOCKS = 'lang_encoder.transformer.blocks'
# transformers / MPT-7B block names -> MosaicGPT names
_DECODER_RENAMES = (('norm_1.', 'ln_1.'), ('norm_2.', 'ln_2.'), ('ffn.up_proj.', 'mlp.mlp_up.'),
                    ('ffn.down_proj.', 'mlp.mlp_down.'))
_KEEP = ('perceiver.', 'extra_exit.', 'vision_encoder.visual.', 'lang_encoder.transformer.wte.')
_IGNORE = ('lm_head.', 'lm_exit_modules.', 'lang_encoder.lm_head.',
           'lang_encoder.transformer.ln_f.', 'lang_encoder.transformer.norm_f.', 'vision_encoder.')
_ALIAS_XATTN = re.compile(r'lang_encoder\.gated_cross_attn_layers\.(\d+)\.(.*)')
_ALIAS_BLOCK = re.compile(r'lang_encoder\.old_decoder_blocks\.(\d+)\.(.*)')
_OURS_BLOCK = re.compile(r'lang_encoder\.transformer\.blocks\.(\d+)\.(gated_cross_attn_layer|'
                         r'decoder_layer)\.(.*)')
_MPT_BLOCK = re.compile(r'(?:model\.)?transformer\.blocks\.(\d+)\.(.*)')


@dataclass
class OfficialLoad:
    """Result of load_official: the model (CPU, fp32), its tokenizer and the accounting."""

    model: DeerVLA
    tokenizer: Any
    report: LoadReport
    origin: Dict[str, str] = field(default_factory=dict)   # config field -> file it came from


def _decoder(rest: str) -> str:
    for old, new in _DECODER_RENAMES:
        if rest.startswith(old):
            return new + rest[len(old):]
    return rest


def deer_key(key: str) -> Optional[str]:
    """Our name for a DeeR/OpenFlamingo key, '' for known-unused keys, None if unknown."""
    key = key[len('module.'):] if key.startswith('module.') else key
    if m := _ALIAS_XATTN.fullmatch(key):
        return f'{BLOCKS}.{m.group(1)}.gated_cross_attn_layer.{m.group(2)}'
    if m := _ALIAS_BLOCK.fullmatch(key):
        return f'{BLOCKS}.{m.group(1)}.decoder_layer.{_decoder(m.group(2))}'
    if m := _OURS_BLOCK.fullmatch(key):
        rest = _decoder(m.group(3)) if m.group(2) == 'decoder_layer' else m.group(3)
        return f'{BLOCKS}.{m.group(1)}.{m.group(2)}.{rest}'
    if key.startswith(_KEEP):
        return key
    return '' if key.startswith(_IGNORE) else None


def mpt_key(key: str) -> Optional[str]:
    """Our name for a base MPT (HF) key, '' for known-unused keys, None if unknown."""
    if m := _MPT_BLOCK.fullmatch(key):
        return f'{BLOCKS}.{m.group(1)}.decoder_layer.{_decoder(m.group(2))}'
    if key in ('transformer.wte.weight', 'model.transformer.wte.weight'):
        return 'lang_encoder.transformer.wte.weight'
    return '' if re.match(r'(model\.)?(transformer\.(ln_f|norm_f)|lm_head)\.', key) else None


def clip_key(key: str) -> Optional[str]:
    """Our name for an open_clip checkpoint key; the text tower is known-unused."""
    if key.startswith('visual.'):
        return 'vision_encoder.' + key
    return deer_key(key) if key.startswith(('module.', 'vision_encoder.')) else ''


def read_state(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """(tensors, other top-level fields) of a .pth/.pt/.bin/.safetensors file or a HF dir."""
    p = pathlib.Path(path)
    if p.is_dir():
        # an open_clip hub folder also holds timm-named weights: take open_clip's only
        files = (sorted(p.glob('open_clip*.safetensors')) or sorted(p.glob('open_clip*.bin'))
                 or sorted(p.glob('*.safetensors')) or sorted(p.glob('pytorch_model*.bin')))
        if not files:
            raise FileNotFoundError(f'{path}: no *.safetensors, pytorch_model*.bin or '
                                    'open_clip*.bin inside')
        merged: Dict[str, torch.Tensor] = {}
        for f in files:
            merged.update(read_state(str(f))[0])
        return merged, {}
    if p.suffix == '.safetensors':
        return load_file(str(p)), {}
    try:
        obj = torch.load(str(p), map_location='cpu', weights_only=True, mmap=True)
    except RuntimeError:      # legacy (non-zip) files cannot be memory-mapped
        obj = torch.load(str(p), map_location='cpu', weights_only=True)
    for name in ('model_state_dict', 'state_dict', 'model'):
        if isinstance(obj, dict) and isinstance(obj.get(name), dict):
            return obj[name], {k: v for k, v in obj.items() if k != name}
    return obj, {}


def load_official(deer_path: str, preset: Optional[str] = None,
                  tokenizer_path: Optional[str] = None, clip_path: Optional[str] = None,
                  openflamingo_path: Optional[str] = None, mpt_path: Optional[str] = None,
                  max_exit: Optional[int] = None,
                  overrides: Optional[Dict[str, Any]] = None) -> OfficialLoad:
    """Build the architecture the files describe (official_config) and fill it strictly.

    `preset` only fills what no file says; `overrides` ({'lm.n_heads': 16, ...}) win over both.
    Official checkpoints default to the exact open_clip (PIL) transform they were trained with,
    and to the head step in DeeR's float order (head.step 'exact').
    """
    tokenizer = load_tokenizer(tokenizer_path)
    deer, saved = read_state(deer_path)
    sources: List[Tuple[str, Dict[str, torch.Tensor], Any]] = [('deer', deer, deer_key)]
    for name, path, rule in (('openflamingo', openflamingo_path, deer_key),
                             ('mpt', mpt_path, mpt_key), ('clip', clip_path, clip_key)):
        if path:
            sources.append((name, read_state(path)[0], rule))
    paths = {'deer': deer_path, 'tokenizer': tokenizer_path or 'packaged', 'clip': clip_path,
             'mpt': mpt_path}
    cfg, origin = official_architecture(paths, saved, len(tokenizer),
                                        {n: s for n, s, _ in sources}, preset, overrides)
    if max_exit is not None:
        cfg = cfg.truncated(max_exit)
    with torch.device('meta'):
        model = DeerVLA(cfg)
    expected = expected_shapes(model)
    report = LoadReport()
    weights = _merge(sources, expected, cfg.lm.n_layers, report)
    check(expected, weights, report)
    load_into(model, weights)
    return OfficialLoad(model, tokenizer, report, origin)


def official_architecture(paths: Dict[str, Optional[str]], saved: Dict[str, Any],
                          vocab_size: int, states: Dict[str, Dict[str, torch.Tensor]],
                          preset: Optional[str], overrides: Optional[Dict[str, Any]]
                          ) -> Tuple[DeerConfig, Dict[str, str]]:
    """(config, field -> source) from the files; see deer_ros.model.official_config.

    `paths` names the files by role (deer, tokenizer, clip, mpt), `states` their tensors.
    """
    facts = Facts()
    facts.add('lm.vocab_size', vocab_size,
              f'tokenizer ({paths["tokenizer"]}, with DeeR\'s added tokens)')
    mapped = _renamed(states['deer'], deer_key)
    if 'mpt' in states and not any('.decoder_layer.' in k for k in mapped):
        blocks = [k for k in _renamed(states['mpt'], mpt_key) if '.decoder_layer.' in k]
        if blocks:
            facts.add('lm.qk_ln', any(k.endswith('attn.q_ln.weight') for k in blocks),
                      f'MPT weights ({paths["mpt"]})')
    widths = deer_facts(mapped, saved, str(paths['deer']), facts)
    if paths['clip']:
        clip = _renamed(states['clip'], clip_key)
        clip_facts(paths['clip'], {k[len('vision_encoder.'):]: v for k, v in clip.items()},
                   facts)
    if paths['mpt']:
        mpt_facts(paths['mpt'], facts)
    overrides = dict(overrides or {})
    overrides.setdefault('vision.transform', 'pil')
    overrides.setdefault('head.step', 'exact')
    return resolve(facts, widths, overrides, preset)


def _renamed(state: Dict[str, torch.Tensor], rule: Any) -> Dict[str, torch.Tensor]:
    return {ours: v for k, v in state.items() if (ours := rule(k))}


def _merge(sources: List[Tuple[str, Dict[str, torch.Tensor], Any]],
           expected: Dict[str, Tuple[int, ...]], n_layers: int,
           report: LoadReport) -> Dict[str, torch.Tensor]:
    weights: Dict[str, torch.Tensor] = {}
    vocab = expected['lang_encoder.transformer.wte.weight'][0]
    for source, tensors, rule in sources:
        taken = 0
        for key, value in tensors.items():
            ours = rule(key)
            if ours is None:
                report.unexpected.append(f'{source}:{key}')
                continue
            layer = layer_index(ours) if ours else None
            if ours == '' or (layer is not None and layer >= n_layers):
                report.ignored.append(f'{source}:{key}')
                continue
            if ours not in expected:
                report.unexpected.append(f'{source}:{key}')
                continue
            if ours in weights:
                continue                     # a higher-precedence source (or alias) won
            if source == 'mpt' and ours.endswith('wte.weight') and value.shape[0] > vocab:
                value = value[:vocab]        # resize_token_embeddings keeps the first rows
            weights[ours] = value.float() if value.is_floating_point() else value
            taken += 1
        report.sources[source] = taken
    return weights
