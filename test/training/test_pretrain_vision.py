"""`deer-ros pretrain-vision`: the shipped recipe's vision step as a product command."""
import json

import numpy as np
import pytest
import torch

from deer_ros.cli import main
from deer_ros.model.build import rollout_from_preset
from deer_ros.model.checkpoint import load_checkpoint
from deer_ros.training.vision_pretrain import VisionPretrainConfig, r2, within_task


def _changed(fresh: torch.nn.Module, trained: torch.nn.Module) -> list:
    after = dict(trained.named_parameters())
    return [n for n, p in fresh.named_parameters() if not torch.equal(p, after[n])]


@pytest.mark.parametrize('train_encoder', [False, True])
def test_pretrain_vision_writes_a_checkpoint_whose_perceiver_learnt_the_scene(
        tmp_path, train_encoder):
    out = tmp_path / 'pv'
    assert main(['pretrain-vision', '-o', str(out), '--preset', 'tiny', '--tasks',
                 'button-press-topdown-v3', '--scenes-per-task', '24', '--steps', '60',
                 '--batch-size', '16', '--held-out', '0.25', '--log-every', '20',
                 '--no-progress'] + (['--train-encoder'] if train_encoder else [])) == 0
    history = json.loads((out / 'vision_pretraining.json').read_text())
    assert [h['step'] for h in history] == [20, 40, 60]
    assert history[-1]['loss'] < history[0]['loss']
    model, _ = load_checkpoint(str(out))
    fresh = rollout_from_preset('tiny', seed=0).model
    assert _changed(fresh.perceiver, model.perceiver), 'the perceiver was not trained'
    assert bool(_changed(fresh.vision_encoder, model.vision_encoder)) == train_encoder
    assert not _changed(fresh.extra_exit, model.extra_exit), "the head stays as initialised"
    assert not _changed(fresh.lang_encoder, model.lang_encoder)


def test_pretrain_vision_refuses_an_unknown_suite_and_bad_settings(tmp_path, capsys):
    assert main(['pretrain-vision', '-o', str(tmp_path / 'x'), '--suite', 'nope']) == 2
    assert 'unknown suite' in capsys.readouterr().out
    with pytest.raises(ValueError, match='held_out'):
        VisionPretrainConfig(held_out=1.0)


def test_targets_are_standardised_per_task_and_r2_is_nan_where_constant():
    targets = np.array([[0., 1.], [2., 1.], [10., 1.], [12., 1.]], np.float32)
    y = within_task(targets, np.array([0, 0, 1, 1]))
    assert np.allclose(y[:, 0], [-1, 1, -1, 1], atol=1e-2) and np.all(y[:, 1] == 0)
    scores = r2(y, y)
    assert scores[0] == pytest.approx(1.0) and np.isnan(scores[1])
