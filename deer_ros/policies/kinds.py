"""The closed sets of names the policies decide and report, as Literal types.

They travel as plain strings (StepRecord, telemetry messages, JSON, ROS parameters); the Literal
types let a type checker catch a misspelt one, and the tuples are the values for choices and
checks.
"""
from typing import Literal, Tuple, get_args

Policy = Literal['deer', 'fixed', 'full']
Criterion = Literal['rms', 'mean', 'max']
StopReason = Literal['threshold', 'deepest_allowed', 'deadline', 'fixed', 'full']
SkipReason = Literal['ok', 'disabled', 'history', 'continuity', 'gripper_change', 'no_blocks']
MemoryAction = Literal['off', 'inactive', 'none', 'shed', 'reload', 'floor', 'oom_shed']

POLICIES: Tuple[str, ...] = get_args(Policy)
CRITERIA: Tuple[str, ...] = get_args(Criterion)
STOP_REASONS: Tuple[str, ...] = get_args(StopReason)
SKIP_REASONS: Tuple[str, ...] = get_args(SkipReason)
MEMORY_ACTIONS: Tuple[str, ...] = get_args(MemoryAction)
