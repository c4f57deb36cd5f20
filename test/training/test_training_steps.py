"""Multi-exit training: the loss goes down, and a resumed run continues identically."""
import numpy as np
import torch
from training_examples import tiny_setup, train_config

from deer_ros.model.checkpoint import load_checkpoint
from deer_ros.training.state import load_state, resolve_checkpoint
from deer_ros.training.trainer import MultiExitTrainer


def test_a_few_steps_reduce_the_multi_exit_loss():
    model, tok, data = tiny_setup()
    trainer = MultiExitTrainer(model, tok, data, train_config(joint_steps=40))
    totals = [trainer.train_step()['total'] for _ in range(40)]
    assert np.mean(totals[-5:]) < 0.6 * np.mean(totals[:3]), totals


def test_every_exit_and_both_strategies_have_a_loss():
    model, tok, data = tiny_setup()
    losses = MultiExitTrainer(model, tok, data, train_config()).train_step()
    exits = [k for k in losses if k.startswith('exit_')]
    assert len(exits) == len(model.cfg.exit_layers)
    assert {'s1', 's2', 'total', 'lr'} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())


def test_head_phase_changes_only_the_head():
    model, tok, data = tiny_setup()
    trainer = MultiExitTrainer(model, tok, data, train_config(joint_steps=1, head_steps=2))
    trainer.train_step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train_step()
    trainer.train_step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith('extra_exit.') for k in changed), sorted(changed)[:5]


def test_resume_continues_with_the_same_next_losses(tmp_path):
    cfg = train_config(joint_steps=3, head_steps=2, save_every=2)
    model, tok, data = tiny_setup()
    straight = MultiExitTrainer(model, tok, data, cfg)
    expected = [straight.train_step()['total'] for _ in range(cfg.total_steps)]

    model, tok, data = tiny_setup()
    first = MultiExitTrainer(model, tok, data, cfg)
    first.train_step()
    first.train_step()
    first.save(tmp_path)

    ckpt = resolve_checkpoint(str(tmp_path))
    state = load_state(ckpt)
    assert state.step == 2
    model2, tok2 = load_checkpoint(str(ckpt))
    resumed = MultiExitTrainer(model2, tok2, data, cfg, state=state)
    assert resumed.resume_optimizer(ckpt)
    rest = [resumed.train_step()['total'] for _ in range(cfg.total_steps - 2)]
    np.testing.assert_allclose(rest, expected[2:], rtol=1e-6)


def test_same_seed_same_losses():
    runs = []
    for _ in range(2):
        model, tok, data = tiny_setup()
        trainer = MultiExitTrainer(model, tok, data, train_config())
        runs.append([trainer.train_step()['total'] for _ in range(3)])
    assert runs[0] == runs[1]
