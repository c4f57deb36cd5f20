"""Measure how far the fast 'torch' resize lands from the exact 'pil' one (open_clip's).

Pixel level: uint8 levels after resize + centre crop to 224, on uniform-noise images and on
smooth images (bicubic-upsampled noise, closer to camera frames), at CALVIN's camera sizes
and 640x480. Pose level: the same random-weight model (preset `small`, gates open) run on the
same frames with each transform. Usage: PYTHONPATH=. .venv/bin/python dev/transform_deviation.py
"""
import numpy as np
import torch
from PIL import Image

from deer_ros.model.build import rollout_from_preset
from deer_ros.model.config import VisionConfig
from deer_ros.model.vision import pil_resize_crop, resize_crop


def images(kind: str, shape: tuple, seed: int) -> np.ndarray:
    """A deterministic (H, W, 3) uint8 test image: uniform noise or smooth."""
    rng = np.random.default_rng(seed)
    if kind == 'noise':
        return rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(shape[::-1], Image.BICUBIC))


def pixels() -> None:
    """Print the markdown table of level differences."""
    print('| image | size | pixels differing | max levels | mean levels |')
    print('|---|---|---|---|---|')
    for kind in ('noise', 'smooth'):
        for shape in ((200, 200), (84, 84), (480, 640)):
            diffs = []
            for seed in range(5):
                img = images(kind, shape, seed)
                exact = pil_resize_crop(img, 224).astype(int)
                x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]
                fast = resize_crop(x, 224)[0].permute(1, 2, 0).numpy().astype(int)
                diffs.append(np.abs(exact - fast))
            d = np.stack(diffs)
            print(f'| {kind} | {shape[1]}x{shape[0]} | {(d > 0).mean():.1%} | {d.max()} | '
                  f'{d.mean():.3f} |')


def poses(frames: int = 8) -> None:
    """Print the pose difference of one model run with each transform."""
    torch.set_num_threads(1)
    rollout = rollout_from_preset('small', seed=0, device='cpu')
    with torch.no_grad():
        for block in rollout.model.blocks:
            if block.gated_cross_attn_layer is not None:
                block.gated_cross_attn_layer.attn_gate.fill_(1.0)
                block.gated_cross_attn_layer.ff_gate.fill_(1.0)
    out = {}
    for transform in ('pil', 'torch'):
        rollout.transform = transform
        rollout.reset('push the red block to the left')
        got = []
        for i in range(frames):
            frame = rollout.encode(images('smooth', (200, 200), i), images('smooth', (84, 84), i))
            rollout.run_layers(frame, 0, rollout.num_layers)
            cand = rollout.candidate(frame, rollout.exit_layers[-1])
            rollout.commit(cand)
            got.append(cand.pose)
        out[transform] = np.stack(got)
    d = np.abs(out['pil'] - out['torch'])
    print(f'\npreset small (random weights, gates 1), {frames} frames 200x200 + 84x84: '
          f'max |pose difference| {d.max():.2e}, mean {d.mean():.2e}')
    assert VisionConfig().transform == 'torch'


if __name__ == '__main__':
    pixels()
    poses()
