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
    assert 'MPT config' in summary['architecture_from']['lm.alibi_slopes']   # 6 heads: matters
    from deer_ros.model.checkpoint import load_checkpoint
    converted, _ = load_checkpoint(out)
    assert converted.cfg.vision.transform == 'pil'
    assert converted.cfg.head.step == 'exact'                  # kept by the converted directory
    assert all(p.data_ptr() % 64 == 0 for p in converted.parameters())
    assert converted.cfg.lm.alibi_slopes == 'mosaic_gpt'
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
    assert [r['action'] for r in direct] == [r['action'] for r in from_dir]   # the same step
    assert main(['infer', '--checkpoint', out, *policy, '--head-step', 'fused']) == 0
    fused = _lines(capsys)
    assert [r['exit_index'] for r in fused] == [2, 2]
    np.testing.assert_allclose([r['action'] for r in fused], [r['action'] for r in from_dir],
                               atol=1e-5)


def test_disagreeing_files_are_one_error_naming_both(tmp_path):
    _, paths = _files(tmp_path, mpt_config={**MPT_CONFIG, 'd_model': 128})
    with pytest.raises(ConfigError) as err:
        load_official(paths['deer'], tokenizer_path=paths['tokenizer'],
                      clip_path=paths['clip'], mpt_path=paths['mpt'])
    message = str(err.value)
    assert 'lm.d_model: 96 from DeeR .pth tensors' in message and 'wte columns' in message
    assert '128 from MPT config' in message
    assert message.count('\n') < 6                              # one short error


def test_what_no_file_says_is_named_and_can_be_set(tmp_path, capsys):
    _, paths = _files(tmp_path, clip_config=None)                # head_width: no file says
    kwargs = dict(tokenizer_path=paths['tokenizer'], clip_path=paths['clip'],
                  mpt_path=paths['mpt'])
    with pytest.raises(ConfigError, match=r'vision.head_width: no file says it.*--set'):
        load_official(paths['deer'], **kwargs)
    loaded = load_official(paths['deer'], overrides={'vision.head_width': 16}, **kwargs)
    assert loaded.report.ok and loaded.origin['vision.head_width'] == '--set'
    files = ['--tokenizer', paths['tokenizer'], '--clip', paths['clip'], '--mpt', paths['mpt']]
    out = str(tmp_path / 'converted')
    assert main(['convert', paths['deer'], '--out', out, *files,
                 '--set', 'vision.head_width=16', '--set', 'vision.transform=torch']) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['architecture_from']['vision.head_width'] == '--set'
    from deer_ros.model.checkpoint import read_config
    assert read_config(out).vision.transform == 'torch'
    with pytest.raises(SystemExit, match='deer-ros convert: --set expects KEY=VALUE'):
        main(['convert', paths['deer'], '--out', out, *files, '--set', 'head_width'])
    with pytest.raises(SystemExit, match=r'deer-ros infer: .*vision.head_width: no file says'):
        main(['infer', '--checkpoint', paths['deer'], *files, '--static', out + '/x.npy'])


MPT7B_CONFIG = {'model_type': 'mpt', 'd_model': 64, 'n_heads': 4, 'n_layers': 10,
                'expansion_ratio': 4, 'norm_type': 'low_precision_layernorm', 'no_bias': True,
                'attn_config': {'alibi': True, 'alibi_bias_max': 8, 'qk_ln': False}}
MPT7B_NAMES = (('.ln_1.', '.norm_1.'), ('.ln_2.', '.norm_2.'), ('.mlp.mlp_up.', '.ffn.up_proj.'),
               ('.mlp.mlp_down.', '.ffn.down_proj.'))


def test_mpt7b_layout_loads_and_the_last_exit_reads_the_raw_block_output(tmp_path):
    """deer-9b's shape (MPT-7B names, no q/k LayerNorm, cross-attention every 4th layer).

    DeeR's modeling_gpt_9b.py returns inside the block loop at the forced last exit, so the
    head reads the raw output of the last kept layer; norm_f only feeds training's lm_head.
    """
    base = odd_config()
    cfg = DeerConfig(vision=base.vision, perceiver=base.perceiver, head=base.head,
                     lm=LMConfig(d_model=64, n_heads=4, n_layers=8, vocab_size=280, qk_ln=False,
                                 cross_attn_every=4, xattn_dim_head=64, xattn_heads=1,
                                 gate_init=0.5),
                     exit_layers=(1, 3, 5, 7))
    model = build_model(cfg, seed=4)
    paths = _write_official(tmp_path, model.state_dict(), with_old_blocks=False,
                            fields={**FIELDS, 'early_exit_layer': 7})
    from safetensors.torch import load_file, save_file
    mpt = load_file(str(paths['mpt'] / 'model.safetensors'))
    renamed = {}
    for key, value in mpt.items():
        for ours, theirs in MPT7B_NAMES:
            key = key.replace(ours, theirs)
        renamed[key] = value
    renamed['transformer.norm_f.weight'] = torch.full((64,), 3.0)
    save_file(renamed, str(paths['mpt'] / 'model.safetensors'))
    (paths['mpt'] / 'config.json').write_text(json.dumps(MPT7B_CONFIG))
    (tmp_path / 'open_clip_config.json').write_text(json.dumps(CLIP_CONFIG))
    tokenizer = write_neox_tokenizer(tmp_path / 'tokenizer')
    loaded = load_official(str(paths['deer']), tokenizer_path=str(tokenizer),
                           clip_path=str(paths['clip']), mpt_path=str(paths['mpt']))
    assert loaded.model.cfg.lm.cross_attn_every == 4 and not loaded.model.cfg.lm.qk_ln
    assert loaded.model.cfg.exit_layers == (1, 3, 5, 7)
    assert 'mpt:transformer.norm_f.weight' in loaded.report.ignored
    from deer_ros.model.rollout import ModelRollout
    rollout = ModelRollout(loaded.model, loaded.tokenizer, 'cpu')
    rollout.reset('push the red block to the left')
    static, gripper = make_image(1, 40), make_image(2, 20)
    frame = rollout.encode(static, gripper)
    rollout.run_layers(frame, 0, 8)
    pose = rollout.candidate(frame, 7).pose
    with torch.no_grad():
        raw = frame.outputs[7]                                   # (1, L, d), no norm_f
        expected = loaded.model.extra_exit(loaded.model.extra_exit.pool(raw)[:, None])[0]
    np.testing.assert_allclose(pose, expected[0, 0].numpy(), atol=1e-6)
