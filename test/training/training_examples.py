"""Deterministic tiny datasets and models for the training tests."""
import numpy as np

from deer_ros.data.recording import Episode, write_episode
from deer_ros.model.build import build_model, preset_config
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset

INSTRUCTIONS = ('open the drawer', 'press the button from the top')


def learnable_episode(index: int, length: int = 8, size: int = 32) -> Episode:
    """Frames whose brightness encodes a constant per-episode action: a learnable mapping."""
    rng = np.random.default_rng(index)
    level = 60 + 120 * (index % 2)
    static = np.clip(rng.normal(level, 10, (length, size, size, 3)), 0, 255).astype(np.uint8)
    gripper = np.clip(rng.normal(level, 10, (length, size, size, 3)), 0, 255).astype(np.uint8)
    actions = np.zeros((length, 7), np.float32)
    actions[:, :3] = 0.6 if index % 2 else -0.6
    actions[:, 6] = 1.0 if index % 2 else -1.0
    return Episode(instruction=INSTRUCTIONS[index % 2], task=f'example-{index % 2}',
                   static=static, gripper=gripper, actions=actions, success=True)


def tiny_setup(episodes: int = 2, window: int = 4, seed: int = 0):
    """(model, tokenizer, dataset) of the tiny preset on learnable episodes."""
    tokenizer = load_tokenizer()
    cfg = preset_config('tiny', tokenizer)
    model = build_model(cfg, seed=seed)
    data = WindowDataset([learnable_episode(i) for i in range(episodes)], tokenizer,
                         cfg.vision, window)
    return model, tokenizer, data


def write_dataset(root, episodes: int = 2) -> str:
    """A recording on disk with learnable episodes; returns its path."""
    for i in range(episodes):
        write_episode(root, learnable_episode(i))
    return str(root)


def train_config(**kw) -> TrainConfig:
    """A fast TrainConfig for the tiny examples (window 4, batch 2, seed 3), kw overriding."""
    base = dict(window=4, batch_size=2, joint_steps=40, lr=3e-3, warmup_steps=1,
                save_every=1000, log_every=1, seed=3)
    base.update(kw)
    return TrainConfig(**base)
