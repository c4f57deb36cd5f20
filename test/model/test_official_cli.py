"""An official-layout checkpoint whose dimensions match no preset loads through the CLI.

The architecture comes from the files (MPT config.json, the open_clip config beside the CLIP
weights, the head fields and tensor shapes of the DeeR .pth, the tokenizer); no --preset.
"""
import json

import numpy as np
import pytest
import torch
from model_examples import make_image, write_neox_tokenizer
from test_checkpoints import _write_official

from deer_ros.cli import main
from deer_ros.model.build import build_model
from deer_ros.model.config import (DeerConfig, HeadConfig, LMConfig, PerceiverConfig,
                                   VisionConfig)
from deer_ros.model.official import load_official
from deer_ros.model.official_config import ConfigError

FIELDS = {'dropout_mode': 'layerwise', 'mlp_layernorm': True, 'lstm_layernorm': True,
          'mlp_num_hidden_layers': 2, 'lstm_num_layers': 2, 'pooling': 'max',
          'exit_interval': 2, 'early_exit_layer': 5, 'exit_dropout': 0.4, 'lstm_dropout': 0.3}
MPT_CONFIG = {'model_type': 'mosaic_gpt', 'd_model': 96, 'n_heads': 6, 'n_layers': 8,
              'mlp_ratio': 4, 'attn_qk_ln': True, 'alibi_bias_max': 8,
              'low_precision_layernorm': True, 'vocab_size': 320}
CLIP_CONFIG = {'model_cfg': {'embed_dim': 24, 'vision_cfg': {
    'image_size': 28, 'layers': 2, 'width': 48, 'patch_size': 7, 'head_width': 16}}}


def odd_config() -> DeerConfig:
    """No preset's dimensions; the DeeR constants (dim_head 64) where no file says."""
    return DeerConfig(
        name='odd', vision=VisionConfig(image_size=28, patch_size=7, width=48, layers=2,
                                        head_width=16, embed_dim=24, transform='pil'),
        perceiver=PerceiverConfig(depth=2, dim_head=64, heads=1, num_latents=6, ff_mult=3),
        lm=LMConfig(d_model=96, n_heads=6, n_layers=6, vocab_size=280, cross_attn_every=2,
                    xattn_dim_head=64, xattn_heads=1, xattn_ff_mult=2, gate_init=0.5),
        head=HeadConfig(hidden_size=40, lstm_num_layers=2, mlp_hidden_dims=(40, 24)),
        exit_layers=(1, 3, 5))


def _files(tmp_path, mpt_config=MPT_CONFIG, clip_config=CLIP_CONFIG):
    model = build_model(odd_config(), seed=3)
    paths = _write_official(tmp_path, model.state_dict(), fields=FIELDS)
    (paths['mpt'] / 'config.json').write_text(json.dumps(mpt_config))
    if clip_config:
        (tmp_path / 'open_clip_config.json').write_text(json.dumps(clip_config))
    paths['tokenizer'] = write_neox_tokenizer(tmp_path / 'tokenizer')
    return model, {k: str(v) for k, v in paths.items()}


def _frames(tmp_path):
    files = []
    for i, size in enumerate((40, 20, 36, 21)):
        files.append(str(tmp_path / f'f{i}.npy'))
        np.save(files[-1], make_image(i, size))
    return files[:2], files[2:]


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_non_preset_official_files_convert_and_infer_without_preset(tmp_path, capsys):
    model, paths = _files(tmp_path)
    files = ['--tokenizer', paths['tokenizer'], '--clip', paths['clip'], '--mpt', paths['mpt']]
    out = str(tmp_path / 'converted')
    assert main(['convert', paths['deer'], '--out', out, *files]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['layers'] == 6 and summary['exit_layers'] == [1, 3, 5]
    assert 'MPT config' in summary['architecture_from']['lm.n_heads']
    assert 'open_clip config' in summary['architecture_from']['vision.head_width']
    from deer_ros.model.checkpoint import load_checkpoint
    converted, _ = load_checkpoint(out)
    assert converted.cfg.vision.transform == 'pil'
    for key, value in model.state_dict().items():
        assert torch.equal(converted.state_dict()[key], value), key
    static, gripper = _frames(tmp_path)
    policy = ['--static', *static, '--gripper', *gripper, '--device', 'cpu',
              '--exit-policy', 'deer', '--thresholds', '-1e8', '-1e8', '1e5']
    assert main(['infer', '--checkpoint', out, *policy]) == 0
    from_dir = _lines(capsys)
    assert [r['exit_index'] for r in from_dir] == [2, 2]       # -1e8: never exit early
    assert main(['infer', '--checkpoint', paths['deer'], *files, *policy]) == 0
    direct = _lines(capsys)
    assert [r['exit_index'] for r in direct] == [2, 2]
    np.testing.assert_allclose([r['action'] for r in direct], [r['action'] for r in from_dir],
                               atol=1e-6)


def test_disagreeing_files_are_one_error_naming_both(tmp_path):
    _, paths = _files(tmp_path, mpt_config={**MPT_CONFIG, 'd_model': 128})
    with pytest.raises(ConfigError) as err:
        load_official(paths['deer'], tokenizer_path=paths['tokenizer'],
                      clip_path=paths['clip'], mpt_path=paths['mpt'])
    message = str(err.value)
    assert 'lm.d_model: 96 from DeeR .pth tensors' in message and 'wte columns' in message
    assert '128 from MPT config' in message
    assert message.count('\n') < 6                              # one short error


def test_what_no_file_says_is_named_and_can_be_set(tmp_path):
    _, paths = _files(tmp_path, clip_config=None)                # head_width: no file says
    kwargs = dict(tokenizer_path=paths['tokenizer'], clip_path=paths['clip'],
                  mpt_path=paths['mpt'])
    with pytest.raises(ConfigError, match=r'vision.head_width: no file says it.*--set'):
        load_official(paths['deer'], **kwargs)
    loaded = load_official(paths['deer'], overrides={'vision.head_width': 16}, **kwargs)
    assert loaded.report.ok and loaded.origin['vision.head_width'] == '--set'
