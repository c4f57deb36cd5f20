"""InferenceEngine exit policies, config handling and DySL skipping on the numpy ExampleModel."""
import numpy as np
import pytest

from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.criterion import consistency_value
from deer_ros.policies.example import ExampleModel, example_frames
from deer_ros.policies.skipping import (continuity, default_static_layers, gripper_changed,
                                        layer_cosine_similarity, prior_guidance,
                                        select_static_layers, skip_blocks)
from deer_ros.telemetry import Telemetry


def make_engine(**config):
    model = ExampleModel(decay=0.5)
    engine = InferenceEngine(model, EngineConfig(**config), Telemetry(clock=model.clock))
    engine.reset('pick the block')
    return model, engine


def test_deer_exits_at_the_first_exit_under_its_threshold():
    model, engine = make_engine(thresholds=[1e-9, 1e-9, 10.0, 0.0, 0.0])
    r = engine.step(example_frames(1)[0])
    assert (r.exit_index, r.layer, r.stop_reason) == (2, 5, 'threshold')
    assert [c.layer for c in r.candidates] == [0, 1, 3, 5]
    first = r.candidates[1]
    assert first.value == pytest.approx(consistency_value(first.pose, r.candidates[0].pose),
                                        abs=1e-6)
    assert r.layers_executed == 6 and r.head_evals == 4
    assert r.gflops == pytest.approx(6 * 1.3 + 4 * 0.041)
    assert model.commits == [5]
    assert r.action.shape == (7,) and r.action.dtype == np.float32


def test_deer_forced_exit_at_deepest_allowed():
    model, engine = make_engine(thresholds=[-1e8] * 5, max_exit=3)
    r = engine.step(example_frames(1)[0])
    assert (r.exit_index, r.stop_reason, r.layers_executed) == (3, 'deepest_allowed', 8)


def test_fixed_and_full_policies_run_straight_to_their_exit():
    _, engine = make_engine(policy='fixed', fixed_exit=2)
    r = engine.step(example_frames(1)[0])
    assert (r.exit_index, r.stop_reason, r.layers_executed, r.head_evals) == (2, 'fixed', 6, 1)
    _, engine = make_engine(policy='full')
    r = engine.step(example_frames(1)[0])
    assert (r.exit_index, r.stop_reason, r.layers_executed) == (5, 'full', 12)


def test_update_config_applies_from_the_next_frame_and_validates():
    _, engine = make_engine(policy='full')
    engine.update_config(policy='fixed', fixed_exit=1)
    assert engine.config.policy == 'full'
    assert engine.step(example_frames(1)[0]).exit_index == 1
    with pytest.raises(ValueError, match='policy'):
        engine.update_config(policy='fastest')
    with pytest.raises(ValueError, match='read-only'):
        engine.update_config(memory_device_index=1)
    with pytest.raises(ValueError, match='thresholds'):
        engine.update_config(policy='deer', thresholds=[0.1])
    with pytest.raises(ValueError, match='budget_latency_ms'):
        EngineConfig(budget_latency_ms=-1)


def test_every_config_field_carries_parameter_metadata():
    described = EngineConfig.describe()
    assert 'thresholds' in described and 'budget_gpu_memory_mb' in described
    for name, meta in described.items():
        assert meta['description'], name
        assert isinstance(meta['live'], bool), name
        assert {'unit', 'min', 'max', 'choices', 'default', 'type'} <= set(meta), name


def test_static_layers_and_blocks():
    assert default_static_layers(12) == [0, 6]
    assert skip_blocks(12, [0, 6], (1, 3, 5, 7, 9, 11)) == \
        [(1, 2), (2, 4), (4, 6), (7, 8), (8, 10), (10, 12)]
    assert skip_blocks(8, [0, 4]) == [(1, 4), (5, 8)]
    hidden = np.ones((4, 2, 3))
    hidden[2] = [[1, 0, 0], [0, 1, 0]]                     # layer 1 changes its input a lot
    sim = layer_cosine_similarity(hidden)
    assert sim[0] == pytest.approx(1.0) and sim[1] < sim[0]
    assert select_static_layers([0.5, 0.9, 0.1, 0.8, 0.95], fraction=0.4) == [0, 2]


def test_prior_guidance_continuity_and_gripper():
    smooth = [np.array([0.1 * i] * 6 + [1.0]) for i in range(5)]
    assert continuity(smooth, 5) == pytest.approx(-0.1 * np.sqrt(6))
    assert prior_guidance(smooth, 5, -0.5, 3).allowed
    assert prior_guidance(smooth, 5, -0.1, 3).reason == 'continuity'
    assert prior_guidance(smooth[:3], 5, -0.5, 3).reason == 'history'
    flip = smooth[:-1] + [np.array([0.4] * 6 + [-1.0])]
    assert gripper_changed(flip, 3)
    decision = prior_guidance(flip, 5, -0.5, 3)
    assert decision.reason == 'gripper_change' and decision.full_depth


def run_same_frame(engine, n):
    image = example_frames(1)[0]
    return [engine.step(image) for _ in range(n)]


def test_skipping_starts_after_a_continuous_history_and_composes_with_exit():
    _, engine = make_engine(policy='deer', thresholds=[-1e8, -1e8, -1e8, 1e3, 1e3],
                            skip_enabled=True, static_layers=[0, 4, 8], skip_verify=False)
    records = run_same_frame(engine, 7)
    assert [r.skip.reason for r in records[:5]] == ['history'] * 5
    r = records[6]
    assert r.skip.allowed and r.layers_skipped > 0
    # exit 3 (layer 7) reads a wholly skipped segment: no decision there, next exit decides
    assert r.stop_reason == 'threshold' and r.exit_index == 4
    assert 7 not in [c.layer for c in r.candidates]
    assert r.layers_executed + r.layers_skipped == r.layer + 1
    assert all(b[1] <= r.layer + 1 for b in r.skip.blocks)
    assert r.gflops == pytest.approx(r.layers_executed * 1.3 + r.head_evals * 0.041)


def test_post_guidance_reruns_without_skipping_on_disagreement():
    _, engine = make_engine(policy='deer', thresholds=[-1e8, -1e8, -1e8, 1e3, 1e3],
                            skip_enabled=True, static_layers=[0, 4, 8], skip_verify=True,
                            skip_verify_threshold=0.0)
    r = run_same_frame(engine, 6)[-1]
    assert r.skip.rerun and r.skip.verify_layer == 4 and r.skip.verify_value > 0
    assert r.layers_skipped == 0 and r.exit_index == 3
    assert r.layers_executed > r.layer + 1                 # both passes counted
    _, engine = make_engine(policy='deer', thresholds=[-1e8, -1e8, -1e8, 1e3, 1e3],
                            skip_enabled=True, static_layers=[0, 4, 8],
                            skip_verify_threshold=10.0)
    r = run_same_frame(engine, 6)[-1]
    assert not r.skip.rerun and r.layers_skipped > 0


def test_gripper_change_forces_full_depth():
    model, engine = make_engine(thresholds=[1e3] * 5, skip_enabled=True,
                                skip_continuity_min=-10.0)
    images = example_frames(20, seed=3)
    grip = [model.encode(img).gripper_prob > 0.5 for img in images]
    a, b = images[grip.index(True)], images[grip.index(False)]
    for _ in range(5):
        assert engine.step(a).exit_index == 0
    assert engine.step(a).skip.allowed
    flipped = engine.step(b)                       # the flip is in this frame's action
    after = [engine.step(b) for _ in range(4)]
    assert flipped.skip.reason == 'ok'
    assert [r.skip.reason for r in after] == ['gripper_change'] * 3 + ['ok']
    assert all(r.stop_reason == 'deepest_allowed' and r.exit_index == 5 for r in after[:3])


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which the engine recognises by name."""


class DeviceWithLittleMemory(ExampleModel):
    """Runs out of device memory whenever more than `fits` layers would be resident."""

    def __init__(self, fits: int, **kwargs):
        super().__init__(**kwargs)
        self.fits = fits

    def run_layers(self, frame, start, stop, skip=()):
        if self.exit_layers[self.resident_exit] + 1 > self.fits:
            raise OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 MiB')
        super().run_layers(frame, start, stop, skip)


def test_out_of_memory_sheds_layers_and_retries_instead_of_failing():
    from deer_ros.policies.engine import OOM_RECOVERY_FRAMES
    model = DeviceWithLittleMemory(fits=6)
    engine = InferenceEngine(model, EngineConfig(policy='full'))
    engine.reset('open the drawer')
    static = example_frames(1)[0]
    record = engine.step(static)
    assert record.memory_action == 'oom_shed'
    assert model.resident_exit == 2 and record.exit_index == 2     # layers 0..5 fit
    assert record.stop_reason == 'deepest_allowed' and np.isfinite(record.action).all()
    for _ in range(OOM_RECOVERY_FRAMES - 1):
        record = engine.step(static)
        assert record.exit_index == 2 and record.memory_action != 'oom_shed'
    engine.step(static)                       # recovery frame: the cap rises to exit 3 ...
    record = engine.step(static)              # ... which does not fit: shed again, no failure
    assert record.memory_action == 'oom_shed' and record.exit_index == 2


def test_out_of_memory_at_the_first_exit_is_raised():
    model = DeviceWithLittleMemory(fits=1)    # even exit 0 (two layers) does not fit
    engine = InferenceEngine(model, EngineConfig(policy='full'))
    engine.reset('x')
    with pytest.raises(OutOfMemoryError):
        engine.step(example_frames(1)[0])
    assert model.resident_exit == 0


def test_errors_other_than_out_of_memory_propagate():
    model = ExampleModel()
    engine = InferenceEngine(model, EngineConfig(policy='full'))
    engine.reset('x')
    model.run_layers = lambda *a, **k: (_ for _ in ()).throw(ValueError('bad shape'))
    with pytest.raises(ValueError):
        engine.step(np.zeros((8, 8, 3), np.uint8))
    assert model.resident_exit == len(model.exit_layers) - 1
