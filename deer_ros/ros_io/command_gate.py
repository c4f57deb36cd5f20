"""The one path every command publish takes, without rclpy: nothing moves the arm after a hold.

Control ticks compute outside any lock (inference takes a while) and publish afterwards, while
lifecycle transitions, the stop service and signal handling run on other threads. The gate
orders them: a tick takes a ticket (the current epoch) *before* it computes, and its publish
runs under the gate's lock only if no hold has happened since (same epoch, no hold source
engaged). A hold bumps the epoch and publishes under the same lock, so a tick in flight can
never publish motion after it: holds and motion are totally ordered and motion never follows.

Hold sources latch independently: 'lifecycle' (deactivate, shutdown), 'stop' (the operator's
hold input) and 'goal' (a ~/run goal ending: engaged and released around the instruction
change). Motion is allowed only while none is engaged.
"""
import threading
from typing import Callable, Dict, Optional

Publish = Callable[[], None]


class CommandGate:
    """One lock, one epoch, latched hold sources; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch = 0
        self._holds: Dict[str, str] = {'lifecycle': 'inactive'}   # source -> hold_reason
        self.published_holds = 0

    def ticket(self) -> int:
        """The current epoch: take it before computing a command."""
        with self._lock:
            return self._epoch

    @property
    def held(self) -> bool:
        """Whether any hold source is engaged (motion not allowed)."""
        with self._lock:
            return bool(self._holds)

    def reason(self, source: Optional[str] = None) -> str:
        """hold_reason of `source` (or the first engaged one), '' when not held."""
        with self._lock:
            if source is not None:
                return self._holds.get(source, '')
            return next(iter(self._holds.values()), '')

    def publish(self, ticket: int, publish: Publish) -> bool:
        """Publish iff nothing was held since `ticket` was taken; False when dropped."""
        with self._lock:
            if self._holds or ticket != self._epoch:
                return False
            publish()
            return True

    def engage(self, source: str, reason: str, publish_hold: Optional[Publish]) -> None:
        """Latch a hold source and publish its hold (under the lock: after any motion)."""
        with self._lock:
            self._epoch += 1
            self._holds[source] = reason
            if publish_hold is not None:
                publish_hold()
                self.published_holds += 1

    def repeat_hold(self, source: str, publish_hold: Callable[[str], None]) -> bool:
        """publish_hold(reason) again while `source` is engaged (a latched stop's heartbeat)."""
        with self._lock:
            if source not in self._holds:
                return False
            publish_hold(self._holds[source])
            self.published_holds += 1
            return True

    def release(self, source: str) -> None:
        """Unlatch a hold source; motion resumes only when no source is engaged."""
        with self._lock:
            self._epoch += 1
            self._holds.pop(source, None)
