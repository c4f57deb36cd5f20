"""What goes in and out of ControlCore: the Engine it drives, its TickOutput, its CoreStatus.

TickOutput is what the control timer publishes for one period; CoreStatus is what the
diagnostics timer shows, copied under the core's lock (ControlCore.status) so that thread never
reads the core's live counters, queues or engine. Pure Python, no rclpy.
"""
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Optional, Protocol, Tuple

import numpy as np

from deer_ros.policies.config import EngineConfig
from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.action_mapping import ArmCommand
from deer_ros.ros_io.camera_sync import SyncStatus

TickKind = Literal['act', 'hold', 'idle']   # motion, a hold command, nothing to publish


class Engine(Protocol):
    """What the core needs of deer_ros.policies.engine.InferenceEngine."""

    def reset(self, instruction: str) -> None:
        """Start a new rollout (clears the model's history)."""

    def step(self, static: np.ndarray, gripper: Optional[np.ndarray] = None,
             t_received: Optional[float] = None) -> StepRecord:
        """One frame in ((H, W, 3) uint8 RGB each), its StepRecord out."""

    def update_config(self, **changes: Any) -> EngineConfig:
        """Apply live settings from the next frame."""


@dataclass(frozen=True)
class TickOutput:
    """What the node publishes for one control period."""

    kind: TickKind
    reason: str = ''                        # why not 'act' (a HOLD_REASONS code for holds)
    command: Optional[ArmCommand] = None
    record: Optional[StepRecord] = None     # the engine's record (when the engine ran)
    stamp_s: Optional[float] = None         # observation header stamp, s (when it ran)
    gripper: Optional[float] = None         # value for action/gripper now (on change), else None
    publish_commands: bool = True           # False in dry_run: telemetry only
    stamp: Optional[Tuple[int, int]] = None   # observation header.stamp (sec, nanosec) exactly


IDLE = TickOutput('idle')


@dataclass(frozen=True)
class CoreStatus:
    """One consistent copy of the core's figures for diagnostics (ControlCore.status)."""

    active: bool                  # activated: acting on the frames received since
    frames: SyncStatus            # per-camera counts, dropped frames, newest receipt
    instruction: str              # the instruction acted on ('' for none)
    counts: Mapping[str, int]     # ControlCore.counts (actions, holds, clamped, ...), read-only
    latency: Mapping[str, float]  # LatencyWindow.summary(): p50_ms, p95_ms, max_ms, samples
    rate_hz: Optional[float]      # achieved control tick rate; None until a full window
