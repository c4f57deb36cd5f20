"""Running statistics over a bounded window (no unbounded growth in a long-running node)."""
from collections import deque
from typing import Optional

import numpy as np


class RunningWindow:
    """Mean of the last `size` samples."""

    def __init__(self, size: int) -> None:
        self._samples: deque = deque(maxlen=max(1, int(size)))

    def add(self, value: float) -> None:
        """Append one sample (the oldest falls out)."""
        self._samples.append(float(value))

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def mean(self) -> float:
        """Mean of the window (0 when empty)."""
        return float(np.mean(self._samples)) if self._samples else 0.0

    def resize(self, size: int) -> None:
        """Change the window length, keeping the newest samples."""
        self._samples = deque(self._samples, maxlen=max(1, int(size)))


class RunningPercentile(RunningWindow):
    """High percentile of the last `size` samples (e.g. per-layer latency, ms)."""

    def __init__(self, size: int, percentile: float = 99.0) -> None:
        super().__init__(size)
        self.percentile = float(percentile)

    def value(self) -> Optional[float]:
        """The percentile (numpy 'higher' method, a sample value), None when empty."""
        if not self._samples:
            return None
        return float(np.percentile(np.fromiter(self._samples, float), self.percentile,
                                   method='higher'))
