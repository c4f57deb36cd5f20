"""Skip-adapter distillation: stage 1 beats plain skipping; adapters ship with the checkpoint."""
import numpy as np
import torch
from training_examples import tiny_setup

from deer_ros.model.build import rollout_from_checkpoint
from deer_ros.model.checkpoint import save_checkpoint
from deer_ros.training.blocks import blocks_for
from deer_ros.training.config import DistillConfig
from deer_ros.training.distill import SkipDistiller


def _distiller(**kw):
    model, tok, data = tiny_setup()
    base = dict(window=4, batch_size=2, stage1_steps=30, stage2_steps=0, lr=1e-2,
                warmup_steps=1, log_every=5, adapter_rank=8)
    base.update(kw)
    cfg = DistillConfig(**base)
    return SkipDistiller(model, tok, data, blocks_for(model.cfg), cfg)


def test_default_blocks_avoid_static_layers_and_exits():
    model, _, _ = tiny_setup()
    blocks = blocks_for(model.cfg)
    assert blocks and all(a > 0 for a, _ in blocks)
    for a, b in blocks:
        assert not any(a <= e < b - 1 for e in model.cfg.exit_layers)   # no exit inside


def test_stage1_reduces_the_adapter_imitation_loss():
    d = _distiller()
    start = d.eval_stage1()
    assert start == d.eval_stage1(identity=True)          # zero-init adapters = identity
    d.fit(progress=False)
    assert d.eval_stage1() < 0.7 * start


def test_stage2_trains_only_adapters():
    d = _distiller(stage1_steps=0, stage2_steps=2)
    frozen = {k: v.clone() for k, v in d.model.state_dict().items()}
    history = d.fit(progress=False)
    assert all(torch.equal(v, frozen[k]) for k, v in d.model.state_dict().items())
    assert np.isfinite(history[-1]['s2/total'])
    assert any(p.abs().sum() > 0 for n, p in d.adapters.named_parameters() if 'up.' in n)


def test_adapters_are_saved_and_registered_by_the_rollout(tmp_path):
    d = _distiller(stage1_steps=3)
    d.fit(progress=False)
    save_checkpoint(str(tmp_path), d.model, d.tokenizer, adapters=d.adapters)
    rollout = rollout_from_checkpoint(str(tmp_path))
    assert sorted(rollout.adapters.as_dict()) == sorted(d.blocks)
    block = d.blocks[0]
    x = torch.randn(1, 5, d.model.cfg.lm.d_model)
    torch.testing.assert_close(rollout.adapters.get(block)(x), d.adapters.get(block)(x))
