"""ModelRollout honours the SegmentModel contract of deer_ros/model/api.py."""
import numpy as np
import pytest
import torch
from model_examples import INSTRUCTION, make_image, make_tiny

from deer_ros.model.adapters import SkipAdapter
from deer_ros.model.api import SegmentModel
from deer_ros.model.vision import preprocess


def _full_forward(rollout, static, gripper):
    cfg = rollout.config.vision
    ids = rollout.tokenizer(rollout_prompt(rollout))['input_ids']
    with torch.no_grad():
        return rollout.model(torch.tensor([ids]), rollout.media_token_id,
                             preprocess(static, cfg), preprocess(gripper, cfg))


def rollout_prompt(rollout):
    from deer_ros.model.tokenizer import prompt
    return prompt(INSTRUCTION, rollout.tokenizer.eos_token)


def test_rollout_satisfies_segment_model_protocol():
    rollout = make_tiny()
    model: SegmentModel = rollout
    assert model.num_layers == 12
    assert model.exit_layers == (1, 3, 5, 7, 9, 11)
    for name in ('reset', 'encode', 'run_layers', 'candidate', 'commit', 'layer_gmacs',
                 'set_resident_exit', 'synchronize'):
        assert callable(getattr(model, name))
    assert model.resident_exit == 5 and model.head_gmacs > 0


def test_segments_equal_one_full_forward():
    rollout = make_tiny()
    static, gripper = make_image(1), make_image(2, 20)
    expected = _full_forward(rollout, static, gripper)
    frame = rollout.encode(static, gripper)
    for start, stop in ((0, 2), (2, 3), (3, 8), (8, 12)):
        rollout.run_layers(frame, start, stop)
    assert frame.layers_done == 12
    for got, want in zip(frame.outputs, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_exit_features_equal_truncated_model_output():
    full = make_tiny(seed=3)
    static, gripper = make_image(4), make_image(5)
    frame = full.encode(static, gripper)
    full.run_layers(frame, 0, 12)
    for k in (0, 2):
        capped = make_tiny(seed=3, max_exit=k)
        assert capped.num_layers == capped.exit_layers[-1] + 1 == full.exit_layers[k] + 1
        short = capped.encode(static, gripper)
        capped.run_layers(short, 0, capped.num_layers)
        torch.testing.assert_close(short.outputs[-1], frame.outputs[full.exit_layers[k]])
        a, b = capped.candidate(short, capped.exit_layers[-1]), full.candidate(
            frame, full.exit_layers[k])
        np.testing.assert_allclose(a.pose, b.pose, rtol=1e-5, atol=1e-6)


def test_candidate_never_mutates_commit_advances_reset_zeroes():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 12)
    first = rollout.candidate(frame, 3)
    for layer in (0, 1, 11, 5):
        rollout.candidate(frame, layer)
    again = rollout.candidate(frame, 3)
    np.testing.assert_array_equal(first.pose, again.pose)
    assert rollout.head_state is None
    rollout.commit(first)
    after = rollout.candidate(frame, 3)
    assert not np.allclose(after.pose, first.pose)        # state advanced
    rollout.reset(INSTRUCTION)
    assert rollout.head_state is None
    np.testing.assert_array_equal(rollout.candidate(frame, 3).pose, first.pose)


def test_candidate_fields_and_action():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1))                  # static camera only
    rollout.run_layers(frame, 0, 2)
    cand = rollout.candidate(frame, 1)
    assert cand.pose.shape == (6,) and cand.pose.dtype == np.float32
    assert np.all(np.abs(cand.pose) <= 1) and 0.0 <= cand.gripper_prob <= 1.0
    assert cand.action.shape == (7,) and cand.action[6] in (-1.0, 1.0)
    assert frame.media.shape[2] == rollout.config.perceiver.num_latents
    with pytest.raises(ValueError):
        rollout.candidate(frame, 5)


def test_reset_retokenises_only_on_new_instruction():
    rollout = make_tiny()
    ids = rollout._ids
    rollout.reset(INSTRUCTION)
    assert rollout._ids is ids
    rollout.reset('open the drawer')
    assert rollout._ids is not ids and rollout.instruction == 'open the drawer'


def test_skipped_blocks_use_identity_then_adapter():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 6, skip=[(2, 4)])
    torch.testing.assert_close(frame.outputs[2], frame.outputs[1])
    torch.testing.assert_close(frame.outputs[3], frame.outputs[1])
    adapter = SkipAdapter(rollout.config.lm.d_model, rank=8)
    rollout.register_adapter((2, 4), adapter)
    rollout.run_layers(frame, 2, 6, skip=[(2, 4)])
    torch.testing.assert_close(frame.outputs[2], frame.outputs[1])   # zero-init: identity
    with torch.no_grad():
        adapter.up.bias.fill_(0.5)
    rollout.run_layers(frame, 2, 6, skip=[(2, 4)])
    torch.testing.assert_close(frame.outputs[3], frame.outputs[1] + 0.5)
    with pytest.raises(ValueError):
        rollout.run_layers(frame, 0, 6, skip=[(1, 3), (2, 5)])


def test_fp32_cpu_determinism_with_seed():
    poses = []
    for _ in range(2):
        rollout = make_tiny(seed=7)
        frame = rollout.encode(make_image(1), make_image(2))
        rollout.run_layers(frame, 0, 12)
        poses.append(rollout.candidate(frame, 11).pose)
    np.testing.assert_array_equal(poses[0], poses[1])
    other = make_tiny(seed=8)
    frame = other.encode(make_image(1), make_image(2))
    other.run_layers(frame, 0, 12)
    assert not np.allclose(other.candidate(frame, 11).pose, poses[0])


def test_memory_cap_lowers_device_bytes_and_restores():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 12)
    reference = frame.outputs[11].clone()
    full_bytes = rollout.device_parameter_bytes()
    rollout.set_resident_exit(1)
    assert rollout.resident_exit == 1 and rollout.resident_layers == 4
    capped = rollout.device_parameter_bytes()
    assert full_bytes - capped == sum(rollout.layer_parameter_bytes()[4:])
    with pytest.raises(RuntimeError):
        rollout.run_layers(frame, 4, 6)
    rollout.run_layers(frame, 0, 4)                     # below the cap still runs
    rollout.set_resident_exit(5)
    assert rollout.device_parameter_bytes() == full_bytes
    rollout.run_layers(frame, 4, 12)
    torch.testing.assert_close(frame.outputs[11], reference)


def test_single_step_lstm_path_equals_nn_lstm():
    import torch

    from deer_ros.model.head import LayerNormLSTM
    torch.manual_seed(0)
    lstm = LayerNormLSTM(32, 16, 4, 0.0).eval()
    x = torch.randn(3, 1, 32)
    for state in (None, (torch.randn(4, 3, 16), torch.randn(4, 3, 16))):
        with torch.enable_grad():                 # the module path (training, windows)
            ref, (ref_h, ref_c) = lstm(x, state)
        with torch.no_grad():                     # the per-frame path
            out, (h, c) = lstm(x, state)
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(h, ref_h)
        torch.testing.assert_close(c, ref_c)


def test_warm_up_leaves_the_rollout_as_built():
    rollout = make_tiny()
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 12)
    expected = rollout.candidate(frame, 5).pose
    assert rollout.warm_up() > 0
    assert rollout.instruction is None and rollout.head_state is None
    with pytest.raises(RuntimeError, match='reset'):
        rollout.encode(make_image(1))
    rollout.reset(INSTRUCTION)
    frame = rollout.encode(make_image(1), make_image(2))
    rollout.run_layers(frame, 0, 12)
    np.testing.assert_array_equal(rollout.candidate(frame, 5).pose, expected)


def test_compiled_layers_after_warm_up_match_eager_at_a_new_prompt_length():
    from deer_ros.model.build import rollout_from_preset
    eager, compiled = (rollout_from_preset('tiny', seed=3, device='cpu', max_exit=0,
                                           compile_layers=c) for c in (False, True))
    compiled.warm_up()                           # two prompt lengths: length-generic kernels
    for rollout in (eager, compiled):
        rollout.reset('lift the blue block off the table, then put it down gently')
    assert compiled.num_tokens not in (6, 17)    # none of the warm-up lengths
    poses = []
    for rollout in (eager, compiled):
        frame = rollout.encode(make_image(4), make_image(5))
        rollout.run_layers(frame, 0, rollout.num_layers)
        poses.append(rollout.candidate(frame, rollout.exit_layers[-1]).pose)
    np.testing.assert_allclose(poses[1], poses[0], rtol=1e-5, atol=1e-5)


def _tiny_with_history(history: str):
    import dataclasses

    from deer_ros.model.build import build_model, preset_config
    from deer_ros.model.rollout import ModelRollout
    from deer_ros.model.tokenizer import load_tokenizer
    tokenizer = load_tokenizer()
    cfg = preset_config('tiny', tokenizer)
    cfg = dataclasses.replace(cfg, head=dataclasses.replace(cfg.head, history=history))
    rollout = ModelRollout(build_model(cfg, seed=0), tokenizer, device='cpu')
    rollout.reset(INSTRUCTION)
    return rollout


def _pose_after(rollout, earlier_images):
    """Exit-1 pose on a fixed frame after committing the given earlier frames."""
    rollout.reset(INSTRUCTION)
    for k in earlier_images:
        frame = rollout.encode(make_image(k), make_image(k + 1))
        rollout.run_layers(frame, 0, 2)
        rollout.commit(rollout.candidate(frame, 1))
    frame = rollout.encode(make_image(9), make_image(10))
    rollout.run_layers(frame, 0, 2)
    return rollout.candidate(frame, 1).pose


def test_a_frame_history_head_forgets_the_previous_frames():
    frame_head = _tiny_with_history('frame')
    assert np.array_equal(_pose_after(frame_head, []), _pose_after(frame_head, [3, 5]))
    assert frame_head.head_state is None
    episode_head = _tiny_with_history('episode')      # DeeR: the state carries the history
    assert not np.allclose(_pose_after(episode_head, []), _pose_after(episode_head, [3, 5]))


def test_head_history_is_validated():
    from deer_ros.model.config import HeadConfig
    with pytest.raises(ValueError, match='history'):
        HeadConfig(history='window')
