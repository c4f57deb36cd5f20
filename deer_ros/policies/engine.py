"""InferenceEngine: drives a SegmentModel frame by frame under the exit, skip and budget policies.

Per frame: memory control (resident exit) -> vision encoding -> prior guidance (may this frame
skip?) -> segments up to each allowed exit, each preceded by the deadline check -> the policy's
exit decision -> post guidance (rerun without skipping on disagreement) -> commit the exit taken
-> compute controller update. Everything decided is written into the returned StepRecord.

Fractions are of the frames actually run: `budget_avg_fraction` targets, per frame, that fraction
of this frame's full-depth cost (the current instruction's token count sets the layer costs), and
with a `threshold_solver` (a calibration) the base thresholds are solved for that fraction at the
current instruction's costs on every reset. The controller's scale returns to 1 when the budget,
the policy or the thresholds are changed, and is kept across instructions (see docs/policies.md).

Longer than ~300 lines because one frame's passes share the engine's state; what stands apart
already lives apart (criterion, skipping, budget controllers, segment_timing, record).
"""
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.model.api import Candidate, SegmentModel, full_model_gmacs
from deer_ros.policies.budget import ComputeController, LatencyModel, MemoryController
from deer_ros.policies.config import EngineConfig, fit_problem
from deer_ros.policies.criterion import NEVER_EXIT, consistency_value, should_exit
from deer_ros.policies.record import CandidateRecord, SkipInfo, StepRecord
from deer_ros.policies.segment_timing import SegmentTiming
from deer_ros.policies.skipping import (Block, blocks_in, default_static_layers, prior_guidance,
                                        skip_blocks)
from deer_ros.telemetry import Telemetry, default_memory_source

# (fraction, layer GMACs of the current instruction, head GMAC) -> thresholds per exit
ThresholdSolver = Callable[[float, Sequence[float], float], List[float]]
_RESET_ON = ('budget_avg_gflops', 'budget_avg_fraction', 'policy', 'thresholds', 'skip_enabled',
             'skip_continuity_min', 'skip_verify_threshold')


@dataclass
class _Pass:
    """Bookkeeping of one pass over the layers (a frame has two when post guidance reruns)."""

    chosen: Optional[Candidate] = None
    exit_index: int = -1
    reason: str = ''
    candidates: List[CandidateRecord] = field(default_factory=list)
    executed: List[int] = field(default_factory=list)     # layers run
    skipped: List[int] = field(default_factory=list)      # layers replaced by adapters
    blocks: List[Block] = field(default_factory=list)
    head_evals: int = 0


class InferenceEngine:
    """Per-frame inference under the policies of an EngineConfig; see the module docstring."""

    def __init__(self, model: SegmentModel, config: EngineConfig,
                 telemetry: Optional[Telemetry] = None,
                 threshold_solver: Optional[ThresholdSolver] = None) -> None:
        self.model = model
        self.telemetry = telemetry or Telemetry()
        self.config = self._checked(config)
        self._pending: Optional[EngineConfig] = None
        self.compute = ComputeController(self.config.budget_window,
                                         self.config.budget_scale_max)
        self.threshold_solver = threshold_solver
        self._calibrated = list(self.config.thresholds)   # the solver's thresholds apply while
        self._solved: Optional[List[float]] = None        # cfg.thresholds are these
        self.latency = LatencyModel(self.config.latency_window, self.config.latency_percentile)
        self.memory = MemoryController(self.telemetry.memory)
        self._misses = deque(maxlen=self.config.budget_window)
        self._actions: deque = deque(maxlen=128)
        self._frame = 0
        self._layer_gmacs: List[float] = []
        self._oom_cap: Optional[int] = None      # deepest exit allowed after an out-of-memory
        self._oom_clean_frames = 0

    # --- public API -------------------------------------------------------------------------
    def reset(self, instruction: str) -> None:
        """Start a rollout: new instruction, zero head state, empty action history."""
        self.model.reset(instruction)
        self._layer_gmacs = [float(x) for x in self.model.layer_gmacs()]
        self._actions.clear()
        self._frame = 0
        self._solve_thresholds(self._pending or self.config)

    def update_config(self, **changes) -> EngineConfig:
        """Validate changes now (ValueError), apply them from the next frame; return the result."""
        base = self._pending or self.config
        self._pending = self._checked(base.updated(**changes))
        return self._pending

    @property
    def full_gflops(self) -> float:
        """GMAC of the full model for the current instruction (what a fraction is of)."""
        gmacs = self._layer_gmacs or [float(x) for x in self.model.layer_gmacs()]
        return full_model_gmacs(gmacs, self.model.exit_layers, self.model.head_gmacs)

    @property
    def memory_device_index(self) -> int:
        """NVML index watched by the memory budget: the setting, else the model's cuda:N."""
        index = (self._pending or self.config).memory_device_index
        return index if index >= 0 else cuda_index(getattr(self.model, 'device', ''))

    def step(self, static: np.ndarray, gripper: Optional[np.ndarray] = None,
             t_received: Optional[float] = None,
             state: Optional[np.ndarray] = None) -> StepRecord:
        """Run one frame; t_received = time.monotonic() at the observation's arrival.

        state: the robot state of the frame, for a model whose head takes one (else ignored).

        Device out-of-memory degrades instead of failing: the deepest resident exit drops by one
        (freeing its layers) and the frame is retried, down to the first exit; the cap is lifted
        one exit at a time after OOM_RECOVERY_FRAMES clean frames.
        """
        shed = False
        while True:
            try:
                record = self._step_once(static, gripper, t_received, state)
            except Exception as exc:  # torch's OutOfMemoryError is a RuntimeError subclass
                if not is_out_of_memory(exc) or self.model.resident_exit == 0:
                    raise
                self._oom_cap = int(self.model.resident_exit) - 1
                self._oom_clean_frames = 0
                self.model.set_resident_exit(self._oom_cap)
                shed = True
                continue
            if shed:
                record.memory_action = 'oom_shed'
            elif self._oom_cap is not None:
                self._oom_clean_frames += 1
                if self._oom_clean_frames >= OOM_RECOVERY_FRAMES:
                    last = len(self.model.exit_layers) - 1
                    self._oom_cap = None if self._oom_cap + 1 >= last else self._oom_cap + 1
                    self._oom_clean_frames = 0
            return record

    def _step_once(self, static: np.ndarray, gripper: Optional[np.ndarray],
                   t_received: Optional[float], state: Optional[np.ndarray] = None
                   ) -> StepRecord:
        cfg = self._apply_pending()
        clock = self.telemetry.clock
        t0 = clock()
        t_ref = t0 if t_received is None else float(t_received)
        if not self._layer_gmacs:
            self._layer_gmacs = [float(x) for x in self.model.layer_gmacs()]
        if (cfg.budget_gpu_memory_mb > 0 or cfg.memory_reserve_mb > 0) and \
                self.memory.source is None:
            self.memory.source = default_memory_source(self.memory_device_index)
        mem = self.memory.update(self.model, self._top_exit(cfg), cfg.budget_gpu_memory_mb,
                                 cfg.memory_reserve_mb, cfg.memory_hysteresis_mb,
                                 cfg.memory_grow_patience, cfg.layer_memory_mb)
        deepest, target = self._targets(cfg)
        tv = clock()
        if state is not None and getattr(self.model, 'state_dim', 0):
            frame = self.model.encode(static, gripper, state=state)
        else:
            frame = self.model.encode(static, gripper)
        if cfg.budget_latency_ms > 0:       # else the decision's read-back is the only sync
            self.model.synchronize()
        vision_ms = (clock() - tv) * 1e3
        asynchronous = str(getattr(self.model, 'device', '')).startswith('cuda')
        timing = SegmentTiming(clock, t_ref, cfg, self.latency, vision_ms, asynchronous)

        skip = SkipInfo(enabled=cfg.skip_enabled)
        full_depth = False
        blocks: List[Block] = []
        if cfg.skip_enabled:
            skip.continuity_min, skip.verify_threshold = self._skip_limits(cfg)
            prior = prior_guidance(self._actions, cfg.skip_history, skip.continuity_min,
                                   cfg.skip_gripper_window)
            skip.allowed, skip.reason, skip.continuity = prior.allowed, prior.reason, \
                prior.continuity
            full_depth = prior.full_depth
            if prior.allowed:
                blocks = self._skip_plan(cfg)
                if not blocks:
                    skip.allowed, skip.reason = False, 'no_blocks'
        thresholds = self._thresholds(cfg, full_depth)
        first = self._run_pass(frame, cfg, deepest, target, blocks, thresholds, timing, 0)
        passes = [first]
        if first.skipped and cfg.skip_verify and first.reason != 'deadline':
            self._post_guidance(frame, cfg, first, skip, timing)
            if skip.rerun:
                resume = min(a for a, _ in first.blocks)
                passes.append(self._run_pass(frame, cfg, deepest, target, [], thresholds,
                                             timing, resume))
        final = passes[-1]
        self.model.commit(final.chosen)
        action = final.chosen.action
        executed = sum(len(p.executed) for p in passes)
        head_evals = sum(p.head_evals for p in passes) + (1 if skip.verify_layer is not None
                                                          else 0)
        gflops = sum(self._layer_gmacs[i] for p in passes for i in p.executed) + \
            head_evals * float(self.model.head_gmacs) + \
            sum(self._adapter_gmacs(b) for p in passes for b in p.blocks)
        skip.blocks = list(final.blocks)
        full, target = self.full_gflops, self._compute_target(cfg)
        self.compute.update(gflops, target, full, cfg.budget_gain if target else 0.0)
        fraction = cfg.budget_avg_fraction if target and not cfg.budget_avg_gflops > 0 else 0.0
        saturated = bool(target) and cfg.budget_gain > 0 and self.compute.saturated
        latency_ms = (clock() - t_ref) * 1e3
        missed = cfg.budget_latency_ms > 0 and latency_ms > cfg.budget_latency_ms
        self._misses.append(1.0 if missed else 0.0)
        self._actions.append(action)
        self._frame += 1
        return StepRecord(
            action=action, gripper_prob=float(final.chosen.gripper_prob),
            exit_index=final.exit_index, layer=int(final.chosen.layer), policy=cfg.policy,
            stop_reason=final.reason, layers_executed=executed,
            layers_skipped=len(final.skipped), head_evals=head_evals, gflops=float(gflops),
            avg_gflops=self.compute.window.mean, latency_ms=latency_ms, vision_ms=vision_ms,
            llm_ms=timing.llm_ms, head_ms=timing.head_ms, deadline_ms=cfg.budget_latency_ms,
            deadline_missed=bool(missed), deadline_miss_rate=float(np.mean(self._misses)),
            resident_exit=int(self.model.resident_exit), deepest_allowed_exit=deepest,
            gpu_memory_used_mb=float(mem.sample.process_mb), memory_active=mem.sample.active,
            memory_action=mem.action, threshold_scale=self.compute.scale,
            thresholds=thresholds, full_gflops=full, avg_fraction=self.compute.avg_fraction,
            budget_avg_gflops=target or 0.0, budget_avg_fraction=fraction,
            controller_saturated=saturated,
            candidates=[c for p in passes for c in p.candidates],
            skip=skip, frame_index=self._frame - 1)

    # --- one pass over the segments -----------------------------------------------------------
    def _run_pass(self, frame, cfg: EngineConfig, deepest: int, target: int,
                  blocks: List[Block], thresholds: List[float], timing: SegmentTiming,
                  valid_upto: int) -> _Pass:
        model, exits = self.model, list(self.model.exit_layers)
        out = _Pass()
        deer = cfg.policy == 'deer'
        evaluate_all = deer or cfg.budget_latency_ms > 0    # fallbacks for the deadline
        ref: Optional[Candidate] = None
        done = valid_upto
        k = 0
        while k <= target:
            stop = exits[k] + 1
            if not evaluate_all and k < target:      # fixed / full: one run to the target
                k = target
                continue
            seg_blocks = blocks_in(blocks, done, stop)
            skipped = sum(b - a for a, b in seg_blocks)
            n_exec = max(0, stop - done - skipped)
            if out.chosen is not None and not timing.segment_fits(k, n_exec):
                out.reason = 'deadline'
                return out
            if stop > done:
                timing.run_layers(model, frame, done, stop, seg_blocks, k, n_exec)
                out.executed += [i for i in range(done, stop)
                                 if not any(a <= i < b for a, b in seg_blocks)]
                out.skipped += [i for a, b in seg_blocks for i in range(a, b)]
                out.blocks += seg_blocks
                done = stop
            if deer and skipped and n_exec == 0 and k < target and out.candidates:
                k += 1                                   # wholly skipped segment: no decision
                continue
            if deer and ref is None:
                ref = timing.candidate(model, frame, 0)
                out.head_evals += 1
                out.candidates.append(CandidateRecord(-1, 0, _pose(ref), None))
            cand = timing.candidate(model, frame, exits[k])
            out.head_evals += 1
            value = consistency_value(cand.pose, ref.pose, cfg.criterion) if deer else None
            out.candidates.append(CandidateRecord(k, exits[k], _pose(cand), value))
            out.chosen, out.exit_index, ref = cand, k, cand
            if k == target:
                out.reason = self._final_reason(cfg, k, deepest)
                return out
            if deer and should_exit(value, thresholds[k], False):
                out.reason = 'threshold'
                return out
            k += 1
        return out

    def _post_guidance(self, frame, cfg: EngineConfig, first: _Pass, skip: SkipInfo,
                       timing: SegmentTiming) -> None:
        """Compare the skipped pass's action with the nearest static layer's head (ours)."""
        layer = int(first.chosen.layer)
        if not any(i <= layer for i in first.skipped):
            return
        # nearest static layer below the exit with an executed layer in between (with identity
        # adapters a static layer followed only by skipped layers equals the exit's input)
        static = [s for s in sorted(self._static_layers(cfg), reverse=True) if s < layer
                  and any(s < i <= layer for i in first.executed)]
        if not static:
            return
        s = static[0]
        check = timing.candidate(self.model, frame, s)
        skip.verify_layer = s
        skip.verify_value = consistency_value(first.chosen.pose, check.pose, cfg.criterion)
        skip.rerun = skip.verify_value > skip.verify_threshold

    # --- helpers ------------------------------------------------------------------------------
    def _checked(self, cfg: EngineConfig) -> EngineConfig:
        problem = fit_problem(cfg, len(self.model.exit_layers), int(self.model.num_layers))
        if problem is not None:
            raise ValueError(f'{problem[0]}: {problem[1]}')
        return cfg

    def _apply_pending(self) -> EngineConfig:
        if self._pending is not None:
            old, self.config, self._pending = self.config, self._pending, None
            cfg = self.config
            self.latency.configure(cfg.latency_window, cfg.latency_percentile)
            self.compute.resize(cfg.budget_window, cfg.budget_scale_max)
            self._misses = deque(self._misses, maxlen=cfg.budget_window)
            if any(getattr(old, name) != getattr(cfg, name) for name in _RESET_ON):
                self.compute.reset()      # a new budget or new thresholds: start at scale 1
                self._solve_thresholds(cfg)
        return self.config

    def _solve_thresholds(self, cfg: EngineConfig) -> None:
        """Base thresholds for a fraction budget at the current instruction's layer costs."""
        use = (self.threshold_solver is not None and cfg.policy == 'deer'
               and cfg.budget_avg_fraction > 0 and not cfg.budget_avg_gflops > 0
               and list(cfg.thresholds) == self._calibrated and bool(self._layer_gmacs))
        self._solved = self.threshold_solver(cfg.budget_avg_fraction, self._layer_gmacs,
                                             float(self.model.head_gmacs)) if use else None

    def _top_exit(self, cfg: EngineConfig) -> int:
        last = len(self.model.exit_layers) - 1
        top = last if cfg.max_exit < 0 else min(cfg.max_exit, last)
        return top if self._oom_cap is None else min(top, self._oom_cap)

    def _targets(self, cfg: EngineConfig) -> Tuple[int, int]:
        deepest = min(int(self.model.resident_exit), self._top_exit(cfg))
        if cfg.policy == 'fixed' and cfg.fixed_exit >= 0:
            return deepest, min(cfg.fixed_exit, deepest)
        return deepest, deepest

    def _final_reason(self, cfg: EngineConfig, k: int, deepest: int) -> str:
        if cfg.policy == 'fixed' and (cfg.fixed_exit < 0 or k == cfg.fixed_exit):
            return 'fixed'
        if cfg.policy == 'full' and k == len(self.model.exit_layers) - 1:
            return 'full'
        return 'deepest_allowed'

    def _thresholds(self, cfg: EngineConfig, full_depth: bool) -> List[float]:
        if cfg.policy != 'deer':
            return []
        n = len(self.model.exit_layers)
        given = self._solved if self._solved is not None else cfg.thresholds
        base = list(given[:n]) + [NEVER_EXIT] * max(0, n - len(given))
        if full_depth:
            return [NEVER_EXIT] * n
        return self.compute.scaled(base)

    def _skip_limits(self, cfg: EngineConfig) -> Tuple[float, float]:
        """(continuity minimum, post-guidance limit) in force: the settings times the scale.

        With a compute budget the controller's scale widens both when compute runs over the
        target (more frames skip, fewer skipped passes are rerun) and narrows them when under.
        """
        scale = self.compute.scale if self._compute_target(cfg) else 1.0
        return cfg.skip_continuity_min * scale, cfg.skip_verify_threshold * scale

    def _compute_target(self, cfg: EngineConfig) -> Optional[float]:
        """The GMAC target in force this frame (a fraction: of this frame's full model).

        A budget needs something to steer: DeeR's thresholds or DySL skipping's limits.
        """
        if cfg.policy != 'deer' and not cfg.skip_enabled:
            return None
        if cfg.budget_avg_gflops > 0:
            return cfg.budget_avg_gflops
        if cfg.budget_avg_fraction > 0:
            return cfg.budget_avg_fraction * self.full_gflops
        return None

    def _static_layers(self, cfg: EngineConfig) -> List[int]:
        """The setting, else the set the model's adapters were distilled for, else ~20 %."""
        if cfg.static_layers:
            return sorted(set(cfg.static_layers))
        from_adapters = getattr(self.model, 'adapter_static_layers', None)
        static = from_adapters() if from_adapters is not None else None
        return static if static else default_static_layers(int(self.model.num_layers))

    def _adapter_gmacs(self, block: Block) -> float:
        cost = getattr(self.model, 'adapter_gmacs', None)
        return float(cost(block)) if cost is not None else 0.0

    def _skip_plan(self, cfg: EngineConfig) -> List[Block]:
        return skip_blocks(int(self.model.num_layers), self._static_layers(cfg),
                           self.model.exit_layers)


OOM_RECOVERY_FRAMES = 200


def cuda_index(device: object) -> int:
    """Device index of a torch device or its name: 'cuda:1' -> 1; 'cuda', 'cpu', '' -> 0."""
    name = str(device)
    return int(name[5:]) if name.startswith('cuda:') and name[5:].isdigit() else 0


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device out-of-memory error (torch.cuda.OutOfMemoryError or its message)."""
    return type(exc).__name__ == 'OutOfMemoryError' or 'out of memory' in str(exc).lower()


def _pose(cand: Candidate) -> List[float]:
    return [float(x) for x in np.asarray(cand.pose).reshape(-1)[:6]]


def expected_layers(records: List[StepRecord]) -> float:
    """Mean layers executed over records (DeeR's 'average exit' in layers)."""
    return float(np.mean([r.layers_executed for r in records])) if records else math.nan
