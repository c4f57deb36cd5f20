"""Episode phases (approach / contact / transport) and where depth is spent in each (pure numpy).

Issue 25 asks which phases need depth. Each action of an episode gets one phase from what the
simulator knows in the state the action was chosen in (PhaseLabeller, thresholds in
`PhaseRules`):
- approach: the hand has not yet been near the object (below), or is away from it while the
  object has not moved;
- contact: the hand is within `contact_radius_m` of the object, or the action closes the
  gripper with the hand within `grasp_radius_m` (a grasp under way), and the object is still
  within `moved_m` of where it rested when the hand first came near;
- transport: after the hand first came near, the object is more than `moved_m` from that
  resting place (carried, pushed, pulled; a door or drawer handle moved), wherever the hand is.
Tasks without an object to move (reach, reach-color: the tracked thing is the hand) are all
approach. An episode's phases are stored run-length encoded ([[phase, actions], ...]) beside its
per-action exits and layers, so results.json stays small and exits per phase can be recovered.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

PHASES = ('approach', 'contact', 'transport')
Runs = List[List]     # [[phase, number of consecutive actions], ...]


@dataclass(frozen=True)
class PhaseRules:
    """Thresholds of the phase labeller (metres, world frame)."""

    moved_m: float = 0.02           # object displacement from its start that means transport
    contact_radius_m: float = 0.05  # hand-object distance that means contact
    grasp_radius_m: float = 0.10    # with a close command, contact from this distance

    def __post_init__(self) -> None:
        if not 0.0 < self.moved_m:
            raise ValueError('moved_m must be > 0')
        if not 0.0 < self.contact_radius_m <= self.grasp_radius_m:
            raise ValueError('need 0 < contact_radius_m <= grasp_radius_m')


class PhaseLabeller:
    """Labels the actions of one episode in order (module docstring for the rules).

    The object's reference position is where it rests when the hand first reaches it: while
    the hand has not yet been near, the reference follows the object, so an object that settles
    or rolls after the reset (MetaWorld's hammer drops ~3 cm in its first steps) is not taken
    for transport. Transport needs a displacement from that reference.
    """

    def __init__(self, moves_object: bool, rules: PhaseRules = PhaseRules()):
        self.moves_object, self.rules = moves_object, rules
        self.reference: Optional[np.ndarray] = None   # set at the first contact

    def label(self, hand: Sequence[float], obj: Sequence[float], gripper_closed: bool) -> str:
        """The phase of the next action, from the hand and object positions and its gripper."""
        if not self.moves_object:
            return 'approach'
        obj = np.asarray(obj, float)
        reach = np.linalg.norm(np.asarray(hand, float) - obj)
        near = reach <= self.rules.contact_radius_m or (
            gripper_closed and reach <= self.rules.grasp_radius_m)
        if self.reference is None:
            if not near:
                return 'approach'
            self.reference = obj
        if np.linalg.norm(obj - self.reference) > self.rules.moved_m:
            return 'transport'
        return 'contact' if near else 'approach'


def run_length(labels: Sequence[str]) -> Runs:
    """[[phase, count], ...] of consecutive equal labels."""
    runs: Runs = []
    for label in labels:
        if label not in PHASES:
            raise ValueError(f'unknown phase {label!r}; known: {PHASES}')
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return runs


def expand(runs: Runs) -> List[str]:
    """The per-action labels of run_length's output."""
    return [phase for phase, count in runs for _ in range(int(count))]


@dataclass(frozen=True)
class PhaseDepth:
    """Depth spent in one phase of one task by one configuration."""

    actions: int          # actions labelled with this phase
    share: float          # of all the task's labelled actions, 0..1
    mean_exit: float      # mean exit index taken
    mean_layers: float    # mean fraction of layers run (executed / (executed + skipped))


def depth_by_phase(episodes: Sequence) -> Dict[str, Dict[str, PhaseDepth]]:
    """Map task -> phase -> PhaseDepth over EpisodeResults that carry phases (others ignored)."""
    per_task: Dict[str, Dict[str, List[Tuple[int, float]]]] = {}
    for e in episodes:
        labels = expand(e.phases)
        steps = per_task.setdefault(e.task, {p: [] for p in PHASES})
        for phase, exit_, run, skip in zip(labels, e.exits, e.layers, e.skipped):
            steps[phase].append((exit_, run / max(run + skip, 1)))
    out: Dict[str, Dict[str, PhaseDepth]] = {}
    for task, steps in per_task.items():
        total = sum(len(v) for v in steps.values())
        if total == 0:
            continue
        out[task] = {p: PhaseDepth(len(v), len(v) / total,
                                   float(np.mean([s[0] for s in v])) if v else float('nan'),
                                   float(np.mean([s[1] for s in v])) if v else float('nan'))
                     for p, v in steps.items()}
    return out


def failure_phases(episodes: Sequence) -> Dict[str, Dict[str, int]]:
    """Map task -> phase -> failed episodes whose last labelled action was in that phase."""
    out: Dict[str, Dict[str, int]] = {}
    for e in episodes:
        counts = out.setdefault(e.task, {p: 0 for p in PHASES})
        if not e.success and e.phases:
            counts[e.phases[-1][0]] += 1
    return out
