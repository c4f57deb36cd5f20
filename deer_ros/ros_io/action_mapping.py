"""Model action ([-1, 1] CALVIN-style deltas + gripper) to arm commands, without rclpy.

Model action (7,): x, y, z translation, roll, pitch, yaw rotation (each in [-1, 1], scaled deltas)
and gripper (+1 open / -1 close). An ArmCommand is in SI units in `frame_id`: translation metres,
rotation radians (roll, pitch, yaw about x, y, z) for one control step.
"""
from dataclasses import dataclass
from dataclasses import fields
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.ros_io.param_schema import setting_like
from deer_ros.ros_io.safety import clamp_abs, clamp_norm, non_finite_reason
from deer_ros.ros_io.settings import ActionSettings, NodeSettings


@dataclass(frozen=True)
class ArmCommand:
    """One step's relative end-effector motion, after scaling and safety limits."""

    translation: Tuple[float, float, float]   # metres
    rotation: Tuple[float, float, float]      # radians, roll/pitch/yaw
    gripper: float                            # +1 open, -1 close (after polarity), 0 for a hold
    clamped: bool = False
    hold: bool = False
    reasons: Tuple[str, ...] = ()             # why the command differs from the model's
    hold_reason: str = ''                     # a HOLD_REASONS code when hold, else ''

    def as_array(self) -> List[float]:
        """[x, y, z, roll, pitch, yaw, gripper] for Float64MultiArray."""
        return [*self.translation, *self.rotation, self.gripper]


# Why a command holds (ActionCommand.hold_reason); the detail goes to /diagnostics. goal_*: a
# ~/run goal ended (run_goal.GOAL_HOLD_REASONS).
HOLD_REASONS = ('deactivate', 'shutdown', 'stop', 'stale_camera', 'frozen_camera', 'nan',
                'no_instruction', 'inference_failed',
                'goal_succeeded', 'goal_failed', 'goal_time_limit', 'goal_canceled',
                'goal_preempted')


def hold_command(reason: str, gripper: float = 0.0, detail: str = '') -> ArmCommand:
    """Zero motion. gripper: the last gripper command, kept (0.0 when none was ever sent)."""
    return ArmCommand((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), gripper, hold=True,
                      reasons=(detail or reason,), hold_reason=reason)


SCALING_FIELDS = ('translation_scale_m', 'rotation_scale_rad', 'gripper_open_positive')


def scaling_setting(name: str) -> Any:
    """deer_node's action.<name> as a read-only setting of a node that un-scales its commands.

    sim_node and the recorder declare these under the same names as deer_node's `action.*`, with
    its default, unit and range, so the scaling and its meaning live once, in ActionSettings.
    """
    meta = next(f.metadata for f in fields(ActionSettings) if f.name == name)
    return setting_like(ActionSettings, name,
                        f"{meta['description']} (as deer_node's action.{name})")


def unscaling_problems(config: Any) -> List[str]:
    """Why a node that divides by the scaling (command_to_action) cannot use config's values.

    deer_node multiplies by the scales, so 0 there means no motion on that axis; a receiver
    undoing the scaling would divide by zero, so it refuses 0 at start.
    """
    return [f'{name}: must be > 0 (commands are divided by it to undo deer_node\'s scaling)'
            for name in ('translation_scale_m', 'rotation_scale_rad')
            if not getattr(config, name) > 0.0]


def scaling_of(config: Any) -> ActionSettings:
    """The SCALING_FIELDS of a node's config (scaling_setting fields) as deer_node's group."""
    return ActionSettings(**{name: getattr(config, name) for name in SCALING_FIELDS})


def command_to_action(translation_m: Sequence[float], rotation_rad: Sequence[float],
                      gripper: float, scaling: ActionSettings = ActionSettings()) -> np.ndarray:
    """An ActionCommand's physical values -> the 7-D model action: map_action's scaling undone.

    With the publishing deer_node's scaling, a receiver applies exactly the model's action
    (before clamping); the gripper becomes +1 open / -1 close again.
    """
    out = np.zeros(7, dtype=np.float32)
    out[:3] = np.asarray(translation_m, dtype=np.float64) / scaling.translation_scale_m
    out[3:6] = np.asarray(rotation_rad, dtype=np.float64) / scaling.rotation_scale_rad
    g = float(gripper) if scaling.gripper_open_positive else -float(gripper)
    out[6] = 1.0 if g >= 0.0 else -1.0
    return out


def map_action(action: np.ndarray, settings: NodeSettings) -> ArmCommand:
    """Scale, polarise and clamp a model action; non-finite input gives a hold with the reason."""
    bad = non_finite_reason(action)
    if bad:
        return hold_command('nan', detail=bad)
    values = np.asarray(action, dtype=np.float64)
    translation = values[0:3] * settings.action.translation_scale_m
    rotation = values[3:6] * settings.action.rotation_scale_rad
    translation, why_t = clamp_norm(translation, settings.safety.max_translation_m, 'translation')
    rotation, why_r = clamp_abs(rotation, settings.safety.max_rotation_rad, 'rotation')
    gripper = 1.0 if values[6] > 0 else -1.0
    if not settings.action.gripper_open_positive:
        gripper = -gripper
    reasons = tuple(r for r in (why_t, why_r) if r)
    return ArmCommand(tuple(translation.tolist()), tuple(rotation.tolist()), gripper,
                      clamped=bool(reasons), reasons=reasons)


def twist_values(command: ArmCommand, settings: NodeSettings
                 ) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """(linear, angular) for a MoveIt Servo TwistStamped.

    speed_units: m/s and rad/s = delta / control period. unitless: the delta in model units
    ([-1, 1], what Servo scales by its own linear/rotational scale parameters).
    """
    if settings.twist.command_in_type == 'unitless':
        def unit(values: Tuple[float, ...], scale: float) -> Tuple[float, ...]:
            if scale <= 0:
                return (0.0, 0.0, 0.0)
            return tuple(float(np.clip(v / scale, -1.0, 1.0)) for v in values)
        return (unit(command.translation, settings.action.translation_scale_m),
                unit(command.rotation, settings.action.rotation_scale_rad))
    rate = settings.control_rate_hz
    return (tuple(v * rate for v in command.translation),
            tuple(v * rate for v in command.rotation))


class GripperLatch:
    """Send the gripper command only when it changes (each goal preempts the previous one)."""

    def __init__(self) -> None:
        self.last: Optional[float] = None

    def update(self, command: ArmCommand) -> Optional[float]:
        """The value to publish now, or None. Holds never change the gripper."""
        if command.hold or command.gripper == 0.0 or command.gripper == self.last:
            return None
        self.last = command.gripper
        return command.gripper

    def reset(self) -> None:
        """Forget the last command (publish the next one whatever it is)."""
        self.last = None
