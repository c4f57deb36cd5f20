"""`torchrun --nproc-per-node 2 deer-ros train` (DDP on gloo) equals one process.

Contract: the same --batch-size (global) and --seed give the one-process loss history within
RTOL. The ranks compute the same sums in another order (each reduces over its half of the
batch, then gloo adds the two halves), so single steps differ by a few fp32 roundings (1 ulp
~ 6e-8 relative: measured 5e-8 at step 1) and the weights drift apart by as little over the
steps (measured <= 2.2e-7 over 6 steps, three runs alike). A sharding error (one different
dropout mask, shift or exit draw) moves a step's loss by 1e-2 or more (docs/training.md).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from training_examples import tiny_setup, write_dataset

from deer_ros.cli import main
from deer_ros.training.config import TrainConfig
from deer_ros.training.forward import media_token
from deer_ros.training.objective import MultiExitObjective
from deer_ros.training.optim import set_trainable
from deer_ros.training.sampling import Shard

RTOL = 1e-5
ARGS = ['--save-every', '2', '--log-every', '1', '--window', '4', '--batch-size', '4',
        '--warmup-steps', '1', '--threads', '1', '--device', 'cpu', '--no-progress',
        '--seed', '3']


def _history(run_dir, step: int) -> dict:
    return json.loads((run_dir / f'step_{step:07d}' / 'train_state.json').read_text())


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """One-process reference (6 steps) and a 2-process torchrun run (4 steps), same data."""
    root = tmp_path_factory.mktemp('ddp')
    data = write_dataset(root / 'demos', episodes=4)
    assert main(['train', data, '-o', str(root / 'one'), '--joint-steps', '6'] + ARGS) == 0
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc-per-node', '2', '-m', 'deer_ros.cli', 'train', data,
           '-o', str(root / 'two'), '--joint-steps', '4'] + ARGS
    done = subprocess.run(cmd, env=dict(os.environ), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count('final checkpoint') == 1           # rank 0 alone reports
    return root, data


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    root, _ = runs
    one, two = _history(root / 'one', 6), _history(root / 'two', 4)
    assert two['extra']['world_size'] == 2 and two['extra']['precision'] == 'fp32'
    assert two['extra']['runs'] == [[0, 2, 'fp32']]
    expected = [r['total'] for r in one['history'][:4]]
    np.testing.assert_allclose([r['total'] for r in two['history']], expected, rtol=RTOL)
    for name in ('exit_0', 's1', 's2'):
        np.testing.assert_allclose([r[name] for r in two['history']],
                                   [r[name] for r in one['history'][:4]], rtol=RTOL)
    saved = sorted(p.name for p in (root / 'two').glob('step_*'))
    assert saved == ['step_0000002', 'step_0000004']


def test_a_two_process_checkpoint_resumes_in_one_process(runs):
    root, data = runs
    assert main(['train', data, '--resume', str(root / 'two'), '--joint-steps', '6',
                 '--threads', '1', '--device', 'cpu', '--no-progress']) == 0
    resumed, one = _history(root / 'two', 6), _history(root / 'one', 6)
    assert resumed['extra']['runs'] == [[0, 2, 'fp32'], [4, 1, 'fp32']]
    assert resumed['extra']['world_size'] == 1
    np.testing.assert_allclose([r['total'] for r in resumed['history']],
                               [r['total'] for r in one['history']], rtol=RTOL)


def test_rank_shards_of_a_step_average_to_the_one_process_losses():
    """In one process: each rank's random draws (shift, exits, dropout) are its rows of the
    global batch's, so the two half-batch losses average to the full-batch loss."""
    model, tok, data = tiny_setup(episodes=4)
    set_trainable(model, 'none')
    cfg = TrainConfig(window=4, batch_size=4)
    batch = [0, 5, 9, 14]

    def losses(shard: Shard, rows: list) -> dict:
        objective = MultiExitObjective(model, media_token(tok), cfg, shard)
        torch.manual_seed(7)
        with torch.no_grad():
            out = objective(data.batch(rows), torch.Generator().manual_seed(8))
        return {k: float(v) for k, v in out.items()}

    full = losses(Shard(), batch)
    halves = [losses(Shard(r, 2), batch[2 * r:2 * r + 2]) for r in range(2)]
    for name, value in full.items():
        assert (halves[0][name] + halves[1][name]) / 2 == pytest.approx(value, rel=1e-6), name
