"""Analytic MACs reproduce DeeR's numbers and agree with torch's FlopCounterMode."""
from dataclasses import replace

import pytest
import torch
from model_examples import make_image, make_tiny
from torch.utils.flop_counter import FlopCounterMode

from deer_ros.model.config import preset
from deer_ros.model.flops import exit_macs, head_macs, layer_macs, vision_macs
from deer_ros.model.vision import preprocess


@pytest.mark.parametrize('layers, gmac', [(24, 31.2), (12, 15.6), (4, 5.2)])
def test_paper_llm_gmacs_for_mpt1b_at_13_5_tokens(layers, gmac):
    cfg = preset('deer-3b')
    cfg = replace(cfg, lm=replace(cfg.lm, n_layers=layers), exit_layers=(layers - 1,))
    assert sum(layer_macs(cfg, 13.5, 128)) / 1e9 == pytest.approx(gmac, rel=0.01)


def test_deer3b_exit_costs_and_fixed_costs():
    cfg = preset('deer-3b')
    exits = [m / 1e9 for m in exit_macs(cfg, 13.5, 128)]
    assert exits == pytest.approx([2.6, 5.2, 7.8, 10.4, 13.0, 15.6], rel=0.01)
    assert head_macs(cfg) / 1e9 == pytest.approx(0.041, rel=0.01)
    assert vision_macs(cfg) / 1e9 == pytest.approx(173, rel=0.01)


def _counted_macs(fn):
    # FlopCounterMode's module hooks trip over no_grad + trainable params: count frozen.
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 2          # FlopCounterMode counts 2 FLOPs per MAC


def test_layer_macs_match_flop_counter_on_tiny():
    rollout = make_tiny()
    rollout.model.requires_grad_(False)
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 12)
    for start, stop in ((0, 1), (0, 12), (5, 8)):
        counted = _counted_macs(lambda: rollout.run_layers(frame, start, stop))
        analytic = sum(rollout.layer_gmacs()[start:stop]) * 1e9
        assert counted == pytest.approx(analytic, rel=1e-9)


def test_vision_macs_match_flop_counter_on_tiny():
    rollout = make_tiny()
    model, vcfg = rollout.model, rollout.config.vision
    pixels = [preprocess(make_image(1), vcfg), preprocess(make_image(2, 20), vcfg)]

    def run():
        # With grad enabled nn.MultiheadAttention skips its fused fast path (which
        # FlopCounterMode cannot see into); the matmuls are the same.
        for px in pixels:
            model.perceiver(model.vision_encoder(px)[:, None, None])

    model.requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        run()
    assert counter.get_total_flops() / 2 == pytest.approx(rollout.vision_gmacs * 1e9, rel=1e-9)


def test_head_macs_match_flop_counter_and_lstm_weights_on_tiny():
    rollout = make_tiny()
    head = rollout.model.extra_exit
    head.requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        head(torch.randn(1, 1, rollout.config.lm.d_model))
    mlp_macs = counter.get_total_flops() / 2     # nn.LSTM's fused kernel is not counted
    # one step of an LSTM costs one MAC per gate weight (weight_ih and weight_hh)
    lstm_macs = sum(p.numel() for name, p in head.rnn.named_parameters() if 'weight_' in name)
    assert rollout.head_gmacs * 1e9 == pytest.approx(mlp_macs + lstm_macs, rel=1e-9)
