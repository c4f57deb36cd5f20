"""The engine waits for the device only where a latency budget needs it (issue 13)."""
from typing import List, Tuple

import pytest

from deer_ros.policies import EngineConfig, InferenceEngine
from deer_ros.policies.example import ExampleModel, example_frames
from deer_ros.telemetry import Telemetry


class CountingModel(ExampleModel):
    """ExampleModel that counts its synchronize() calls and names a device."""

    def __init__(self, device: str = 'cpu') -> None:
        super().__init__(decay=0.5)
        self.device = device
        self.syncs = 0

    def synchronize(self) -> None:
        """Count the wait (ExampleModel has nothing queued)."""
        self.syncs += 1


def run(model: CountingModel, frames: int = 5, **config) -> Tuple[List, InferenceEngine]:
    engine = InferenceEngine(model, EngineConfig(thresholds=[-1e8] * 5, **config),
                             Telemetry(clock=model.clock))
    engine.reset('pick the block')
    return [engine.step(image) for image in example_frames(frames)], engine


def test_no_latency_budget_no_device_syncs():
    model = CountingModel()
    records, _ = run(model)
    assert model.syncs == 0
    assert all(r.latency_ms > 0 and r.vision_ms > 0 for r in records)   # still measured


@pytest.mark.parametrize('device', ['cpu', 'cuda:0'])
def test_a_latency_budget_syncs_after_encode_and_after_every_segment(device):
    model = CountingModel(device)
    records, _ = run(model, frames=3, budget_latency_ms=1000.0)
    segments = sum(r.exit_index + 1 for r in records)        # exits 0..k each ran a segment
    assert model.syncs == len(records) + segments


def test_unsynchronised_device_times_do_not_feed_the_latency_estimates():
    _, engine = run(CountingModel('cuda:0'))
    assert engine.latency.vision.value() is None and engine.latency.head.value() is None
    _, engine = run(CountingModel('cpu'))                     # a synchronous device: exact times
    assert engine.latency.vision.value() is not None and engine.latency.head.value() is not None
