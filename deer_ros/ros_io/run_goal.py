"""The ~/run action's goal logic without rclpy: one goal at a time, how it ends, what it reports.

A goal runs one instruction. It ends exactly once, for one of the outcomes below; the end says
the action status the client sees, the result, and the hold the node must publish (the goal's
own hold, or none when the stop input or the lifecycle already published theirs). The node
(run_action.RunAction) feeds this tracker from its callbacks under one lock and turns each
GoalEnd into a hold, a cleared instruction and the action result.

Times are seconds on the node's clock (whatever deer_node's control loop uses).
"""
import math
from dataclasses import dataclass
from typing import Any, Optional

SUCCEEDED = 'succeeded'       # the success signal fired
FAILED = 'failed'             # the success source said the attempt is over without success
TIME_LIMIT = 'time_limit'     # the time limit passed
CANCELED = 'canceled'         # the client cancelled
PREEMPTED = 'preempted'       # a newer goal replaced it
STOPPED = 'stopped'           # the hold input was engaged
DEACTIVATED = 'deactivated'   # deactivate, cleanup or shutdown
INVALID = 'invalid'           # refused before it ran

# Outcomes whose hold the goal publishes itself (ActionCommand.hold_reason 'goal_<outcome>');
# the others were stopped by a hold already published (stop input, lifecycle) or never moved.
OWN_HOLD = (SUCCEEDED, FAILED, TIME_LIMIT, CANCELED, PREEMPTED)
GOAL_HOLD_REASONS = tuple(f'goal_{outcome}' for outcome in OWN_HOLD)


@dataclass(frozen=True)
class GoalRequest:
    """RunInstruction's goal fields."""

    instruction: str
    time_limit_s: float = 0.0       # 0: the node's default (run.time_limit_s); both 0: none
    budget_fraction: float = 0.0    # budget.avg_fraction while this goal runs; 0: unchanged


@dataclass(frozen=True)
class GoalEnd:
    """How one goal ended: action status, result fields and the hold to publish."""

    goal_id: Any
    outcome: str
    status: str               # action status: 'succeeded' | 'aborted' | 'canceled'
    message: str
    steps: int
    mean_fraction: float      # mean gflops / full_gflops per step (0 without steps)
    mean_gflops: float
    duration_s: float
    hold_reason: str          # '' when the goal publishes no hold of its own


@dataclass(frozen=True)
class Feedback:
    """RunInstruction's feedback fields."""

    steps: int
    exit_index: int
    layers_executed: int
    fraction: float           # this goal's realised compute fraction so far
    latency_ms: float
    hold_reason: str          # last hold published during the goal ('' = none)
    elapsed_s: float


def request_problem(request: GoalRequest, max_chars: int, gflops_budget: float) -> str:
    """Why a goal cannot run ('' when it can): checked before it replaces a running goal."""
    text = request.instruction.strip()
    if not text:
        return 'empty instruction'
    if len(text) > max_chars:
        return f'instruction of {len(text)} characters > instruction.max_chars {max_chars}'
    if not math.isfinite(request.time_limit_s) or request.time_limit_s < 0.0:
        return f'time_limit_s {request.time_limit_s} is not a finite number >= 0'
    fraction = request.budget_fraction
    if not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
        return f'budget_fraction {fraction} is outside [0, 1]'
    if fraction > 0.0 and gflops_budget > 0.0:
        return (f'budget_fraction {fraction:g} would be ignored: budget.avg_gflops '
                f'{gflops_budget:g} is set and takes precedence (set it to 0 first)')
    return ''


class GoalTracker:
    """The one running goal: its steps and cost, its time limit and the way it ends. Pure."""

    def __init__(self, success_signal: bool, default_time_limit_s: float = 0.0):
        self.success_signal = success_signal          # a success source is configured
        self.default_time_limit_s = default_time_limit_s
        self.goal_id: Any = None
        self._request = GoalRequest('')
        self._started_s = 0.0
        self._steps = 0
        self._gflops = 0.0
        self._fraction = 0.0
        self._last: Optional[tuple] = None            # exit, layers, latency of the last step
        self._first_stamp_s: Optional[float] = None   # observation stamp of its first action
        self._hold_reason = ''
        self._changed = False                         # a step or hold since the last feedback

    @property
    def active(self) -> bool:
        """Whether a goal is running."""
        return self.goal_id is not None

    @property
    def time_limit_s(self) -> float:
        """The running goal's time limit (0: none)."""
        return self._request.time_limit_s or self.default_time_limit_s

    def start(self, goal_id: Any, request: GoalRequest, now_s: float) -> Optional[GoalEnd]:
        """Run a new goal; the goal it replaces ends PREEMPTED (returned), or None."""
        replaced = self._end(PREEMPTED, 'replaced by a newer goal', now_s)
        self.goal_id = goal_id
        self._request = request
        self._started_s = now_s
        self._steps, self._gflops, self._fraction = 0, 0.0, 0.0
        self._last, self._hold_reason, self._changed = None, '', False
        self._first_stamp_s = None
        return replaced

    def record_step(self, gflops: float, full_gflops: float, exit_index: int,
                    layers_executed: int, latency_ms: float,
                    stamp_s: Optional[float] = None) -> None:
        """One published action of the running goal (stamp_s: its observation's stamp)."""
        if not self.active:
            return
        if self._first_stamp_s is None:
            self._first_stamp_s = stamp_s
        self._steps += 1
        self._gflops += gflops
        self._fraction += gflops / full_gflops if full_gflops > 0 else 0.0
        self._last = (exit_index, layers_executed, latency_ms)
        self._changed = True

    def record_hold(self, reason: str) -> None:
        """A hold published while the goal runs (stale camera, non-finite action, ...)."""
        if self.active:
            self._hold_reason = reason
            self._changed = True

    def feedback(self, now_s: float) -> Optional[Feedback]:
        """Feedback when a step or hold happened since the last one (called once per tick)."""
        if not self.active or not self._changed:
            return None
        self._changed = False
        exit_index, layers, latency = self._last or (0, 0, 0.0)
        return Feedback(self._steps, exit_index, layers, self._mean(self._fraction), latency,
                        self._hold_reason, now_s - self._started_s)

    def check(self, now_s: float, stop_engaged: bool) -> Optional[GoalEnd]:
        """The end due now (the stop input, the time limit), or None."""
        if stop_engaged:
            return self._end(STOPPED, 'the hold input (~/hold or hold topic) was engaged', now_s)
        limit = self.time_limit_s
        if self.active and limit > 0.0 and now_s - self._started_s >= limit:
            return self._end(TIME_LIMIT, f'time limit of {limit:g} s reached'
                             + (' without the success signal' if self.success_signal else ''),
                             now_s)
        return None

    def succeed(self, now_s: float, action_stamp_s: Optional[float] = None
                ) -> Optional[GoalEnd]:
        """The success signal fired; None when it is about an action from before this goal.

        action_stamp_s (EpisodeStatus.action_stamp): the stamp of the action the success
        followed. A success older than this goal's first action (a previous episode's, still
        in flight when the goal started) does not end it.
        """
        if not self._about_this_goal(action_stamp_s):
            return None
        return self._end(SUCCEEDED, 'the success signal fired', now_s)

    def fail(self, now_s: float, action_stamp_s: Optional[float] = None,
             detail: str = '') -> Optional[GoalEnd]:
        """The success source ended the attempt without success (an episode done, not won)."""
        if not self._about_this_goal(action_stamp_s):
            return None
        return self._end(FAILED, 'the attempt ended without success' + detail, now_s)

    def _about_this_goal(self, action_stamp_s: Optional[float]) -> bool:
        return action_stamp_s is None or (self._first_stamp_s is not None
                                          and action_stamp_s >= self._first_stamp_s)

    def cancel(self, goal_id: Any, now_s: float) -> Optional[GoalEnd]:
        """The client cancelled goal_id (None when it is not the running goal)."""
        if goal_id != self.goal_id:
            return None
        return self._end(CANCELED, 'cancelled by the client', now_s)

    def deactivate(self, reason: str, now_s: float) -> Optional[GoalEnd]:
        """The node stops acting (deactivate, cleanup, shutdown)."""
        return self._end(DEACTIVATED, f'the node stopped acting ({reason})', now_s)

    def _mean(self, total: float) -> float:
        return total / self._steps if self._steps else 0.0

    def _end(self, outcome: str, message: str, now_s: float) -> Optional[GoalEnd]:
        if not self.active:
            return None
        end = GoalEnd(self.goal_id, outcome, goal_status(outcome, self.success_signal), message,
                      self._steps, self._mean(self._fraction), self._mean(self._gflops),
                      now_s - self._started_s,
                      f'goal_{outcome}' if outcome in OWN_HOLD else '')
        self.goal_id = None
        return end


def goal_status(outcome: str, success_signal: bool) -> str:
    """The action status of an outcome: a time limit is success only without a success signal."""
    if outcome == SUCCEEDED or (outcome == TIME_LIMIT and not success_signal):
        return 'succeeded'
    return 'canceled' if outcome == CANCELED else 'aborted'


def invalid_end(goal_id: Any, problem: str) -> GoalEnd:
    """The end of a goal refused by request_problem (it never ran)."""
    return GoalEnd(goal_id, INVALID, 'aborted', problem, 0, 0.0, 0.0, 0.0, '')
