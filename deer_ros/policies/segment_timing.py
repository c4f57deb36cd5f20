"""Per-frame timing of the engine's segments and head evaluations, and the deadline check.

The engine makes one per frame; it feeds the LatencyModel (running percentiles) and answers,
before each segment, whether running it (and its head) still meets the latency budget.
"""
from typing import Any, Callable, Sequence

from deer_ros.model.api import Block, Candidate, SegmentModel
from deer_ros.policies.budget import LatencyModel
from deer_ros.policies.config import EngineConfig


class SegmentTiming:
    """Measures this frame's segments and answers the deadline check.

    The device is waited for after each segment only with a latency budget: the deadline check
    needs device time. Without one, an asynchronous device (CUDA) is read back once per head
    evaluation (the decision needs the values), so vision/LLM times are launch times, the head's
    include the queued work, latency_ms stays exact, and the estimates are not fed (they would
    learn launch times; with a budget they start from synchronised frames).
    """

    def __init__(self, clock: Callable[[], float], t_ref: float, cfg: EngineConfig,
                 model: LatencyModel, vision_ms: float, asynchronous: bool = False) -> None:
        self.clock, self.t_ref, self.cfg, self.est = clock, t_ref, cfg, model
        self.sync = cfg.budget_latency_ms > 0
        self.learn = self.sync or not asynchronous
        self.llm_ms = self.head_ms = 0.0
        predicted = model.vision.value()
        self.actual_ms, self.predicted_ms = vision_ms, (predicted or 0.0)
        if predicted is None:
            self.actual_ms = 0.0
        if self.learn:
            model.vision.add(vision_ms)

    @property
    def slowdown(self) -> float:
        """How much slower this frame runs than the estimates (>= 1)."""
        if self.predicted_ms <= 0:
            return 1.0
        return max(1.0, self.actual_ms / self.predicted_ms)

    def segment_fits(self, exit_index: int, layers: int) -> bool:
        """True if running this segment (+ its head) would still meet the deadline."""
        if self.cfg.budget_latency_ms <= 0:
            return True
        predicted = self.est.predict_segment(exit_index, layers)
        if predicted is None:
            return True
        elapsed = (self.clock() - self.t_ref) * 1e3
        budget = self.cfg.budget_latency_ms - self.cfg.latency_margin_ms
        return elapsed + predicted * self.slowdown <= budget

    def run_layers(self, model: SegmentModel, frame: Any, start: int, stop: int,
                   blocks: Sequence[Block], exit_index: int, layers: int) -> None:
        """model.run_layers, timed; `layers` is how many of them run (skipped ones do not)."""
        predicted = self.est.predict_segment(exit_index, layers, with_head=False)
        t = self.clock()
        model.run_layers(frame, start, stop, skip=blocks)
        if self.sync:
            model.synchronize()
        ms = (self.clock() - t) * 1e3
        self.llm_ms += ms
        if predicted is not None and layers > 0:
            self.actual_ms += ms
            self.predicted_ms += predicted
        if self.learn:
            self.est.observe_segment(exit_index, layers, ms)

    def candidate(self, model: SegmentModel, frame: Any, layer: int) -> Candidate:
        """model.candidate, timed (its read-back waits for the device's queued work)."""
        predicted = self.est.head.value()
        t = self.clock()
        cand = model.candidate(frame, layer)
        ms = (self.clock() - t) * 1e3
        self.head_ms += ms
        if predicted is not None:
            self.actual_ms += ms
            self.predicted_ms += predicted
        if self.learn:
            self.est.head.add(ms)
        return cand
