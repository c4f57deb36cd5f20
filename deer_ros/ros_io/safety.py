"""Safety as pure functions: each returns the safe result and the reason it changed anything."""
import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

import numpy as np


def non_finite_reason(action: np.ndarray, expected_size: int = 7) -> Optional[str]:
    """Why a model action must not be used (wrong shape, NaN, inf), or None."""
    values = np.asarray(action)
    if values.shape != (expected_size,):
        return f'model action has shape {values.shape}, expected ({expected_size},)'
    if not np.all(np.isfinite(values)):
        bad = [i for i, v in enumerate(values.tolist()) if not math.isfinite(v)]
        return f'model action has non-finite values at indices {bad}'
    return None


def clamp_norm(vector: np.ndarray, limit: float, what: str
               ) -> Tuple[np.ndarray, Optional[str]]:
    """Scale vector down to Euclidean norm <= limit, keeping its direction."""
    norm = float(np.linalg.norm(vector))
    if norm <= limit:
        return vector, None
    scaled = vector * (limit / norm) if norm > 0 else np.zeros_like(vector)
    return scaled, f'{what} norm {norm:.4g} clamped to {limit:.4g}'


def clamp_abs(vector: np.ndarray, limit: float, what: str
              ) -> Tuple[np.ndarray, Optional[str]]:
    """Clip every component of vector to [-limit, limit]."""
    peak = float(np.max(np.abs(vector))) if vector.size else 0.0
    if peak <= limit:
        return vector, None
    return np.clip(vector, -limit, limit), f'{what} |{peak:.4g}| clamped to {limit:.4g} per axis'


@dataclass
class StaleWatchdog:
    """Stale camera: one hold when frames stop arriving, then silence until they return."""

    stale_after_s: float
    _held: bool = False
    JUMP_BACK_S: ClassVar[float] = 1.0

    def check(self, now_s: float, last_frame_s: Optional[float]) -> Tuple[bool, bool]:
        """(stale, hold_now): hold_now is True once, on the tick the camera turns stale.

        last_frame_s None (never received) is stale without a hold: nothing was commanded yet.
        A frame more than JUMP_BACK_S in the future means the clock went back (a simulation
        reset, use_sim_time switched): stale, until frames arrive on the clock as it is now.
        """
        if last_frame_s is None:
            return True, False
        if -self.JUMP_BACK_S <= now_s - last_frame_s <= self.stale_after_s:
            self._held = False
            return False, False
        hold_now = not self._held
        self._held = True
        return True, hold_now

    def reset(self) -> None:
        """Forget the hold already sent (activate)."""
        self._held = False
