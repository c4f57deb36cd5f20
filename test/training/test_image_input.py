"""The action can be learnt from the cameras: the batch-normed exit feature and open gates.

Why: the shipped `mini` model, trained from scratch, gives the same first command for every
scene (docs/training.md, "does not use its cameras"). Here only the image tells the action: a
yellow square on the left means -x, on the right +x; instruction and state are the same.
"""
import dataclasses

import numpy as np
import pytest
import torch

from deer_ros.data.recording import Episode, read_episode, write_episode
from deer_ros.model.build import build_model, preset_config
from deer_ros.model.checkpoint import load_checkpoint, save_checkpoint
from deer_ros.model.config import DeerConfig, HeadConfig, default_exits
from deer_ros.model.rollout import ModelRollout
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.runner import with_state_input
from deer_ros.training.trainer import MultiExitTrainer

SIZE = 32
STEPS = 110


def image_episode(index: int, length: int = 8) -> Episode:
    """A square left (-x) or right (+x) of a noisy grey image; the state says nothing."""
    rng = np.random.default_rng(index)
    frames = np.full((length, SIZE, SIZE, 3), 120, np.uint8)
    frames += rng.integers(0, 10, frames.shape, dtype=np.uint8)
    sign = 1.0 if index % 2 else -1.0
    centre = 3 * SIZE // 4 if sign > 0 else SIZE // 4
    half = SIZE // 8
    frames[:, SIZE // 2 - half:SIZE // 2 + half, centre - half:centre + half] = (230, 200, 30)
    state = (np.float32([0.0, 0.6, 0.2, 1.0])
             + rng.normal(0.0, 0.01, (length, 4)).astype(np.float32))
    actions = np.zeros((length, 7), np.float32)
    actions[:, 0] = 0.7 * sign
    actions[:, 6] = 1.0
    return Episode(instruction='press the button from the top', task='button-press-topdown-v3',
                   static=frames, gripper=np.full_like(frames, 90), actions=actions,
                   success=True, state=state)


def seeing_config(tokenizer, data_dir) -> DeerConfig:  # noqa: ANN001 - transformers tokenizer
    """`tiny` with mini2's two changes, 4 layers (fast), and the state input."""
    cfg = preset_config('tiny', tokenizer)
    cfg = dataclasses.replace(
        cfg, lm=dataclasses.replace(cfg.lm, n_layers=4, gate_init=1.0),
        head=dataclasses.replace(cfg.head, feature_norm='batch'), exit_layers=default_exits(4))
    return with_state_input(cfg, [str(data_dir)])


def first_x(model, tokenizer, index: int) -> float:  # noqa: ANN001
    """The x command at an episode's first frame, through the deployed rollout."""
    rollout = ModelRollout(model, tokenizer, device='cpu')
    episode = image_episode(index)
    rollout.reset(episode.instruction)
    frame = rollout.encode(episode.static[0], episode.gripper[0], state=episode.state[0])
    rollout.run_layers(frame, 0, rollout.num_layers)
    return float(rollout.candidate(frame, rollout.num_layers - 1).pose[0])


def test_training_learns_the_action_from_the_image(tmp_path):
    for i in range(16):
        write_episode(tmp_path, image_episode(i))
    tokenizer = load_tokenizer()
    cfg = seeing_config(tokenizer, tmp_path)
    model = build_model(cfg, seed=0)
    data = WindowDataset([read_episode(p) for p in sorted(tmp_path.glob('episodes/*.npz'))],
                         tokenizer, cfg.vision, window=4)
    train = TrainConfig(window=4, batch_size=8, joint_steps=STEPS, lr=1e-3, warmup_steps=10,
                        log_every=1, seed=3, use_state=True, shift_pad=0)
    trainer = MultiExitTrainer(model, tokenizer, data, train)   # 1 thread: conftest.py
    for _ in range(STEPS):
        trainer.train_step()
    left = [first_x(model, tokenizer, i) for i in (0, 2)]
    right = [first_x(model, tokenizer, i) for i in (1, 3)]
    assert max(left) < -0.3 and min(right) > 0.3, (left, right)


def test_feature_norm_is_validated_and_absent_by_default():
    with pytest.raises(ValueError, match='feature_norm'):
        HeadConfig(feature_norm='layer')
    tiny = preset_config('tiny')
    assert tiny.head.feature_norm == 'auto'
    assert not [k for k in build_model(tiny, seed=0).state_dict() if 'feature_norm' in k]
    old = tiny.to_dict()
    del old['head']['feature_norm']                # a checkpoint written before the field
    assert DeerConfig.from_dict(old) == tiny
    assert preset_config('mini2').head.feature_norm == 'batch'
    assert preset_config('mini2').lm.gate_init == 1.0


def test_batch_norm_statistics_round_trip_through_a_checkpoint(tmp_path):
    tokenizer = load_tokenizer()
    write_episode(tmp_path / 'data', image_episode(0))
    cfg = seeing_config(tokenizer, tmp_path / 'data')
    model = build_model(cfg, seed=0)
    norm = model.extra_exit.feature_norm
    norm.train()
    norm(torch.randn(64, norm.num_features) * 5.0 + 3.0)    # move the running statistics
    save_checkpoint(str(tmp_path / 'ckpt'), model, tokenizer)
    back, _ = load_checkpoint(str(tmp_path / 'ckpt'))
    for name in ('running_mean', 'running_var', 'weight', 'bias'):
        assert torch.equal(getattr(back.extra_exit.feature_norm, name), getattr(norm, name))
    assert abs(float(norm.running_mean.mean()) - 0.3) < 0.1     # momentum 0.1 x mean 3
