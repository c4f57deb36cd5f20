"""Diagnostics from counters and recent events, without rclpy (messages.py makes the ROS message).

Problems are noted as events (category, key, level, message, time). A status shows the events of
its category seen within the last `window_s`: a condition that persists is noted again every tick
and stays visible; a one-off problem (a rejected frame) shows for window_s after it happened.
"""
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}
CATEGORIES = ('model', 'inputs', 'control')


@dataclass
class Event:
    """The last occurrence of one kind of problem."""

    level: int
    message: str
    last_s: float
    count: int = 1


class EventBook:
    """Recent problems keyed by (category, key); thread-safe."""

    def __init__(self) -> None:
        self._events: Dict[Tuple[str, str], Event] = {}
        self._lock = threading.Lock()

    def note(self, category: str, key: str, level: int, message: str, now_s: float) -> None:
        """Record that a problem happened (again) now."""
        with self._lock:
            event = self._events.get((category, key))
            if event is None:
                self._events[(category, key)] = Event(level, message, now_s)
            else:
                event.level, event.message, event.last_s = level, message, now_s
                event.count += 1

    def clear(self, category: str, key: str) -> None:
        """Forget a problem (its condition is gone)."""
        with self._lock:
            self._events.pop((category, key), None)

    def active(self, category: str, now_s: float, window_s: float) -> List[Event]:
        """Events of category seen within window_s, most severe first."""
        with self._lock:
            events = [e for (c, _), e in self._events.items()
                      if c == category and now_s - e.last_s <= window_s]
        return sorted(events, key=lambda e: (-e.level, -e.last_s))

    def counts(self) -> Dict[str, int]:
        """{'category/key': occurrences} of every problem seen since start."""
        with self._lock:
            return {f'{c}/{k}': e.count for (c, k), e in self._events.items()}


class LatencyWindow:
    """The last N latencies; percentiles for diagnostics."""

    def __init__(self, size: int = 200):
        self._values: Deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, latency_ms: float) -> None:
        """Record one action's latency."""
        with self._lock:
            self._values.append(float(latency_ms))

    def summary(self) -> Dict[str, float]:
        """p50, p95, max (ms) over the window; zeros when empty."""
        with self._lock:
            values = np.array(self._values, dtype=np.float64)
        if values.size == 0:
            return {'p50_ms': 0.0, 'p95_ms': 0.0, 'max_ms': 0.0, 'samples': 0}
        return {'p50_ms': float(np.percentile(values, 50)),
                'p95_ms': float(np.percentile(values, 95)),
                'max_ms': float(values.max()), 'samples': int(values.size)}


class RateWindow:
    """Events per second over the last window_s (the control loop's achieved tick rate)."""

    def __init__(self, window_s: float = 3.0):
        self.window_s = window_s
        self._times: Deque[float] = deque()
        self._since: Optional[float] = None
        self._lock = threading.Lock()

    def add(self, now_s: float) -> None:
        """Record one event (a control tick) at now_s."""
        with self._lock:
            if self._since is None:
                self._since = now_s
            self._times.append(now_s)
            while self._times and self._times[0] <= now_s - self.window_s:
                self._times.popleft()

    def rate(self, now_s: float) -> Optional[float]:
        """Events/s over the last window_s; None until a full window has been observed.

        Measured between the first and last event of the window (no boundary jitter), or as
        count / window when the events stopped for half a window.
        """
        with self._lock:
            if self._since is None or now_s - self._since < self.window_s:
                return None
            times = [t for t in self._times if t > now_s - self.window_s]
        if len(times) < 3 or now_s - times[-1] > self.window_s / 2:
            return len(times) / self.window_s
        return (len(times) - 1) / (times[-1] - times[0])

    def reset(self) -> None:
        """Forget everything (deactivate)."""
        with self._lock:
            self._times.clear()
            self._since = None


@dataclass(frozen=True)
class StatusReport:
    """One diagnostic_msgs/DiagnosticStatus, as plain data."""

    name: str
    level: int
    message: str
    hardware_id: str
    values: Tuple[Tuple[str, str], ...] = ()


@dataclass
class DiagnosticInputs:
    """Figures shown as key/values, per category (strings keep the builder free of types)."""

    values: Dict[str, Dict[str, object]] = field(
        default_factory=lambda: {c: {} for c in CATEGORIES})


def build_reports(node_name: str, hardware_id: str, book: EventBook,
                  inputs: DiagnosticInputs, now_s: float, window_s: float = 2.0,
                  ok_messages: Optional[Dict[str, str]] = None) -> List[StatusReport]:
    """One StatusReport per category: level = worst recent event, message = their messages."""
    reports = []
    for category in CATEGORIES:
        events = book.active(category, now_s, window_s)
        if events:
            level = max(e.level for e in events)
            message = '; '.join(e.message for e in events[:4])
        else:
            level = OK
            message = (ok_messages or {}).get(category, 'ok')
        values = tuple((k, _fmt(v)) for k, v in inputs.values.get(category, {}).items())
        reports.append(StatusReport(f'{node_name}: {category}', level, message, hardware_id,
                                    values))
    return reports


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return f'{value:.3f}'
    return str(value)
