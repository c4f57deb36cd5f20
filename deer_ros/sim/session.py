"""Episode scheduling and action gating for sim_node (pure: no rclpy).

Stepping model: sim_node advances the simulation by exactly one step per accepted action and
then publishes the new frames. Which actions are accepted is decided by StampGate: an action is
applied only if its header stamp is one under which the current state was published (deer_node
stamps each ActionCommand with its observation's stamp). Actions computed from an older state
are dropped, so a closed-loop run takes the same trajectory however slow inference is.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple


@dataclass(frozen=True)
class EpisodePlan:
    """Which episode to run next."""

    task: str     # MetaWorld environment name
    seed: int     # scene seed
    index: int    # episode counter since the node started (0-based)


class EpisodeSchedule:
    """Tasks in order, episodes_per_task each; episode e of a task uses seed base_seed + e.

    After the last planned episode the schedule is exhausted; start_over() restarts it.
    """

    def __init__(self, tasks: Sequence[str], episodes_per_task: int, base_seed: int):
        if not tasks or episodes_per_task < 1:
            raise ValueError('need at least one task and one episode per task')
        self._plan: List[Tuple[str, int]] = [(t, base_seed + e) for t in tasks
                                             for e in range(episodes_per_task)]
        self._position = 0
        self._counter = 0

    def __len__(self) -> int:
        return len(self._plan)

    @property
    def exhausted(self) -> bool:
        """All planned episodes were handed out."""
        return self._position >= len(self._plan)

    def next(self) -> EpisodePlan:
        """The next episode; starts over when exhausted."""
        if self.exhausted:
            self.start_over()
        task, seed = self._plan[self._position]
        self._position += 1
        self._counter += 1
        return EpisodePlan(task, seed, self._counter - 1)

    def start_over(self) -> None:
        """Restart from the first planned episode (the episode counter keeps counting)."""
        self._position = 0


class StampGate:
    """Accept an action only if it was computed from the state currently shown.

    Stamps are integer nanoseconds. tolerance_ns absorbs float round trips of stamps.
    With require_match False every action is accepted (teleoperation with publish-time stamps).
    """

    def __init__(self, require_match: bool = True, tolerance_ns: int = 1_000_000):
        self.require_match = require_match
        self.tolerance_ns = tolerance_ns
        self._stamps: List[int] = []

    def new_state(self) -> None:
        """The sim stepped or reset: forget the stamps of the previous state."""
        self._stamps.clear()

    def published(self, stamp_ns: int) -> None:
        """The current state was published under stamp_ns."""
        self._stamps.append(int(stamp_ns))

    def accepts(self, stamp_ns: int) -> Tuple[bool, str]:
        """(accepted, reason) for an action stamped stamp_ns."""
        if not self.require_match:
            return True, 'stamp not checked'
        if not self._stamps:
            return False, 'no observation published yet for this state'
        if any(abs(int(stamp_ns) - s) <= self.tolerance_ns for s in self._stamps):
            return True, 'stamp matches the current observation'
        return False, 'stamp of an older observation (stale action)'
