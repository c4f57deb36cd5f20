"""A short training run on a language-conditioned task of the depth suite lowers the loss.

The data come from `deer-ros record` (the scripted expert in the MjSpec-built scene), so the
whole path a suite model takes (record -> dataset -> multi-exit training) runs on a new task.
"""
import numpy as np

from deer_ros.cli import main
from deer_ros.data.recording import iter_episodes
from deer_ros.model.build import build_model, preset_config
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.sim.tasks import get_task
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.trainer import MultiExitTrainer

TASK = 'push-color-v3'


def test_recorded_language_task_trains_with_falling_loss(tmp_path):
    out = tmp_path / 'demos'
    assert main(['record', '-o', str(out), '--tasks', TASK, '--episodes-per-task', '2',
                 '--seed', '3', '--image-size', '32', '--quiet']) == 0
    episodes = list(iter_episodes(out))
    assert len(episodes) == 2 and all(e.success and e.task == TASK for e in episodes)
    spec = get_task(TASK)
    assert sorted(spec.target_named(e.instruction) for e in episodes) == [0, 1]   # seeds 3, 4
    tokenizer = load_tokenizer()
    cfg = preset_config('tiny', tokenizer)
    data = WindowDataset(episodes, tokenizer, cfg.vision, window=4)
    config = TrainConfig(window=4, batch_size=2, joint_steps=20, lr=3e-3, warmup_steps=1,
                         save_every=1000, log_every=1, seed=3)
    trainer = MultiExitTrainer(build_model(cfg, seed=0), tokenizer, data, config)
    totals = [trainer.train_step()['total'] for _ in range(20)]
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:3]), totals
