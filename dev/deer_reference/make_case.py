"""Write a non-preset DeeR case (official-layout files, frames) and run OUR CLI on it.

Run with the product's venv: PYTHONPATH=. .venv/bin/python dev/deer_reference/make_case.py OUT
Writes OUT/{deer.pth, clip.bin, open_clip_config.json, mpt/, tokenizer/, frames/} and
OUT/ours_<policy>.jsonl from `deer-ros infer --checkpoint OUT/deer.pth` (and the converted
directory). Dimensions follow DeeR's fixed choices where its code hard-wires them (perceiver
6x8x64, 64 latents; cross-attention 8x64; head LSTM width 1024) and are non-preset elsewhere.
"""
import contextlib
import io
import json
import os
import pathlib
import sys

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'test' / 'model'))
from model_examples import write_neox_tokenizer  # noqa: E402
from test_checkpoints import _write_official  # noqa: E402

from deer_ros.cli import main  # noqa: E402
from deer_ros.model.build import build_model  # noqa: E402
from deer_ros.model.config import (DeerConfig, HeadConfig, LMConfig,  # noqa: E402
                                   PerceiverConfig, VisionConfig)

INSTRUCTION = 'push the red block to the left'
FIELDS = {'dropout_mode': 'layerwise', 'mlp_layernorm': True, 'lstm_layernorm': True,
          'mlp_num_hidden_layers': 2, 'lstm_num_layers': 2, 'pooling': 'max',
          'exit_interval': 2, 'early_exit_layer': 5, 'exit_dropout': 0.4, 'lstm_dropout': 0.3,
          'head_type': 'deterministic', 'precision': 'fp32'}
MPT = {'model_type': 'mosaic_gpt', 'd_model': 192, 'n_heads': 6, 'n_layers': 8, 'mlp_ratio': 4,
       'max_seq_len': 64, 'vocab_size': 320, 'attn_impl': 'torch', 'attn_qk_ln': True,
       'alibi': True, 'alibi_bias_max': 8, 'no_bias': True, 'low_precision_layernorm': True}
CLIP = {'model_cfg': {'embed_dim': 32, 'quick_gelu': True,
                      'vision_cfg': {'image_size': 56, 'layers': 2, 'width': 128,
                                     'patch_size': 8, 'head_width': 64},
                      'text_cfg': {'context_length': 16, 'vocab_size': 64, 'width': 32,
                                   'heads': 2, 'layers': 1}}}
FRAMES = 8
# CPU threads of both sides (run_deer.py reads the same variable): the oneDNN LSTM and MKL
# kernels split work by thread count, so only equal counts compare bit for bit
THREADS = int(os.environ.get('DEER_REF_THREADS', '1'))


def config() -> DeerConfig:
    """The non-preset architecture (what DeeR's code builds from the files above)."""
    return DeerConfig(
        name='reference',
        vision=VisionConfig(image_size=56, patch_size=8, width=128, layers=2, head_width=64,
                            embed_dim=32, transform='pil'),
        perceiver=PerceiverConfig(),
        lm=LMConfig(d_model=192, n_heads=6, n_layers=6, vocab_size=280, cross_attn_every=2,
                    gate_init=0.7),
        head=HeadConfig(hidden_size=1024, lstm_num_layers=2, mlp_hidden_dims=(1024, 512)),
        exit_layers=(1, 3, 5))


def smooth(seed: int, size: int) -> np.ndarray:
    """A camera-like (size, size, 3) uint8 image: bicubic-upsampled noise."""
    small = np.random.default_rng(seed).integers(0, 256, (size // 6, size // 6, 3), np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))


def infer(args: list) -> list:
    """Our CLI's JSON lines."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(['infer', '--device', 'cpu', *args]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def write_case(out: pathlib.Path) -> dict:
    """Files + frames; returns the paths by role."""
    torch.manual_seed(0)
    model = build_model(config(), seed=7)
    with torch.no_grad():                  # LayerNorm weights away from 1, biases from 0
        for name, p in model.named_parameters():
            if p.dim() == 1 and ('ln' in name or 'norm' in name):
                p.add_(0.1 * torch.randn_like(p))
    paths = _write_official(out, model.state_dict(), fields=FIELDS)
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(out / 'ours_state.safetensors'))       # for run_deer.py's weight check
    (paths['mpt'] / 'config.json').write_text(json.dumps(MPT))
    (out / 'open_clip_config.json').write_text(json.dumps(CLIP))
    paths['tokenizer'] = write_neox_tokenizer(out / 'tokenizer')
    frames = out / 'frames'
    frames.mkdir(exist_ok=True)
    for i in range(FRAMES):
        np.save(frames / f's{i}.npy', smooth(i, 200))
        np.save(frames / f'g{i}.npy', smooth(100 + i, 84))
    return {k: str(v) for k, v in paths.items()}


def main_(out: pathlib.Path) -> None:
    """Write the case, then run our CLI for each policy (thresholds chosen from values)."""
    torch.set_num_threads(THREADS)
    if out.exists():
        import shutil
        shutil.rmtree(out)
    out.mkdir(parents=True)
    paths = write_case(out)
    files = ['--tokenizer', paths['tokenizer'], '--clip', paths['clip'], '--mpt', paths['mpt']]
    frames = ['--static', *[str(out / 'frames' / f's{i}.npy') for i in range(FRAMES)],
              '--gripper', *[str(out / 'frames' / f'g{i}.npy') for i in range(FRAMES)],
              '--instruction', INSTRUCTION, '--exit-policy', 'deer']
    never = infer(['--checkpoint', paths['deer'], *files, *frames,
                   '--thresholds', '-1e8', '-1e8', '1e5'])
    values = np.array([[c['value'] for c in r['candidates']] for r in never])   # (F, exits)
    policies = {'never': [-1e8, -1e8, 1e5], 'always': [1e8, 1e8, 1e5],
                'median': [float(np.median(values[:, 0])), float(np.median(values[:, 1])), 1e5]}
    converted = out / 'converted'
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(['convert', paths['deer'], '--out', str(converted), *files]) == 0
    for name, thresholds in policies.items():
        t = [str(x) for x in thresholds]
        for source, extra in (('pth', ['--checkpoint', paths['deer'], *files]),
                              ('dir', ['--checkpoint', str(converted)])):
            lines = infer([*extra, *frames, '--thresholds', *t])
            (out / f'ours_{name}_{source}.jsonl').write_text(
                ''.join(json.dumps(r) + '\n' for r in lines))
    (out / 'policies.json').write_text(json.dumps(policies))
    print(json.dumps({'out': str(out), 'policies': policies}))


if __name__ == '__main__':
    main_(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else '/tmp/deer_ref/case'))
