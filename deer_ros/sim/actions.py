"""Action conversion between the model's 7-D convention and MetaWorld's 4-D action (numpy only).

Model convention (deer_ros recordings, ActionCommand after un-scaling), shape (7,):
    [dx, dy, dz, droll, dpitch, dyaw, gripper], pose deltas in [-1, 1], gripper +1 open / -1 close.
MetaWorld (SawyerXYZEnv.step), shape (4,):
    [dx, dy, dz, effort]; xyz in [-1, 1] times action_scale (0.01 m per step) moves the mocap
    target in the world frame (x right, y away from the robot base, z up); effort > 0 closes the
    fingers, effort < 0 opens them.

MetaWorld's arm holds a fixed gripper orientation: the three rotation deltas are ignored by the sim
and are written as zeros in expert recordings.
"""
from dataclasses import dataclass

import numpy as np

ACTION_DIM = 7
METAWORLD_DIM = 4
METAWORLD_TRANSLATION_M = 0.01   # MetaWorld's action_scale: metres per unit of xyz action


@dataclass(frozen=True)
class ConvertedAction:
    """A MetaWorld action and whether producing it changed the input (clip / NaN)."""

    metaworld: np.ndarray   # (4,) float32 for SawyerXYZEnv.step
    clamped: bool           # an input value was outside [-1, 1] or not finite
    reason: str = ''        # why, for logs


def to_metaworld(action: np.ndarray, grip_effort: float = 1.0) -> ConvertedAction:
    """Model 7-D action -> MetaWorld 4-D action. Rotations dropped; non-finite values -> 0.

    A close command (gripper < 0) closes the fingers with grip_effort (0..1], the grasp force
    setting of the task (TaskSpec.grip_effort); open is always full effort.
    """
    action = np.asarray(action, dtype=np.float32).reshape(-1)
    if action.shape != (ACTION_DIM,):
        raise ValueError(f'expected a ({ACTION_DIM},) action, got {action.shape}')
    reasons = []
    if not np.all(np.isfinite(action)):
        reasons.append('non-finite values replaced by 0')
        action = np.nan_to_num(action, nan=0.0, posinf=0.0, neginf=0.0)
    clipped = np.clip(action, -1.0, 1.0)
    if np.any(clipped != action):
        reasons.append('values clipped to [-1, 1]')
    gripper = clipped[6]
    effort = -1.0 if gripper >= 0.0 else grip_effort   # +1 open -> effort -1 (open fingers)
    out = np.array([clipped[0], clipped[1], clipped[2], effort], dtype=np.float32)
    return ConvertedAction(out, bool(reasons), '; '.join(reasons))


def from_metaworld(action: np.ndarray) -> np.ndarray:
    """MetaWorld 4-D action (e.g. a scripted expert's) -> model 7-D action, clipped to [-1, 1].

    The effort becomes a binary gripper command: effort > 0 (closing) -> -1, else +1 (open). An
    effort of exactly 0 (fingers relaxed, used by the reach expert) maps to open.
    """
    action = np.asarray(action, dtype=np.float64).reshape(-1)
    if action.shape != (METAWORLD_DIM,):
        raise ValueError(f'expected a ({METAWORLD_DIM},) MetaWorld action, got {action.shape}')
    out = np.zeros(ACTION_DIM, dtype=np.float32)
    out[:3] = np.clip(action[:3], -1.0, 1.0)
    out[6] = -1.0 if action[3] > 0.0 else 1.0
    return out


def hold_action(gripper: float = 1.0) -> np.ndarray:
    """Zero motion with the given gripper command (+1 open / -1 close)."""
    out = np.zeros(ACTION_DIM, dtype=np.float32)
    out[6] = 1.0 if gripper >= 0.0 else -1.0
    return out
