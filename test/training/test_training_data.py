"""Training inputs: windows, resize identical to inference, augmentation, batch order."""
import numpy as np
import torch
from training_examples import learnable_episode, tiny_setup

from deer_ros.model.build import preset_config
from deer_ros.model.vision import preprocess
from deer_ros.training.augment import random_shift
from deer_ros.training.data import WindowDataset, normalize, resize_frames
from deer_ros.training.sampling import batch_indices


def test_resize_matches_the_inference_preprocessing():
    cfg = preset_config('tiny').vision
    frames = learnable_episode(1, length=3, size=64).static
    ours = normalize(resize_frames(frames, cfg), cfg)
    ref = torch.cat([preprocess(f, cfg) for f in frames])
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_windows_cover_every_start_and_keep_the_instruction():
    _, tok, data = tiny_setup(episodes=2, window=4)
    assert len(data) == 2 * (8 - 4 + 1)
    batch = data.batch([0, len(data) - 1])
    assert batch.static.shape == (2, 4, 3, 32, 32) and batch.actions.shape == (2, 4, 7)
    assert batch.token_mask[0].sum() != batch.token_mask[1].sum()   # two prompt lengths
    assert (batch.input_ids[~batch.token_mask] == tok.pad_token_id).all()


def test_random_shift_keeps_shape_and_zero_pad_is_identity():
    x = torch.rand(5, 3, 16, 16)
    assert torch.equal(random_shift(x, 0), x)
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(y, shifted)                       # seeded: reproducible


def test_batch_order_is_a_pure_function_of_seed_and_step():
    a = batch_indices(50, 8, seed=1, step=9)
    assert np.array_equal(a, batch_indices(50, 8, seed=1, step=9))
    epoch = np.concatenate([batch_indices(50, 8, 1, s) for s in range(6)])
    assert len(set(epoch.tolist())) == 48                 # no repeats within an epoch


def test_early_windows_are_listed_repeat_times():
    _, tok, plain = tiny_setup(episodes=2, window=2)
    eps = [learnable_episode(i) for i in range(2)]
    data = WindowDataset(eps, tok, preset_config('tiny', tok).vision, 2, early=(3, 4))
    starts = [t for _, t in data.index]
    assert [starts.count(t) for t in range(7)] == [8, 8, 8, 2, 2, 2, 2]   # 2 episodes each
    assert sorted(set(data.index)) == sorted(plain.index)      # the same windows, reweighted
