"""StepRecord: what one frame's inference ran, why it stopped and what it cost."""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from deer_ros.policies.kinds import MemoryAction, Policy, SkipReason, StopReason


@dataclass
class CandidateRecord:
    """The head evaluated at one exit during a frame."""

    exit: int                 # exit index (-1: the layer-0 reference of the first exit)
    layer: int                # 0-based layer the head read
    pose: List[float]         # (6,) pose output
    value: Optional[float]    # consistency value vs the previous candidate (None: reference)


@dataclass
class SkipInfo:
    """DySL decisions of one frame."""

    enabled: bool = False                       # skipping configured
    allowed: bool = False                       # prior guidance let this frame skip
    reason: SkipReason = 'disabled'             # why skipping was or was not allowed
    continuity: Optional[float] = None          # C_t = -mean ||A_j - A_j-1|| (pose dims)
    continuity_min: Optional[float] = None      # gate in force (setting x controller scale)
    verify_threshold: Optional[float] = None    # post-guidance limit in force (same scaling)
    blocks: List[Tuple[int, int]] = field(default_factory=list)   # [a, b) skipped
    verify_layer: Optional[int] = None          # static layer used by post guidance
    verify_value: Optional[float] = None        # its consistency value vs the exit taken
    rerun: bool = False                         # post guidance rejected: rerun without skip


@dataclass
class StepRecord:
    """One frame of inference. GMAC = multiply-accumulates (DeeR's "GFLOPs" count MACs)."""

    action: np.ndarray                  # (7,) float32: pose (6) in [-1, 1], gripper +1 / -1
    gripper_prob: float                 # head's sigmoid output at the exit taken
    exit_index: int                     # exit taken (index into exit_layers)
    layer: int                          # its 0-based layer
    policy: Policy                      # 'deer' | 'fixed' | 'full'
    stop_reason: StopReason             # why the frame stopped at its exit
    layers_executed: int                # layers run this frame (reruns included)
    layers_skipped: int                 # layers replaced by adapters in the accepted pass
    head_evals: int                     # head evaluations (criterion + verification)
    gflops: float                       # LLM GMAC this frame (layers run + head evaluations)
    avg_gflops: float                   # running mean of gflops over budget_window frames
    latency_ms: float                   # end to end: observation arrival (or step start) -> action
    vision_ms: float                    # encode (vision + perceiver + prompt embedding)
    llm_ms: float                       # LLM layers
    head_ms: float                      # head evaluations
    deadline_ms: float                  # the latency budget in force (0: none)
    deadline_missed: bool               # latency_ms > deadline_ms (with a deadline)
    deadline_miss_rate: float           # running fraction of missed frames (budget_window)
    resident_exit: int                  # deepest exit resident on the device after this frame
    deepest_allowed_exit: int           # min(resident, max_exit, fixed/full target)
    gpu_memory_used_mb: float           # our process's GPU memory (0 when inactive)
    memory_active: bool                 # memory telemetry available
    memory_action: MemoryAction         # none | shed | reload | floor | inactive | off | oom_shed
    threshold_scale: float              # controller scale after this frame (next frame's)
    thresholds: List[float]             # effective thresholds used this frame
    full_gflops: float = 0.0            # full-depth GMAC of this frame (current instruction)
    avg_fraction: float = 0.0           # running mean gflops / running mean full_gflops
    budget_avg_gflops: float = 0.0      # GMAC target in force this frame (0: none)
    budget_avg_fraction: float = 0.0    # fraction-of-full target in force (0: none)
    controller_saturated: bool = False  # the compute controller's scale sits at a bound
    candidates: List[CandidateRecord] = field(default_factory=list)
    skip: SkipInfo = field(default_factory=SkipInfo)
    frame_index: int = 0                # frames since reset

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly dict (action as a list)."""
        out = asdict(self)
        out['action'] = [float(x) for x in self.action]
        return out
