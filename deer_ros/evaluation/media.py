"""An episode as pictures: a PNG strip of evenly spaced frames and an animated GIF (Pillow)."""
import pathlib
from typing import List, Sequence

import numpy as np


def pick_frames(frames: Sequence[np.ndarray], count: int) -> List[np.ndarray]:
    """`count` evenly spaced frames, first and last included (all when there are fewer)."""
    if len(frames) <= count:
        return list(frames)
    index = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in index]


def save_strip(frames: Sequence[np.ndarray], path: pathlib.Path, count: int = 8,
               scale: int = 2, gap_px: int = 2) -> pathlib.Path:
    """A horizontal strip of (H, W, 3) uint8 frames, upscaled by `scale`, white gaps."""
    from PIL import Image
    chosen = pick_frames(frames, count)
    if not chosen:
        raise ValueError('no frames to save')
    h, w = chosen[0].shape[:2]
    strip = np.full((h, len(chosen) * (w + gap_px) - gap_px, 3), 255, np.uint8)
    for i, frame in enumerate(chosen):
        strip[:, i * (w + gap_px):i * (w + gap_px) + w] = frame
    image = Image.fromarray(strip).resize((strip.shape[1] * scale, h * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def save_gif(frames: Sequence[np.ndarray], path: pathlib.Path, max_frames: int = 60,
             fps: float = 10.0, scale: int = 2) -> pathlib.Path:
    """An animated GIF of up to `max_frames` evenly spaced frames."""
    from PIL import Image
    chosen = pick_frames(frames, max_frames)
    if not chosen:
        raise ValueError('no frames to save')
    h, w = chosen[0].shape[:2]
    images = [Image.fromarray(f).resize((w * scale, h * scale), Image.NEAREST) for f in chosen]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=int(1000 / fps))
    return path
