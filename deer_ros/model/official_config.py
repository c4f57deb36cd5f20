"""The architecture of an official DeeR checkpoint, read from the files a user downloads.

Each config field takes, in order: a `--set` override; else what the files say (the MPT
config.json, an open_clip config or the CLIP state dict's shapes, the DeeR .pth's saved head
fields and tensor shapes, the tokenizer's length); else a preset, only for what no file can say
(attention head widths, QuickGELU, and MPT's head count when no config.json is given). Files
that disagree are one ConfigError naming each field, value and file.
"""
import json
import math
import pathlib
import re
from dataclasses import fields, is_dataclass, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from deer_ros.model.config import DeerConfig, default_exits, preset

# DeeR's .pth fields -> our config paths (early_exit_layer and exit_interval handled apart)
HEAD_FIELDS = ('dropout_mode', 'mlp_layernorm', 'lstm_layernorm', 'mlp_num_hidden_layers',
               'lstm_num_layers', 'pooling', 'exit_dropout', 'lstm_dropout')
# eval_calvin.py's defaults for a field the .pth lacks (used only where the shapes are silent)
HEAD_DEFAULTS = {'dropout_mode': 'wo_last', 'mlp_layernorm': False, 'lstm_layernorm': False,
                 'mlp_num_hidden_layers': 3, 'lstm_num_layers': 4, 'pooling': 'max'}
# a gap filled by a preset is trusted only if the preset agrees on the field that sizes it
_GAP_GUARD = {'lm.n_heads': 'lm.d_model', 'vision.head_width': 'vision.width'}


class ConfigError(ValueError):
    """The files (or overrides) do not describe one architecture."""


class Facts:
    """Field path -> [(value, source)] collected from the files."""

    def __init__(self) -> None:
        self.values: Dict[str, List[Tuple[Any, str]]] = {}

    def add(self, path: str, value: Any, source: str) -> None:
        """Record that `source` says `path` = `value`."""
        self.values.setdefault(path, []).append((value, source))

    def conflicts(self, skip: Any = ()) -> List[str]:
        """One line per field on which two sources disagree (fields in `skip` excepted)."""
        lines = []
        for path, said in self.values.items():
            first = _plain(said[0][0])
            if path not in skip and any(_plain(v) != first for v, _ in said[1:]):
                lines.append(f'{path}: ' + '; '.join(f'{v!r} from {s}' for v, s in said))
        return lines


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def parse_overrides(items: Optional[List[str]]) -> Dict[str, Any]:
    """`['lm.n_heads=16', 'exit_interval=2']` -> {path: value} (values parsed as YAML)."""
    out: Dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise ConfigError(f'--set expects KEY=VALUE, got {item!r}')
        key, value = key.strip(), yaml.safe_load(value)
        if key == 'early_exit_layer':
            key, value = 'lm.n_layers', int(value) + 1
        out[f'head.{key}' if key in HEAD_FIELDS else key] = value
    return out


def mpt_facts(mpt_path: str, facts: Facts) -> None:
    """MPT's config.json next to (or inside) --mpt: MPT-1B (mosaic_gpt) and MPT-7B (mpt) keys."""
    p = pathlib.Path(mpt_path)
    file = (p if p.is_dir() else p.parent) / 'config.json'
    if not file.is_file():
        return
    cfg, src = json.loads(file.read_text()), f'MPT config ({file})'
    attn = cfg.get('attn_config', {})
    for path, value in (('lm.d_model', cfg.get('d_model')), ('lm.n_heads', cfg.get('n_heads')),
                        ('lm.mlp_ratio', cfg.get('mlp_ratio', cfg.get('expansion_ratio'))),
                        ('lm.alibi_bias_max', cfg.get('alibi_bias_max',
                                                      attn.get('alibi_bias_max'))),
                        ('lm.qk_ln', cfg.get('attn_qk_ln', attn.get('qk_ln')))):
        if value is not None:
            facts.add(path, value, src)
    if 'low_precision_layernorm' in cfg or 'norm_type' in cfg:
        low = cfg.get('low_precision_layernorm', cfg.get('norm_type') == 'low_precision_layernorm')
        facts.add('lm.low_precision_layernorm', bool(low), src)
    if 'n_layers' in cfg:
        facts.add('mpt.n_layers', cfg['n_layers'], src)
    if cfg.get('model_type') in ('mosaic_gpt', 'mpt'):      # whose ALiBi slope code runs
        facts.add('lm.alibi_slopes', cfg['model_type'], src)


def clip_facts(clip_path: str, state: Mapping[str, Any], facts: Facts) -> None:
    """The ViT from an open_clip config beside the weights, and from the weights' shapes."""
    p = pathlib.Path(clip_path)
    folder = p if p.is_dir() else p.parent
    for file in (folder / 'open_clip_config.json', p.with_suffix('.json')):
        if file.is_file() and file != p:
            cfg = json.loads(file.read_text())
            model, pre = cfg.get('model_cfg', cfg), cfg.get('preprocess_cfg', {})
            src = f'open_clip config ({file})'
            for key, value in model.get('vision_cfg', {}).items():
                if key in ('image_size', 'layers', 'width', 'patch_size', 'head_width',
                           'mlp_ratio'):
                    facts.add(f'vision.{key}', value, src)
            for key in ('embed_dim', 'quick_gelu'):
                if key in model:
                    facts.add(f'vision.{key}', model[key], src)
            for key in ('mean', 'std'):
                if key in pre:
                    facts.add(f'vision.{key}', list(pre[key]), src)
            break
    conv = state.get('visual.conv1.weight')
    if conv is None:
        return
    src = f'CLIP weights ({clip_path})'
    width, patch = int(conv.shape[0]), int(conv.shape[2])
    facts.add('vision.width', width, src)
    facts.add('vision.patch_size', patch, src)
    pos = state.get('visual.positional_embedding')
    if pos is not None:
        facts.add('vision.image_size', patch * math.isqrt(int(pos.shape[0]) - 1), src)
    blocks = {k.split('.')[3] for k in state if k.startswith('visual.transformer.resblocks.')}
    facts.add('vision.layers', len(blocks), src)
    fc = state.get('visual.transformer.resblocks.0.mlp.c_fc.weight')
    if fc is not None:
        facts.add('vision.mlp_ratio', int(fc.shape[0]) / width, src)
    if 'visual.proj' in state:
        facts.add('vision.embed_dim', int(state['visual.proj'].shape[1]), src)


def _indices(state: Mapping[str, Any], pattern: str) -> List[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.fullmatch(k))})


def deer_facts(state: Mapping[str, Any], saved: Mapping[str, Any], deer_path: str,
               facts: Facts) -> Dict[str, int]:
    """Saved head/exit fields and tensor shapes of the DeeR .pth (keys without `module.`).

    Returns the attention widths (heads x dim_head) that need a dim_head to split.
    """
    fsrc, tsrc = f'DeeR .pth fields ({deer_path})', f'DeeR .pth tensors ({deer_path})'
    for name in HEAD_FIELDS:
        if name in saved:
            facts.add(f'head.{name}', saved[name], fsrc)
    if 'exit_interval' in saved:
        facts.add('exit_interval', int(saved['exit_interval']), fsrc)
    if int(saved.get('early_exit_layer', -1)) >= 0:
        facts.add('lm.n_layers', int(saved['early_exit_layer']) + 1,
                  fsrc + ' early_exit_layer + 1')
    if 'layernorm' in saved:                  # legacy field, wins over mlp_layernorm
        facts.values.pop('head.mlp_layernorm', None)
        facts.add('head.mlp_layernorm', saved['layernorm'], fsrc)
    widths: Dict[str, int] = {}
    if (wte := state.get('lang_encoder.transformer.wte.weight')) is not None:
        facts.add('lm.vocab_size', int(wte.shape[0]), tsrc + ' wte rows')
        facts.add('lm.d_model', int(wte.shape[1]), tsrc + ' wte columns')
    xattn = _indices(state, r'lang_encoder\.transformer\.blocks\.(\d+)\.gated_cross_attn_layer'
                            r'\.attn_gate')
    if xattn:
        every = xattn[0] + 1
        if xattn != list(range(every - 1, xattn[-1] + 1, every)):
            raise ConfigError(f'{deer_path}: cross-attention at layers {xattn} is not every '
                              f'n-th layer')
        facts.add('lm.cross_attn_every', every, tsrc + ' (gated_cross_attn_layer indices)')
        pre = f'lang_encoder.transformer.blocks.{xattn[0]}.gated_cross_attn_layer.'
        widths['lm'] = int(state[pre + 'attn.to_q.weight'].shape[0])
        ff = state[pre + 'ff.1.weight']
        facts.add('lm.xattn_ff_mult', int(ff.shape[0]) // int(ff.shape[1]), tsrc)
    old = _indices(state, r'lang_encoder\.transformer\.blocks\.(\d+)\.decoder_layer\.ln_1\.weight')
    if old:
        facts.add('lm.n_layers', old[-1] + 1, tsrc + ' (old_decoder_blocks)')
        qk = f'lang_encoder.transformer.blocks.{old[0]}.decoder_layer.attn.q_ln.weight' in state
        facts.add('lm.qk_ln', qk, tsrc + ' (old_decoder_blocks)')
    if (latents := state.get('perceiver.latents')) is not None:
        facts.add('perceiver.num_latents', int(latents.shape[0]), tsrc)
        facts.add('vision.width', int(latents.shape[1]), tsrc + ' perceiver.latents')
        depth = _indices(state, r'perceiver\.layers\.(\d+)\.0\.to_q\.weight')
        facts.add('perceiver.depth', len(depth), tsrc)
        widths['perceiver'] = int(state['perceiver.layers.0.0.to_q.weight'].shape[0])
        ff = state['perceiver.layers.0.1.1.weight']
        facts.add('perceiver.ff_mult', int(ff.shape[0]) // int(ff.shape[1]), tsrc)
    _head_facts(state, tsrc, facts)
    return widths


def _head_facts(state: Mapping[str, Any], src: str, facts: Facts) -> None:
    ln = _indices(state, r'extra_exit\.rnn\.layers\.(\d+)\.weight_hh_l0')
    plain = _indices(state, r'extra_exit\.rnn\.weight_hh_l(\d+)')
    if ln or plain:
        facts.add('head.lstm_layernorm', bool(ln), src + ' (extra_exit.rnn)')
        facts.add('head.lstm_num_layers', len(ln or plain), src + ' (extra_exit.rnn)')
        first = (f'extra_exit.rnn.layers.{ln[0]}.weight_hh_l0' if ln
                 else 'extra_exit.rnn.weight_hh_l0')
        facts.add('head.hidden_size', int(state[first].shape[1]), src)
    linear = [state[f'extra_exit.actions.mlp.{i}.weight']
              for i in _indices(state, r'extra_exit\.actions\.mlp\.(\d+)\.weight')]
    if linear:
        dims = [int(w.shape[0]) for w in linear if w.dim() == 2]
        facts.add('head.mlp_layernorm', any(w.dim() == 1 for w in linear),
                  src + ' (extra_exit.actions.mlp)')
        facts.add('head.out_features', dims[-1], src)
        facts.add('head.mlp_hidden_dims', dims[:-1], src + ' (extra_exit.actions.mlp)')


def resolve(facts: Facts, widths: Dict[str, int], overrides: Dict[str, Any],
            preset_name: Optional[str]) -> Tuple[DeerConfig, Dict[str, str]]:
    """(config, field -> where its value came from); ConfigError on any disagreement."""
    dims = facts.values.get('head.mlp_hidden_dims')
    mode = facts.values.get('head.dropout_mode', [(HEAD_DEFAULTS['dropout_mode'], '')])[0][0]
    if dims and overrides.get('head.dropout_mode', mode) in ('layerwise', 'last'):
        facts.add('head.mlp_num_hidden_layers', len(dims[0][0]), dims[0][1])
    problems = facts.conflicts(skip=overrides)
    if problems:
        raise ConfigError('the checkpoint files disagree on the architecture:\n  '
                          + '\n  '.join(problems)
                          + '\nfix the file list, or override one field with --set FIELD=VALUE')
    said = {p: v[0] for p, v in facts.values.items()}
    said.update({p: (v, '--set') for p, v in overrides.items()})
    d_model = said.get('lm.d_model', (None,))[0]
    base = preset(preset_name or ('deer-9b' if d_model == 4096 else 'deer-3b'))
    values: Dict[str, Any] = {p: v for p, (v, _) in said.items()}
    origin = {p: s for p, (_, s) in said.items()}
    for name, default in HEAD_DEFAULTS.items():
        if f'head.{name}' not in values:
            values[f'head.{name}'] = default
            origin[f'head.{name}'] = "eval_calvin.py's default (field absent from the .pth)"
    for part in ('lm', 'perceiver'):
        if part in widths:
            dim_key = f'{part}.{"xattn_dim_head" if part == "lm" else "dim_head"}'
            head_key = f'{part}.{"xattn_heads" if part == "lm" else "heads"}'
            dim_head = values.get(dim_key, _get(base, dim_key))
            if head_key not in values:
                values[head_key] = widths[part] // dim_head
                origin[head_key] = f'attention width {widths[part]} / {dim_key} {dim_head}'
    if 'lm.n_layers' not in values and 'mpt.n_layers' in values:   # early_exit_layer -1
        values['lm.n_layers'] = values['mpt.n_layers']
        origin['lm.n_layers'] = origin['mpt.n_layers']
    depth = values.pop('mpt.n_layers', None)
    if depth is not None and values.get('lm.n_layers', 0) > depth:
        raise ConfigError(f'the DeeR .pth keeps {values["lm.n_layers"]} layers, more than the '
                          f'{depth} of {origin["mpt.n_layers"]}')
    interval = int(values.pop('exit_interval', 1))
    if 'exit_layers' not in values:
        n_layers = int(values.get('lm.n_layers', base.lm.n_layers))
        values['exit_layers'] = list(default_exits(n_layers, interval))
        origin['exit_layers'] = f'every {interval} layers + the last (exit_interval)'
    cfg = _apply(base, values)
    for gap, guard in _GAP_GUARD.items():
        if gap not in values and guard in values and _get(base, guard) != values[guard]:
            raise ConfigError(f'{gap}: no file says it and preset {base.name} is for {guard} '
                              f'{_get(base, guard)}, the files say {values[guard]}; give the '
                              f'file that says it (MPT/open_clip config) or --set {gap}=N')
    return replace(cfg, name=f'official ({base.name} gaps)'), origin


def _get(cfg: Any, path: str) -> Any:
    for part in path.split('.'):
        cfg = getattr(cfg, part)
    return cfg


def _apply(cfg: Any, values: Dict[str, Any]) -> Any:
    """A copy of the (nested, frozen) dataclass `cfg` with dotted-path `values` set."""
    known = {f.name for f in fields(cfg)}
    direct, nested = {}, {}
    for path, value in values.items():
        head, _, rest = path.partition('.')
        if head not in known:
            raise ConfigError(f'unknown config field {path!r} (known: {sorted(known)})')
        if rest:
            if not is_dataclass(getattr(cfg, head)):
                raise ConfigError(f'{head} has no field {rest!r}')
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = tuple(value) if isinstance(value, list) else value
    for head, sub in nested.items():
        direct[head] = _apply(getattr(cfg, head), sub)
    try:
        return replace(cfg, **direct)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'invalid architecture: {exc}') from exc
