"""Online budget control from live telemetry (ours; beyond both papers).

* ComputeController: integral feedback on a log-scale applied to every DeeR threshold (except the
  forced last exit) so that the average LLM compute per action tracks a target.
* LatencyModel + deadline check: running high percentiles of vision, per-layer and head latency;
  before each segment the engine predicts its duration (scaled by this frame's observed slow-down)
  and stops at the current exit if the deadline would be missed.
* MemoryController: picks the deepest resident exit from GPU memory telemetry, shedding layers when
  over budget or when free device memory drops below a reserve, reloading one exit at a time after
  `memory_grow_patience` frames of headroom (hysteresis).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from deer_ros.model.api import SegmentModel
from deer_ros.policies.kinds import MemoryAction
from deer_ros.telemetry import MemorySample, MemorySource, RunningPercentile, RunningWindow


class ComputeController:
    """Average-compute feedback: thresholds_eff = thresholds * exp(u), u integrates the error.

    The error of a frame is (gflops - target) / the running mean of the full model's cost, so
    the integral drives sum(gflops) to sum(target): the ratio of the running means is the
    realised fraction. u is clamped to +-log(scale_max) (bounded range, no wind-up); at a bound
    the controller is `saturated`: scaling the thresholds cannot meet the budget (e.g.
    never-exit thresholds, or a budget below the first exit's cost).
    """

    def __init__(self, window: int = 100, scale_max: float = 1000.0) -> None:
        self.log_scale = 0.0
        self.scale_max = float(scale_max)
        self.window = RunningWindow(window)          # gflops per frame
        self.full_window = RunningWindow(window)     # the full model's cost per frame

    @property
    def scale(self) -> float:
        """Multiplier applied to the thresholds."""
        return math.exp(self.log_scale)

    @property
    def saturated(self) -> bool:
        """The scale sits at one of its bounds."""
        return abs(self.log_scale) >= math.log(self.scale_max) - 1e-9

    @property
    def avg_fraction(self) -> float:
        """Running mean of gflops over the running mean of the full model's cost (0: none)."""
        full = self.full_window.mean
        return self.window.mean / full if full > 0 else 0.0

    def reset(self) -> None:
        """Back to the calibrated thresholds (scale 1): the budget or the thresholds changed."""
        self.log_scale = 0.0

    def resize(self, window: int, scale_max: float) -> None:
        """Apply new window / bound settings (the scale is clamped into the new bound)."""
        self.window.resize(window)
        self.full_window.resize(window)
        self.scale_max = float(scale_max)
        self._clamp()

    def scaled(self, thresholds: Sequence[float]) -> List[float]:
        """Thresholds times the scale; the last (forced) one and negative sentinels unchanged."""
        s = self.scale
        out = [float(t) * s if t > 0 else float(t) for t in thresholds]
        if out:
            out[-1] = float(thresholds[-1])
        return out

    def update(self, gflops: float, target: Optional[float], full_gflops: float,
               gain: float) -> None:
        """Record one frame's cost; with a target, step u by gain * (cost - target) / mean full."""
        self.window.add(gflops)
        self.full_window.add(full_gflops)
        if target is None or target <= 0 or full_gflops <= 0:
            return
        self.log_scale += gain * (gflops - target) / self.full_window.mean
        self._clamp()

    def _clamp(self) -> None:
        limit = math.log(max(1.0, self.scale_max))
        self.log_scale = float(np.clip(self.log_scale, -limit, limit))


class LatencyModel:
    """Running high-percentile latency estimates (ms) of vision, one layer, one head evaluation."""

    def __init__(self, window: int = 200, percentile: float = 99.0, min_samples: int = 5) -> None:
        self.window, self.percentile, self.min_samples = window, percentile, min_samples
        self.vision = RunningPercentile(window, percentile)
        self.head = RunningPercentile(window, percentile)
        self.layer = RunningPercentile(window, percentile)          # pooled over segments
        self.segment_layer: Dict[int, RunningPercentile] = {}       # per exit segment

    def configure(self, window: int, percentile: float) -> None:
        """Apply new window / percentile settings, keeping samples."""
        self.window, self.percentile = window, percentile
        for est in [self.vision, self.head, self.layer, *self.segment_layer.values()]:
            est.resize(window)
            est.percentile = percentile

    def observe_segment(self, exit_index: int, layers: int, llm_ms: float) -> None:
        """One segment's measured LLM time for `layers` executed layers."""
        if layers <= 0:
            return
        per_layer = llm_ms / layers
        self.layer.add(per_layer)
        est = self.segment_layer.setdefault(exit_index,
                                            RunningPercentile(self.window, self.percentile))
        est.add(per_layer)

    def predict_segment(self, exit_index: int, layers: int, with_head: bool = True
                        ) -> Optional[float]:
        """Predicted ms of running `layers` layers of segment exit_index (+ one head)."""
        est = self.segment_layer.get(exit_index)
        per_layer = est.value() if est is not None and len(est) >= self.min_samples \
            else self.layer.value()
        if per_layer is None:
            return None
        head = (self.head.value() or 0.0) if with_head else 0.0
        return layers * per_layer + head


@dataclass(frozen=True)
class MemoryDecision:
    """What the memory controller did before a frame."""

    action: MemoryAction        # 'off' | 'inactive' | 'none' | 'shed' | 'reload' | 'floor'
    resident_exit: int
    sample: MemorySample
    layer_mb: Optional[float]   # memory per resident layer in use (configured or learned)


class MemoryController:
    """Deepest resident exit from GPU memory telemetry, with hysteresis."""

    def __init__(self, source: Optional[MemorySource]) -> None:
        self.source = source
        self.learned_layer_mb: Optional[float] = None
        self._ok_frames = 0

    def update(self, model: SegmentModel, top_exit: int, budget_mb: float, reserve_mb: float,
               hysteresis_mb: float, patience: int, layer_mb: float = 0.0) -> MemoryDecision:
        """Sample memory, shed or reload exits on `model`; never leaves it over budget."""
        layers = [int(e) + 1 for e in model.exit_layers]
        if budget_mb <= 0 and reserve_mb <= 0:
            if model.resident_exit < top_exit:           # budgets switched off: reload all
                model.set_resident_exit(top_exit)
                return MemoryDecision('reload', model.resident_exit, MemorySample(False), None)
            return MemoryDecision('off', model.resident_exit, MemorySample(False), None)
        sample = self.source.sample() if self.source is not None else MemorySample(False)
        if not sample.active:
            return MemoryDecision('inactive', model.resident_exit, sample, None)

        def over(s: MemorySample) -> float:
            need = s.process_mb - budget_mb if budget_mb > 0 else -math.inf
            if reserve_mb > 0:
                need = max(need, reserve_mb - s.device_free_mb)
            return need

        action, cur = 'none', model.resident_exit
        if cur > top_exit:
            sample, cur, action = self._move(model, sample, top_exit, layers), top_exit, 'shed'
        for _ in range(len(layers)):
            need = over(sample)
            if need <= 0:
                break
            if cur == 0:
                self._ok_frames = 0
                return MemoryDecision('floor', cur, sample, self._layer_mb(layer_mb))
            per = self._layer_mb(layer_mb)
            target = cur - 1
            if per:
                drop = math.ceil(need / per)
                fits = [k for k in range(cur) if layers[cur] - layers[k] >= drop]
                target = fits[-1] if fits else 0
            sample, cur, action = self._move(model, sample, target, layers), target, 'shed'
            self._ok_frames = 0
        if action == 'shed':
            return MemoryDecision(action, cur, sample, self._layer_mb(layer_mb))
        if cur < top_exit and self._headroom(sample, layers[cur + 1] - layers[cur],
                                             budget_mb, reserve_mb, hysteresis_mb,
                                             self._layer_mb(layer_mb)):
            self._ok_frames += 1
            if self._ok_frames >= patience:
                self._ok_frames = 0
                sample = self._move(model, sample, cur + 1, layers)
                if over(sample) > 0:                      # grew too far: back, stay safe
                    sample = self._move(model, sample, cur, layers)
                    return MemoryDecision('shed', cur, sample, self._layer_mb(layer_mb))
                return MemoryDecision('reload', cur + 1, sample, self._layer_mb(layer_mb))
        else:
            self._ok_frames = 0
        return MemoryDecision(action, cur, sample, self._layer_mb(layer_mb))

    def _layer_mb(self, configured: float) -> Optional[float]:
        return configured if configured > 0 else self.learned_layer_mb

    @staticmethod
    def _headroom(sample: MemorySample, add_layers: int, budget_mb: float, reserve_mb: float,
                  hysteresis_mb: float, per_layer: Optional[float]) -> bool:
        add = add_layers * per_layer if per_layer else 0.0
        ok = budget_mb <= 0 or sample.process_mb + add <= budget_mb - hysteresis_mb
        return ok and (reserve_mb <= 0
                       or sample.device_free_mb - add >= reserve_mb + hysteresis_mb)

    def _move(self, model: SegmentModel, before: MemorySample, exit_index: int,
              layers: Sequence[int]) -> MemorySample:
        old = model.resident_exit
        model.set_resident_exit(exit_index)
        after = self.source.sample()
        delta_layers = layers[exit_index] - layers[old]
        delta_mb = after.process_mb - before.process_mb
        if after.active and delta_layers != 0 and delta_mb * delta_layers > 0:
            per = delta_mb / delta_layers
            self.learned_layer_mb = per if self.learned_layer_mb is None else \
                0.5 * (self.learned_layer_mb + per)
        return after
