"""The memory plan: counted on fake tensors, checked against a real CPU step's peak."""
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from training_examples import learnable_episode

from deer_ros.cli import main
from deer_ros.model.build import build_model, preset_config
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.live_bytes import LiveBytes, cpu_peak_bytes
from deer_ros.training.memory_plan import PlanInputs, plan_memory
from deer_ros.training.trainer import MultiExitTrainer

MB = 2 ** 20


def test_live_bytes_follows_allocations_and_frees_on_fake_tensors():
    with FakeTensorMode(), LiveBytes() as live:
        a = torch.zeros(1024, 256)                        # 1 MB
        b = a.view(256, 1024) * 2                         # a view shares a's storage; +1 MB
        assert live.now == 2 * MB
        del a, b
        c = torch.ones(512, 256)                          # 0.5 MB, after 2 MB were freed
        assert live.mark_peak() == 2 * MB and live.now == MB // 2
        del c
        assert live.mark_peak() == MB // 2 and live.now == 0


def _measured_and_planned(preset: str, cfg: TrainConfig):
    """(measured CPU peak of a real step, planned peak) in bytes for one recording."""
    tok = load_tokenizer()
    model_cfg = preset_config(preset, tok)
    data = WindowDataset([learnable_episode(0, length=cfg.window + 2,
                                            size=model_cfg.vision.image_size)],
                         tok, model_cfg.vision, cfg.window)
    plan = plan_memory(model_cfg, cfg, PlanInputs(1, len(data.prompts[0]), 2))
    model = build_model(model_cfg, seed=0)
    trainer = MultiExitTrainer(model, tok, data, cfg)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    # two steps: the second has the AdamW state and last step's gradients, as every later one
    measured = weights + cpu_peak_bytes(lambda: (trainer.train_step(), trainer.train_step()))
    return measured, plan.peak_bytes()


def test_plan_is_within_10_percent_of_the_measured_peak_tiny():
    cfg = TrainConfig(window=12, batch_size=8, joint_steps=2)
    measured, planned = _measured_and_planned('tiny', cfg)
    assert abs(planned / measured - 1) < 0.10, (planned / MB, measured / MB)


@pytest.mark.slow
def test_plan_is_within_10_percent_of_the_measured_peak_small():
    # fp32 only: with bf16 on this CPU the plan is 10 % under the measured peak, most likely
    # kernel-internal buffers the plan cannot see (docs/training.md)
    cfg = TrainConfig(window=12, batch_size=8, joint_steps=2)
    measured, planned = _measured_and_planned('small', cfg)
    assert abs(planned / measured - 1) < 0.10, (planned / MB, measured / MB)


def test_plan_parts_follow_freeze_precision_checkpointing_and_world_size(capsys):
    model_cfg = preset_config('small')
    cfg = TrainConfig(window=4, batch_size=4, joint_steps=1, freeze='deer', precision='bf16')
    plan = plan_memory(model_cfg, cfg)
    model = build_model(model_cfg, device='meta')
    blocks = sum(p.numel() for b in model.blocks for p in b.decoder_layer.parameters())
    vision = sum(p.numel() for p in model.vision_encoder.parameters())
    assert plan.frozen_params == blocks + vision               # DeeR's split
    assert plan.frozen_bytes == 2 * plan.frozen_params          # kept in bf16
    assert plan.adam_bytes == 8 * plan.trainable_params == 2 * plan.grad_bytes
    recomputed = plan_memory(model_cfg, TrainConfig(**{**cfg.to_dict(),
                                                       'checkpoint_activations': True}))
    assert recomputed.layout()['activations'] < 0.8 * plan.layout()['activations']
    ddp, fsdp = plan.layout(world=4), plan.layout(world=4, fsdp=True)
    assert ddp['buckets'] == plan.grad_bytes and fsdp['adam'] == plan.adam_bytes // 4

    assert main(['train', '--preset', 'small', '--freeze', 'deer', '--precision', 'bf16',
                 '--window', '4', '--batch-size', '4', '--plan', '--plan-gpus', '2']) == 0
    out = capsys.readouterr().out
    assert '| per GPU, GB | DDP x2 | FSDP x2 |' in out and '2 per GPU' in out
    assert main(['train', '--plan-gpus', '2']) == 2                   # needs --plan
