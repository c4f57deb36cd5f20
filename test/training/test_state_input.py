"""The optional robot-state input: recorded, learnt from, and used at inference; off by default."""
import dataclasses

import numpy as np
import pytest
import torch

from deer_ros.data.recording import Episode, read_episode, write_episode
from deer_ros.model.build import build_model, preset_config
from deer_ros.model.config import DeerConfig
from deer_ros.model.rollout import ModelRollout
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.runner import with_state_input
from deer_ros.training.trainer import MultiExitTrainer

SIZE = 32


def state_episode(index: int, length: int = 8) -> Episode:
    """Identical images and instruction; only the state tells the action (+x or -x)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (length, SIZE, SIZE, 3), dtype=np.uint8)
    sign = 1.0 if index % 2 else -1.0
    state = np.tile(np.float32([0.1 * sign, 0.6, 0.2, 1.0]), (length, 1))
    actions = np.zeros((length, 7), np.float32)
    actions[:, 0] = 0.7 * sign
    actions[:, 6] = 1.0
    return Episode(instruction='reach the goal position', task='reach-v3', static=frames,
                   gripper=frames.copy(), actions=actions, success=True, state=state)


def state_model(tmp_path, seed: int = 0):
    """(model, tokenizer, data): the tiny preset with a state input, stats from a recording."""
    for i in range(2):
        write_episode(tmp_path, state_episode(i))
    tokenizer = load_tokenizer()
    cfg = with_state_input(preset_config('tiny', tokenizer), [str(tmp_path)])
    model = build_model(cfg, seed=seed)
    data = WindowDataset([read_episode(p) for p in sorted(tmp_path.glob('episodes/*.npz'))],
                         tokenizer, cfg.vision, window=4)
    return model, tokenizer, data


def test_recording_round_trips_the_robot_state(tmp_path):
    episode = state_episode(1)
    path = write_episode(tmp_path, episode)
    back = read_episode(path)
    assert back.state.dtype == np.float32
    np.testing.assert_array_equal(back.state, episode.state)
    with pytest.raises(ValueError, match='state'):
        dataclasses.replace(episode, state=episode.state[:, :3])


def test_deer_layout_is_unchanged_without_state():
    cfg = preset_config('tiny')
    assert cfg.head.state_dim == 0
    keys = build_model(cfg, seed=0).state_dict().keys()
    assert not [k for k in keys if 'state_encoder' in k]
    old = cfg.to_dict()
    for name in ('state_dim', 'state_features', 'state_mean', 'state_std'):
        del old['head'][name]                    # a checkpoint written before the state input
    assert DeerConfig.from_dict(old) == cfg


def test_state_statistics_come_from_the_recording(tmp_path):
    model, _, _ = state_model(tmp_path)
    head = model.cfg.head
    assert head.state_dim == 4
    assert head.state_mean == pytest.approx((0.0, 0.6, 0.2, 1.0), abs=1e-6)
    assert head.state_std[0] == pytest.approx(0.1, abs=1e-6)
    assert head.state_std[1] == pytest.approx(1e-3)             # constant dims: the floor


def test_training_learns_the_action_from_the_state(tmp_path):
    model, tokenizer, data = state_model(tmp_path)
    assert data.has_state
    cfg = TrainConfig(window=4, batch_size=2, joint_steps=40, lr=3e-3, warmup_steps=1,
                      log_every=1, seed=3, use_state=True)
    trainer = MultiExitTrainer(model, tokenizer, data, cfg)
    totals = [trainer.train_step()['total'] for _ in range(40)]
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:3]), totals
    # the images are the same: only the state can separate +x from -x
    rollout = ModelRollout(model, tokenizer, device='cpu')
    xs = []
    for index in (0, 1):
        episode = state_episode(index)
        rollout.reset(episode.instruction)
        frame = rollout.encode(episode.static[0], episode.gripper[0], state=episode.state[0])
        rollout.run_layers(frame, 0, rollout.num_layers)
        xs.append(float(rollout.candidate(frame, rollout.num_layers - 1).pose[0]))
    assert xs[0] < -0.2 and xs[1] > 0.2, xs


@pytest.mark.parametrize('reference', [False, True])
def test_rollout_feeds_the_state_to_the_head(tmp_path, reference):
    from deer_ros.bench.reference import ReferenceRollout
    torch.manual_seed(0)
    model, tokenizer, _ = state_model(tmp_path)
    rollout = (ReferenceRollout if reference else ModelRollout)(model, tokenizer, device='cpu')
    episode = state_episode(0)
    rollout.reset(episode.instruction)
    with pytest.raises(ValueError, match='robot state'):
        frame = rollout.encode(episode.static[0], episode.gripper[0])
        rollout.run_layers(frame, 0, 2)
        rollout.candidate(frame, 1)
    assert rollout.warm_up() >= 0.0           # deer_node's configure: a zero state, then reset
    rollout.reset(episode.instruction)
    poses = []
    for state in (episode.state[0], episode.state[0] + np.float32([0.2, 0, 0, -1])):
        frame = rollout.encode(episode.static[0], episode.gripper[0], state=state)
        rollout.run_layers(frame, 0, 2)
        poses.append(rollout.candidate(frame, 1).pose)
    # reference: the head module itself on the same pooled feature and normalised state
    head = model.extra_exit
    with torch.no_grad():
        pooled = head.pool(frame.outputs[1])[:, None]
        robot = torch.from_numpy(state)[None, None]
        ref, _, _ = head(head.fuse(pooled, robot))
    np.testing.assert_allclose(poses[1], ref[0, 0].numpy(), atol=1e-5)
    assert np.abs(poses[0] - poses[1]).max() > 1e-4


def test_train_cli_use_state_builds_a_state_model_and_refuses_stateless_data(tmp_path):
    from deer_ros.cli import main
    from deer_ros.model.build import rollout_from_checkpoint
    for i in range(2):
        write_episode(tmp_path / 'with', state_episode(i))
        write_episode(tmp_path / 'without', dataclasses.replace(state_episode(i), state=None))
    args = ['--preset', 'tiny', '--use-state', '--joint-steps', '2', '--window', '4',
            '--batch-size', '2', '--threads', '1', '--device', 'cpu', '--no-progress']
    assert main(['train', str(tmp_path / 'with'), '-o', str(tmp_path / 'run'),
                 '--export', str(tmp_path / 'model')] + args) == 0
    assert rollout_from_checkpoint(str(tmp_path / 'model')).state_dim == 4
    with pytest.raises(ValueError, match='no robot state'):
        main(['train', str(tmp_path / 'without'), '-o', str(tmp_path / 'run2')] + args)
