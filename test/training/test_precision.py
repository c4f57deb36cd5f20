"""Mixed precision and activation checkpointing of `deer-ros train` (on CPU)."""
import json

import numpy as np
import torch
from training_examples import tiny_setup, train_config, write_dataset

from deer_ros.cli import main
from deer_ros.model.checkpoint import load_checkpoint
from deer_ros.training.forward import media_token
from deer_ros.training.objective import MultiExitObjective
from deer_ros.training.optim import set_trainable
from deer_ros.training.trainer import MultiExitTrainer


def test_bf16_autocast_training_lowers_the_loss_with_fp32_master_weights():
    model, tok, data = tiny_setup()
    trainer = MultiExitTrainer(model, tok, data, train_config(precision='bf16', freeze='vision'))
    totals = [trainer.train_step()['total'] for _ in range(30)]
    assert np.mean(totals[-5:]) < 0.6 * np.mean(totals[:3]), totals
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    frozen = {p.dtype for p in model.vision_encoder.parameters()}
    assert trained == {torch.float32} and frozen == {torch.bfloat16}
    moments = [s['exp_avg'].dtype for s in trainer.optimizer.state.values()]
    assert moments and set(moments) == {torch.float32}


def test_fp16_runs_with_a_grad_scaler_saved_for_resume(tmp_path):
    data = write_dataset(tmp_path / 'demos')
    run = tmp_path / 'run'
    args = ['train', data, '-o', str(run), '--precision', 'fp16', '--freeze', 'vision',
            '--joint-steps', '3', '--log-every', '1', '--window', '4', '--batch-size', '2',
            '--threads', '1', '--device', 'cpu', '--no-progress']
    assert main(args) == 0
    state = json.loads((run / 'step_0000003' / 'train_state.json').read_text())
    assert state['extra']['precision'] == 'fp16' and state['extra']['world_size'] == 1
    assert state['extra']['grad_scaler']['scale'] == 65536.0        # no overflow at this size
    assert all(np.isfinite(r['total']) for r in state['history'])
    model, _ = load_checkpoint(str(run / 'step_0000003'))   # frozen ViT was fp16 in training
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert main(['train', data, '--resume', str(run), '--joint-steps', '4', '--threads', '1',
                 '--device', 'cpu', '--no-progress']) == 0
    again = json.loads((run / 'step_0000004' / 'train_state.json').read_text())
    assert again['extra']['train_config']['precision'] == 'fp16'
    weights = torch.load(run / 'step_0000004' / 'optimizer.pt', weights_only=True)
    assert weights['state']                                         # AdamW state written


def test_activation_checkpointing_gives_the_same_gradients():
    grads, calls = [], []
    for recompute in (False, True):
        model, tok, data = tiny_setup()
        set_trainable(model, 'none')
        count = [0]
        model.blocks[5].register_forward_pre_hook(lambda *_: count.__setitem__(0, count[0] + 1))
        objective = MultiExitObjective(model, media_token(tok),
                                       train_config(checkpoint_activations=recompute))
        torch.manual_seed(1)
        losses = objective(data.batch([0, 3]), torch.Generator().manual_seed(2))
        torch.stack(list(losses.values())).sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        calls.append(count[0])
    assert calls == [1, 2]                # the layer really ran again (its start) in backward
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 300
    for name, grad in grads[0].items():          # same ops, same order: bit-equal
        assert torch.equal(grad, grads[1][name]), name
