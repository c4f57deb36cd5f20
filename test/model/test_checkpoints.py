"""Our format round-trips; the official DeeR layout loads strictly, with precedence and aliases.

The official-layout files are written here from the key rules of deer_vla.md section 6 (not
with the loader's own mapping), for the tiny preset.
"""
import json

import numpy as np
import pytest
import torch
from model_examples import INSTRUCTION, make_image, make_tiny
from safetensors.torch import save_file

from deer_ros.model.accounting import CheckpointError
from deer_ros.model.adapters import SkipAdapter
from deer_ros.model.build import rollout_from_checkpoint
from deer_ros.model.checkpoint import load_checkpoint, save_checkpoint
from deer_ros.model.official import load_official
from deer_ros.model.official_config import ConfigError

HEAD_FIELDS = {'dropout_mode': 'layerwise', 'mlp_layernorm': True, 'lstm_layernorm': True,
               'mlp_num_hidden_layers': 2, 'lstm_num_layers': 4, 'pooling': 'max',
               'exit_interval': 2, 'early_exit_layer': 11, 'exit_dropout': 0.4,
               'lstm_dropout': 0.3, 'epoch': 3, 'precision': 'fp32'}


def _pose(rollout):
    rollout.reset(INSTRUCTION)
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, rollout.num_layers)
    return rollout.candidate(frame, rollout.exit_layers[-1]).pose


def _write_official(tmp_path, state, with_old_blocks=True, drop=(), extra=None,
                    fields=None):
    """DeeR .pth + CLIP + base MPT files in the released layout, from our state dict."""
    deer, clip, mpt = {}, {'text_projection': torch.zeros(2, 2),
                           'logit_scale': torch.zeros(())}, {}
    for key, value in state.items():
        if key.startswith('vision_encoder.visual.'):
            clip[key[len('vision_encoder.'):]] = value
        elif '.decoder_layer.' in key:
            layer, rest = key.split('.blocks.')[1].split('.decoder_layer.')
            mpt[f'transformer.blocks.{layer}.{rest}'] = value
            if with_old_blocks:
                deer[f'module.lang_encoder.old_decoder_blocks.{layer}.{rest}'] = value
        else:
            deer['module.' + key] = value
            if '.gated_cross_attn_layer.' in key:
                layer, rest = key.split('.blocks.')[1].split('.gated_cross_attn_layer.')
                deer[f'module.lang_encoder.gated_cross_attn_layers.{layer}.{rest}'] = value
    wte = state['lang_encoder.transformer.wte.weight']
    mpt['transformer.wte.weight'] = torch.zeros(wte.shape[0] + 7, wte.shape[1])  # larger vocab
    beyond = 1 + max(int(k.split('.')[3]) for k in state if '.decoder_layer.' in k)
    mpt[f'transformer.blocks.{beyond}.ln_1.weight'] = torch.ones(wte.shape[1])  # not kept
    mpt['transformer.norm_f.weight'] = torch.ones(wte.shape[1])
    deer['module.lm_head.actions.mlp.1.weight'] = torch.zeros(3, 3)       # aux heads: unused
    deer.update(extra or {})
    for key in drop:
        del deer[key]
    paths = {'deer': tmp_path / 'deer.pth', 'clip': tmp_path / 'clip.bin',
             'mpt': tmp_path / 'mpt'}
    torch.save({**(fields or HEAD_FIELDS), 'model_state_dict': deer, 'optimizer_state_dict': {}},
               paths['deer'])
    torch.save(clip, paths['clip'])
    paths['mpt'].mkdir()
    save_file({k: v.contiguous() for k, v in mpt.items()},
              str(paths['mpt'] / 'model.safetensors'))
    return paths


def _load(paths, **kwargs):
    return load_official(str(paths['deer']), preset='tiny', clip_path=str(paths['clip']),
                         mpt_path=str(paths['mpt']), **kwargs)


def test_our_format_round_trip_with_adapter(tmp_path):
    rollout = make_tiny(seed=5)
    adapter = SkipAdapter(rollout.config.lm.d_model, rank=4)
    with torch.no_grad():
        adapter.up.weight.normal_()
    rollout.register_adapter((2, 4), adapter)
    out = save_checkpoint(str(tmp_path / 'ckpt'), rollout.model, rollout.tokenizer,
                          rollout.adapters)
    assert json.loads((out / 'config.json').read_text())['model']['name'] == 'tiny'
    loaded = rollout_from_checkpoint(str(out), device='cpu')
    ours = loaded.model.state_dict()
    for key, value in rollout.model.state_dict().items():
        assert torch.equal(ours[key], value), key
    np.testing.assert_allclose(_pose(loaded), _pose(rollout), atol=1e-6)
    torch.testing.assert_close(loaded.adapters.get((2, 4)).up.weight, adapter.up.weight)
    capped, _ = load_checkpoint(str(out), max_exit=1)
    assert len(capped.blocks) == 4


def test_our_format_rejects_unknown_keys(tmp_path):
    rollout = make_tiny()
    out = save_checkpoint(str(tmp_path / 'ckpt'), rollout.model, rollout.tokenizer)
    from safetensors.torch import load_file
    tensors = load_file(str(out / 'model.safetensors'))
    tensors['extra_exit.bogus'] = torch.zeros(1)
    save_file(tensors, str(out / 'model.safetensors'))
    with pytest.raises(CheckpointError, match='extra_exit.bogus'):
        load_checkpoint(str(out))


def test_official_layout_loads_strictly_and_reproduces_actions(tmp_path):
    rollout = make_tiny(seed=11)
    paths = _write_official(tmp_path, rollout.model.state_dict())
    loaded = _load(paths)
    assert loaded.report.ok and not loaded.report.unexpected
    assert loaded.report.sources['deer'] > 0 and loaded.report.sources['clip'] > 0
    assert any('lm_head' in k for k in loaded.report.ignored)
    assert any('blocks.12' in k for k in loaded.report.ignored)
    theirs = loaded.model.state_dict()
    for key, value in rollout.model.state_dict().items():
        torch.testing.assert_close(theirs[key], value, rtol=0, atol=0, msg=key)
    from deer_ros.model.rollout import ModelRollout
    assert loaded.model.cfg.vision.transform == 'pil'          # official: open_clip's resize
    assert loaded.model.cfg.head.step == 'exact'               # official: DeeR's nn.LSTM call
    from deer_ros.model.head_step import ExactHeadStep, HeadStep
    assert isinstance(ModelRollout(loaded.model, loaded.tokenizer, 'cpu')._head_step,
                      ExactHeadStep)
    # tensors read from the files are copied where they are not 64-byte aligned (MKL rounds
    # differently on misaligned operands), so the model computes as one allocated by torch
    assert all(p.data_ptr() % 64 == 0 for p in loaded.model.parameters())
    same = ModelRollout(loaded.model, loaded.tokenizer, 'cpu', transform='torch',
                        head_step='fused')
    assert isinstance(same._head_step, HeadStep)
    np.testing.assert_allclose(_pose(same), _pose(rollout), atol=1e-6)


def test_official_precedence_deer_over_openflamingo_over_base(tmp_path):
    rollout = make_tiny(seed=12)
    state = rollout.model.state_dict()
    paths = _write_official(tmp_path, state, with_old_blocks=False)   # blocks from base MPT
    flamingo = {'perceiver.latents': torch.full_like(state['perceiver.latents'], 9.0),
                'lang_encoder.transformer.blocks.0.decoder_layer.ln_1.weight':
                    torch.full_like(state['lang_encoder.transformer.blocks.0.decoder_layer.'
                                          'ln_1.weight'], 7.0)}
    torch.save(flamingo, tmp_path / 'of.pt')
    loaded = _load(paths, openflamingo_path=str(tmp_path / 'of.pt'))
    got = loaded.model.state_dict()
    torch.testing.assert_close(got['perceiver.latents'], state['perceiver.latents'])   # DeeR
    assert torch.all(got['lang_encoder.transformer.blocks.0.decoder_layer.ln_1.weight'] == 7.0)
    torch.testing.assert_close(got['lang_encoder.transformer.blocks.1.decoder_layer.ln_1.weight'],
                               state['lang_encoder.transformer.blocks.1.decoder_layer.'
                                     'ln_1.weight'])                              # base MPT


def test_official_missing_wrong_shape_and_unexpected_keys_are_reported(tmp_path):
    rollout = make_tiny(seed=13)
    state = rollout.model.state_dict()
    missing = 'module.extra_exit.rnn.layers.0.weight_ih_l0'
    paths = _write_official(tmp_path, state, drop=[missing])
    with pytest.raises(CheckpointError, match='extra_exit.rnn.layers.0.weight_ih_l0'):
        _load(paths)
    bad = {'module.extra_exit.actions.mlp.1.weight': torch.zeros(3, 3),
           'module.something.unknown': torch.zeros(1)}
    (tmp_path / 'b').mkdir()
    paths = _write_official(tmp_path / 'b', state, extra=bad)
    with pytest.raises(CheckpointError, match='wrong shape'):
        _load(paths)
    (tmp_path / 'c').mkdir()
    paths = _write_official(tmp_path / 'c', state,
                            extra={'module.something.unknown': torch.zeros(1)})
    assert 'deer:module.something.unknown' in _load(paths).report.unexpected


def test_official_head_fields_that_contradict_the_tensors_are_one_error(tmp_path):
    rollout = make_tiny(seed=14)
    paths = _write_official(tmp_path, rollout.model.state_dict())
    blob = torch.load(paths['deer'], weights_only=True)
    blob['lstm_layernorm'] = False            # the tensors are a LayerNorm-LSTM's
    torch.save(blob, paths['deer'])
    with pytest.raises(ConfigError, match=r'head.lstm_layernorm: False from DeeR .pth fields '
                                          r'.*True from DeeR .pth tensors'):
        _load(paths)
    assert _load(paths, overrides={'head.lstm_layernorm': True}).report.ok


def test_official_max_exit_builds_only_needed_layers(tmp_path):
    rollout = make_tiny(seed=15)
    paths = _write_official(tmp_path, rollout.model.state_dict())
    loaded = _load(paths, max_exit=1)
    assert len(loaded.model.blocks) == 4 and loaded.model.cfg.exit_layers == (1, 3)
