"""Online budget control with injected telemetry: compute average, latency deadline, GPU memory."""
import numpy as np
import pytest

from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.calibration_file import Calibration
from deer_ros.policies.example import ExampleModel, example_frames
from deer_ros.policies.values import ValueSamples, episode_values
from deer_ros.telemetry import (MemorySample, NvmlMemorySource, RunningPercentile, Telemetry,
                                TraceMemorySource)


def calibrated(model, fraction):
    samples = ValueSamples()
    episode_values(model, 'task', example_frames(300, seed=1), None, samples)
    cal = Calibration(list(model.exit_layers), samples.mean_layer_gmacs(), samples.head_gmacs,
                      samples.values)
    target = fraction * cal.full_gmacs
    return target, cal.solve(target_gmacs=target).thresholds


def run_compute_budget(fraction, difficulty, gain):
    model = ExampleModel(decay=0.7)
    target, thresholds = calibrated(model, fraction)
    engine = InferenceEngine(model, EngineConfig(thresholds=thresholds, budget_avg_gflops=target,
                                                 budget_gain=gain),
                             Telemetry(clock=model.clock))
    engine.reset('task')
    records = []
    for i, image in enumerate(example_frames(2000, seed=2)):
        if i == 1000:
            model.difficulty = difficulty     # a step change: scenes get harder / easier
        records.append(engine.step(image))
    return target, records


@pytest.mark.parametrize('fraction, difficulty', [(0.35, 3.0), (0.6, 0.3)])
def test_average_compute_tracks_target_across_a_step_change_of_load(fraction, difficulty):
    target, records = run_compute_budget(fraction, difficulty, gain=0.3)
    gflops = np.array([r.gflops for r in records])
    for start, stop in [(200, 1000), (1200, 2000)]:           # after warm-up of each phase
        assert gflops[start:stop].mean() == pytest.approx(target, rel=0.05)
    assert records[-1].avg_gflops == pytest.approx(gflops[-100:].mean())
    # open loop (no controller) the same step change moves the average off target
    _, open_loop = run_compute_budget(fraction, difficulty, gain=0.0)
    drift = np.mean([r.gflops for r in open_loop[1200:]]) / target - 1.0
    assert abs(drift) > 0.1
    assert {r.threshold_scale for r in open_loop} == {1.0}


def deadline_engine(deadline_ms, jitter):
    model = ExampleModel(vision_ms=5.0, layer_ms=1.0, head_ms=0.1, jitter=jitter, seed=3)
    engine = InferenceEngine(model, EngineConfig(thresholds=[-1e8] * 5,
                                                 budget_latency_ms=deadline_ms),
                             Telemetry(clock=model.clock))
    engine.reset('task')
    return model, engine


def test_zero_deadline_misses_when_feasible_across_a_load_step():
    model, engine = deadline_engine(12.0, jitter=0.1)
    records = []
    for i, image in enumerate(example_frames(600)):
        if i == 300:
            model.load = 1.4
        t_received = model.clock() - 0.5e-3                  # queued 0.5 ms before step()
        records.append(engine.step(image, t_received=t_received))
    assert not any(r.deadline_missed for r in records)
    assert max(r.latency_ms for r in records) <= 12.0
    assert {r.stop_reason for r in records} == {'deadline'}
    before = np.mean([r.exit_index for r in records[:300]])
    after = np.mean([r.exit_index for r in records[300:]])
    assert before >= 1.0 and after < before                   # slower machine: shallower exits
    assert records[-1].deadline_miss_rate == 0.0


def test_infeasible_deadline_reports_a_bounded_miss_rate():
    model, engine = deadline_engine(7.6, jitter=0.3)
    records = [engine.step(image) for image in example_frames(400)]
    missed = np.array([r.latency_ms > 7.6 for r in records])
    assert 0.0 < missed.mean() < 1.0
    assert [r.deadline_missed for r in records] == missed.tolist()
    assert records[-1].deadline_miss_rate == pytest.approx(missed[-100:].mean())
    assert all(r.exit_index == 0 for r in records[5:])        # never ran past the first exit
    assert max(r.latency_ms for r in records) <= 1.3 * 7.3    # bounded by the minimal path

    model, engine = deadline_engine(3.0, jitter=0.0)          # below vision time: always missed
    records = [engine.step(image) for image in example_frames(20)]
    assert all(r.deadline_missed and r.exit_index == 0 for r in records)
    assert records[-1].deadline_miss_rate == 1.0


def memory_engine(**config):
    model = ExampleModel(base_mb=1000.0, layer_mb=100.0, total_mb=8000.0)
    engine = InferenceEngine(model, EngineConfig(policy='full', **config),
                             Telemetry(clock=model.clock, memory=model.memory_source()))
    engine.reset('task')
    return model, engine


def test_resident_layers_never_exceed_the_memory_budget_and_recover():
    model, engine = memory_engine(budget_gpu_memory_mb=2300.0, memory_hysteresis_mb=50.0,
                                  memory_grow_patience=5)
    image = example_frames(1)[0]
    schedule = [2300.0] * 5 + [1500.0] * 20 + [1750.0] * 20 + [2300.0] * 30
    records = []
    for budget in schedule:
        if budget != engine.config.budget_gpu_memory_mb:
            engine.update_config(budget_gpu_memory_mb=budget)
        records.append(engine.step(image))
        assert model.process_mb <= budget
        assert records[-1].gpu_memory_used_mb <= budget
    assert records[5].memory_action == 'shed' and records[5].resident_exit == 1
    assert records[5].exit_index == 1 and records[5].stop_reason == 'deepest_allowed'
    assert engine.memory.learned_layer_mb == pytest.approx(100.0)
    assert records[44].resident_exit == 2                     # 1750 MB: 6 layers fit
    assert records[-1].resident_exit == 5 and records[-1].stop_reason == 'full'
    actions = [r.memory_action for r in records[45:]]
    assert actions.count('reload') == 3 and 'shed' not in actions


def test_free_memory_reserve_sheds_under_pressure_and_reloads_after_it():
    model, engine = memory_engine(memory_reserve_mb=5000.0, memory_hysteresis_mb=150.0,
                                  memory_grow_patience=3, layer_memory_mb=100.0)
    image = example_frames(1)[0]
    records = []
    for i in range(60):
        model.external_mb = 1200.0 if 10 <= i < 30 else 0.0
        records.append(engine.step(image))
        free = model.total_mb - model.process_mb - model.external_mb
        assert free >= 5000.0
    assert records[10].memory_action == 'shed'
    # free 8000 - 2200 - 1200 = 4600 MB: 400 MB short -> 4 layers shed at once (12 -> 8)
    assert records[10].resident_exit == 3
    assert records[29].resident_exit == 3
    assert records[-1].resident_exit == 5
    assert [r.memory_action for r in records[30:]].count('shed') == 0


def test_memory_controller_reports_inactive_without_nvml():
    source = NvmlMemorySource()
    if source.active:
        pytest.skip('this machine has NVML')
    assert not source.sample().active and 'NVML' in source.sample().reason
    model = ExampleModel()
    engine = InferenceEngine(model, EngineConfig(policy='full', budget_gpu_memory_mb=10.0),
                             Telemetry(clock=model.clock))
    engine.reset('task')
    r = engine.step(example_frames(1)[0])
    assert (r.memory_active, r.memory_action, r.resident_exit) == (False, 'inactive', 5)


def test_trace_memory_source_and_running_percentile():
    trace = TraceMemorySource([MemorySample(True, process_mb=1.0), MemorySample(False)])
    assert trace.sample().active and not trace.sample().active and not trace.sample().active
    p = RunningPercentile(4, 100.0)
    for x in [5, 1, 2, 3, 4]:
        p.add(x)
    assert p.value() == 4.0 and len(p) == 4


def test_memory_budget_watches_the_models_gpu_unless_told_otherwise():
    import torch
    model = ExampleModel()
    model.device = torch.device('cuda:1')            # what ModelRollout reports on cuda:1
    full = EngineConfig(policy='full')
    assert InferenceEngine(model, full).memory_device_index == 1
    explicit = EngineConfig(policy='full', memory_device_index=0)
    assert InferenceEngine(model, explicit).memory_device_index == 0
    assert InferenceEngine(ExampleModel(), full).memory_device_index == 0


def test_controller_returns_to_scale_one_when_thresholds_or_budget_change():
    model = ExampleModel()
    engine = InferenceEngine(model, EngineConfig(thresholds=[1e-4] * 5, budget_avg_gflops=0.1),
                             Telemetry(clock=model.clock))
    engine.reset('task')
    frames = example_frames(200, seed=3)
    records = [engine.step(f) for f in frames[:150]]
    assert records[-1].controller_saturated
    assert records[-1].threshold_scale == pytest.approx(1000.0)
    engine.update_config(thresholds=[1e-3] * 5)
    after = engine.step(frames[150])
    assert after.thresholds[:5] == pytest.approx([1e-3] * 5), 'used at scale 1'
    assert not after.controller_saturated and after.threshold_scale < 1.5
    records = [engine.step(f) for f in frames[151:199]]
    assert records[-1].threshold_scale > 10.0
    engine.update_config(budget_avg_gflops=0.0)
    off = engine.step(frames[199])
    assert off.thresholds[:5] == pytest.approx([1e-3] * 5)
    assert off.threshold_scale == 1.0 and off.budget_avg_gflops == 0.0


def run_skip_budget(fraction, gain, frames=1200, difficulty=10.0, freeze_at_step=False):
    """DySL skipping at full depth under an average-compute budget; a step change at half way.

    Harder frames (the step) make the actions jump more (C_t lower), so the gate that held
    the budget before lets fewer frames skip after it.
    """
    model = ExampleModel(decay=0.7)
    engine = InferenceEngine(model, EngineConfig(policy='full', skip_enabled=True,
                                                 static_layers=[0, 4, 8], skip_gripper_window=0,
                                                 budget_avg_fraction=fraction,
                                                 budget_gain=gain),
                             Telemetry(clock=model.clock))
    engine.reset('task')
    records = []
    for i, image in enumerate(example_frames(frames, seed=4)):
        if i == frames // 2:
            model.difficulty = difficulty
            if freeze_at_step:
                engine.update_config(budget_gain=0.0)     # keep the scale reached so far
        records.append(engine.step(image))
    return records


def test_skipping_alone_holds_an_average_compute_budget_across_a_step_change():
    records = run_skip_budget(0.5, gain=0.3)
    fraction = np.array([r.gflops / r.full_gflops for r in records])
    for start, stop in [(200, 600), (800, 1200)]:               # after warm-up of each phase
        assert fraction[start:stop].mean() == pytest.approx(0.5, abs=0.03)
    assert all(r.exit_index == 5 for r in records)              # skipping, never exiting early
    assert sum(r.layers_skipped > 0 for r in records[200:]) > 300
    phases = [(400, 600), (1000, 1200)]
    scale = [np.mean([r.threshold_scale for r in records[a:b]]) for a, b in phases]
    assert scale[1] > 1.2 * scale[0], 'the gate widened after the step'
    # the gate and the post-guidance limit in force are the settings times the scale
    scale_before, r = records[-2].threshold_scale, records[-1]
    assert r.skip.continuity_min == pytest.approx(-0.1 * scale_before)
    assert r.skip.verify_threshold == pytest.approx(0.05 * scale_before)
    # the scale frozen at the step: the same frames then run over the budget
    frozen = run_skip_budget(0.5, gain=0.3, freeze_at_step=True)
    after = np.mean([r.gflops / r.full_gflops for r in frozen[800:]])
    assert after > 0.55
    # no controller: these frames (C_t ~ -1) never pass the -0.1 gate
    open_loop = run_skip_budget(0.5, gain=0.0)
    assert not any(r.layers_skipped for r in open_loop)
    assert {r.skip.continuity_min for r in open_loop} == {-0.1}
