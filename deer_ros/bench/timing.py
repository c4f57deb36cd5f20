"""Timers and summary statistics for benchmarks (host clock on CPU, CUDA events on a GPU)."""
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of latency samples, milliseconds."""

    n: int
    median_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    p99_ms: float = float('nan')
    max_ms: float = float('nan')

    def to_dict(self) -> Dict[str, float]:
        """JSON-ready dict."""
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> Stats:
    """Median, p95, p99 (linear interpolation), mean, min and max of `samples_ms`."""
    x = np.asarray(samples_ms, dtype=float)
    if x.size == 0:
        nan = float('nan')
        return Stats(0, nan, nan, nan, nan, nan, nan)
    return Stats(int(x.size), float(np.median(x)), float(np.percentile(x, 95)),
                 float(x.mean()), float(x.min()), float(np.percentile(x, 99)), float(x.max()))


class PhaseTimer:
    """Times consecutive phases of one step on a device.

    On CUDA it records events at each mark and synchronizes once in `finish()` (device time,
    no host-device sync between phases); on CPU it reads `time.perf_counter` at each mark.
    """

    def __init__(self, device_type: str = 'cpu') -> None:
        self.cuda = device_type == 'cuda'
        self._marks: List[Any] = []
        self._names: List[str] = []

    def start(self) -> None:
        """Begin a step (clears previous marks)."""
        self._marks, self._names = [self._now()], []

    def mark(self, name: str) -> None:
        """End the phase `name` here."""
        self._marks.append(self._now())
        self._names.append(name)

    def finish(self) -> Dict[str, float]:
        """Milliseconds per phase name (summed when a name repeats) and 'total'."""
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            ms = [a.elapsed_time(b) for a, b in zip(self._marks[:-1], self._marks[1:])]
        else:
            ms = [(b - a) * 1e3 for a, b in zip(self._marks[:-1], self._marks[1:])]
        out: Dict[str, float] = {}
        for name, value in zip(self._names, ms):
            out[name] = out.get(name, 0.0) + value
        out['total'] = float(sum(ms))
        return out

    def _now(self) -> Any:
        if self.cuda:
            import torch
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()


def set_threads(threads: Optional[int]) -> int:
    """Set torch's intra-op threads (None or 0: leave as is); returns the count in force."""
    import torch
    if threads:
        torch.set_num_threads(int(threads))
    return int(torch.get_num_threads())
