"""Each policy against the real ModelRollout (tiny preset, random weights, CPU)."""
import numpy as np
import pytest

from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.calibration_file import Calibration
from deer_ros.policies.values import ValueSamples, episode_values
from deer_ros.telemetry import MemorySample, Telemetry

pytest.importorskip('torch')


@pytest.fixture(scope='module')
def rollout():
    import torch

    from deer_ros.model.build import rollout_from_preset
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny tensors: extra threads only contend on shared CPUs
    try:
        yield rollout_from_preset('tiny', seed=0, device='cpu')
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def images():
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 256, (6, 24, 24, 3), dtype=np.uint8))


@pytest.fixture(scope='module')
def calibration(rollout, images):
    samples = ValueSamples()
    episode_values(rollout, 'open the drawer', images[0], images[1], samples)
    return Calibration(list(rollout.exit_layers), samples.mean_layer_gmacs(),
                       samples.head_gmacs, samples.values)


def run(rollout, images, config, telemetry=None):
    rollout.set_resident_exit(len(rollout.exit_layers) - 1)
    engine = InferenceEngine(rollout, config, telemetry)
    engine.reset('open the drawer')
    return [engine.step(s, g) for s, g in zip(*images)]


def test_deer_policy_on_the_real_model(rollout, images, calibration):
    assert calibration.values.shape == (6, 6) and np.all(calibration.values >= 0)
    solution = calibration.solve(target_fraction=0.5)
    records = run(rollout, images, EngineConfig(thresholds=solution.thresholds))
    assert {r.stop_reason for r in records} <= {'threshold', 'deepest_allowed'}
    for r in records:
        assert r.action.shape == (7,) and np.all(np.abs(r.action[:6]) <= 1.0)
        assert r.layers_executed == r.layer + 1
        assert r.gflops == pytest.approx(sum(rollout.layer_gmacs()[:r.layer + 1])
                                         + r.head_evals * rollout.head_gmacs)
        assert r.latency_ms >= r.vision_ms + r.llm_ms


def test_fixed_and_full_policies_on_the_real_model(rollout, images):
    fixed = run(rollout, images, EngineConfig(policy='fixed', fixed_exit=2))
    assert {(r.exit_index, r.layer, r.stop_reason) for r in fixed} == {(2, 5, 'fixed')}
    full = run(rollout, images, EngineConfig(policy='full'))
    assert {(r.layer, r.stop_reason) for r in full} == {(11, 'full')}
    # the same frames through full and the deepest fixed exit give the same actions
    deepest = run(rollout, images, EngineConfig(policy='fixed', fixed_exit=5))
    assert np.allclose([r.action for r in full], [r.action for r in deepest])


def test_skipping_policy_on_the_real_model(rollout, images, calibration):
    config = EngineConfig(thresholds=[-1e8] * 5, skip_enabled=True, static_layers=[0, 4, 8],
                          skip_continuity_min=-10.0, skip_gripper_window=0,
                          skip_verify_threshold=0.0, skip_history=2)
    records = run(rollout, images, config)
    skipped = [r for r in records if r.skip.allowed]
    assert skipped and all(r.skip.verify_layer is not None for r in skipped)
    assert all(r.skip.rerun and r.layers_skipped == 0 for r in skipped)
    relaxed = run(rollout, images, EngineConfig(**{**config.__dict__,
                                                   'skip_verify_threshold': 10.0}))
    assert any(r.layers_skipped > 0 for r in relaxed)


def test_budget_controllers_on_the_real_model(rollout, images, calibration):
    per_layer = 10.0

    class Memory:
        def sample(self):
            held = 100.0 + per_layer * (rollout.exit_layers[rollout.resident_exit] + 1)
            return MemorySample(True, process_mb=held, device_free_mb=1e5)

    config = EngineConfig(policy='full', budget_gpu_memory_mb=165.0, budget_latency_ms=1e4)
    records = run(rollout, images, config, Telemetry(memory=Memory()))
    assert all(r.gpu_memory_used_mb <= 165.0 and r.resident_exit == 2 for r in records)
    assert all(r.stop_reason == 'deepest_allowed' and r.layer == 5 for r in records)
    assert not any(r.deadline_missed for r in records)
    budget = 0.5 * calibration.full_gmacs
    deer = run(rollout, images, EngineConfig(thresholds=calibration.solve(budget).thresholds,
                                             budget_avg_gflops=budget))
    assert all(r.threshold_scale > 0 for r in deer)
    rollout.set_resident_exit(len(rollout.exit_layers) - 1)


def test_skipping_uses_the_static_set_of_the_models_adapters_and_counts_their_cost(images):
    import torch

    from deer_ros.model.adapters import SkipAdapter
    from deer_ros.model.build import rollout_from_preset
    from deer_ros.policies.skipping import skip_blocks
    torch.manual_seed(0)
    model = rollout_from_preset('tiny', seed=0, device='cpu')
    assert model.adapter_static_layers() is None               # no adapters: engine default
    blocks = skip_blocks(model.num_layers, [0, 3, 8], model.exit_layers)   # not [0, 6]
    for block in blocks:
        adapter = SkipAdapter(model.config.lm.d_model, rank=4)
        torch.nn.init.normal_(adapter.up.weight, std=0.01)      # trained-like: not identity
        model.register_adapter(block, adapter)
    assert model.adapter_static_layers() == [0, 3, 8]
    config = EngineConfig(policy='full', skip_enabled=True, skip_continuity_min=-10.0,
                          skip_gripper_window=0, skip_verify=False, skip_history=2)
    records = run(model, images, config)
    skipped = [r for r in records if r.layers_skipped]
    assert skipped
    for r in skipped:
        assert r.skip.blocks == blocks, "the adapters' blocks, not the default static set's"
        adapters = sum(model.adapter_gmacs(b) for b in blocks)
        assert adapters > 0
        static = sum(model.layer_gmacs()[i] for i in (0, 3, 8))
        assert r.gflops == pytest.approx(static + r.head_evals * model.head_gmacs + adapters)
