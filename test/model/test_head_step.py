"""The per-frame head steps: 'fused' (HeadStep) computes what ExitHead.forward computes, within
float rounding; 'exact' (ExactHeadStep) is nn.LSTM's own call, bit for bit."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from model_examples import make_image, make_tiny

from deer_ros.bench.reference import ReferenceRollout
from deer_ros.model.config import HeadConfig
from deer_ros.model.head import ExitHead, LayerNormLSTM
from deer_ros.model.head_step import ExactHeadStep, HeadStep, make_head_step

LAYOUTS = [
    HeadConfig(hidden_size=16, mlp_hidden_dims=(24, 12, 8)),
    HeadConfig(hidden_size=16, mlp_hidden_dims=(24, 12, 8), lstm_layernorm=False,
               dropout_mode='last', mlp_num_hidden_layers=1),
    HeadConfig(hidden_size=16, mlp_hidden_dims=(24, 12, 8), dropout_mode='legacy',
               mlp_layernorm=False, lstm_num_layers=2),
]


@pytest.mark.parametrize('cfg', LAYOUTS, ids=['ln-lstm', 'plain-lstm', 'legacy-mlp'])
@pytest.mark.parametrize('with_state', [False, True])
def test_head_step_equals_module_forward(cfg, with_state):
    torch.manual_seed(0)
    head = ExitHead(cfg, in_features=32).eval()
    for p in head.parameters():                      # non-trivial biases and norms
        torch.nn.init.normal_(p, std=0.3)
    state = None
    if with_state:
        shape = (cfg.lstm_num_layers, 3, cfg.hidden_size)
        state = (torch.randn(shape), torch.randn(shape))
    step = HeadStep(head)
    with torch.no_grad():
        terms = step.terms(state, batch=3)
        for _ in range(3):                           # several exits share one set of terms
            pooled = torch.randn(3, 32)
            ref_pose, ref_logit, (ref_h, ref_c) = head(pooled[:, None], state)
            pose, logit, (h, c) = step(pooled, state, terms)
            torch.testing.assert_close(pose, ref_pose[:, 0])
            torch.testing.assert_close(logit, ref_logit[:, 0])
            torch.testing.assert_close(h, ref_h)
            torch.testing.assert_close(c, ref_c)


def _deer_head(head, x, state):
    """DeeR's DeterministicDecoder at one frame, written from its code: nn.LSTM's own calls
    (LayerNormLSTM: one per layer on (h[i:i+1], c[i:i+1]), then LayerNorm), MLPs on (B, 1, H)."""
    if isinstance(head.rnn, LayerNormLSTM):
        hs, cs = [], []
        for i in range(head.rnn.num_layers):
            layer_state = None if state is None else (state[0][i:i + 1], state[1][i:i + 1])
            x, (h, c) = head.rnn.layers[3 * i](x, layer_state)
            x = head.rnn.layers[3 * i + 1](x)
            hs.append(h)
            cs.append(c)
        new_state = (torch.cat(hs), torch.cat(cs))
    else:
        x, new_state = head.rnn(x, state)
    return head.actions.mlp(x), head.gripper.mlp(x), new_state


@pytest.mark.parametrize('cfg', LAYOUTS, ids=['ln-lstm', 'plain-lstm', 'legacy-mlp'])
@pytest.mark.parametrize('batch', [1, 2])
def test_exact_head_step_is_nn_lstm_bit_for_bit(cfg, batch):
    torch.manual_seed(1)
    head = ExitHead(cfg, in_features=32).eval()
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.3)
    step = make_head_step(head, 'exact')
    assert isinstance(step, ExactHeadStep)
    ours = theirs = None                     # committed states, from zero (None) as in DeeR
    with torch.no_grad():
        for frame in range(4):
            terms = step.terms(ours, batch)
            for _ in range(3):               # several exits per frame, same committed state
                pooled = torch.randn(batch, 32)
                pose, logit, state = step(pooled, ours, terms)
                ref_pose, ref_prob, ref_state = _deer_head(head, pooled[:, None], theirs)
                assert torch.equal(pose, ref_pose[:, 0])
                assert torch.equal(torch.sigmoid(logit), ref_prob[:, 0])
                assert all(torch.equal(a, b) for a, b in zip(state, ref_state))
            ours, theirs = state, ref_state  # commit the last exit's state


def test_head_step_choice_and_default():
    head = ExitHead(LAYOUTS[0], in_features=32)
    assert HeadConfig().step == 'fused'      # our checkpoints, and those predating the field
    assert isinstance(make_head_step(head, 'fused'), HeadStep)
    with pytest.raises(ValueError, match='head step'):
        make_head_step(head, 'fast')
    with pytest.raises(ValueError, match='head.step'):
        HeadConfig(step='fast')
    rollout = make_tiny()
    assert rollout.head_step == 'fused' and isinstance(rollout._head_step, HeadStep)


def _reference_of(rollout):
    """The pre-fast-path code on the same model object (same weights, same device)."""
    return ReferenceRollout(rollout.model, rollout.tokenizer, device=str(rollout.device))


def test_fast_and_reference_candidates_agree_over_committed_frames():
    rollout = make_tiny()
    reference = _reference_of(rollout)
    for t in range(4):                               # state carried across frames
        frame = rollout.encode(make_image(t), make_image(t + 10))
        rollout.run_layers(frame, 0, rollout.num_layers)
        fast = [rollout.candidate(frame, layer) for layer in rollout.exit_layers]
        ref = [reference.candidate(frame, layer) for layer in rollout.exit_layers]
        for a, b in zip(fast, ref):
            np.testing.assert_allclose(a.pose, b.pose, rtol=1e-5, atol=1e-6)
            assert a.gripper_prob == pytest.approx(b.gripper_prob, abs=1e-6)
            for x, y in zip(a.state, b.state):
                torch.testing.assert_close(x, y)
        rollout.commit(fast[t % 3])
        reference.commit(fast[t % 3])


def test_terms_follow_a_weight_change():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 2)
    before = rollout.candidate(frame, 1)
    rollout.commit(before)
    with torch.no_grad():
        for p in rollout.model.extra_exit.parameters():
            p.mul_(1.5)
    rollout.reset('new instruction')
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 2)
    after = rollout.candidate(frame, 1)
    expected = _reference_of(rollout).candidate(frame, 1)
    np.testing.assert_allclose(after.pose, expected.pose, rtol=1e-5, atol=1e-6)


def test_unknown_mlp_module_is_refused():
    head = ExitHead(replace(LAYOUTS[0]), in_features=32)
    head.actions.mlp[1] = torch.nn.GELU()
    with pytest.raises(TypeError, match='GELU'):
        HeadStep(head)


def test_low_precision_keeps_the_carried_state_in_fp32():
    from deer_ros.model.build import rollout_from_preset
    rollouts = [rollout_from_preset('tiny', device='cpu', precision=p, max_exit=1)
                for p in ('fp32', 'bf16')]
    poses = {0: [], 1: []}
    for r in rollouts:
        r.reset('push the button')
    for t in range(3):
        for i, r in enumerate(rollouts):
            frame = r.encode(make_image(t), make_image(t + 1))
            r.run_layers(frame, 0, r.num_layers)
            cand = r.candidate(frame, r.exit_layers[-1])
            assert all(s.dtype == torch.float32 for s in cand.state)
            r.commit(cand)
            poses[i].append(cand.pose)
    np.testing.assert_allclose(poses[1], poses[0], atol=0.05)   # bf16 keeps ~3 digits
