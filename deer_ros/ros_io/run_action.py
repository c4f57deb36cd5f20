"""deer_node's `~/run` action server (deer_ros/action/RunInstruction): thin wiring of run_goal.

Every way a goal ends goes through _finish(), under this object's lock: first the hold
(CommandOutput.engage on the 'goal' source: published at once under the command gate's lock,
so a tick computing meanwhile can never publish its motion after it), then the node's
instruction is cleared (or replaced by the preempting goal's), then the 'goal' source is
released; last the action result. Cancel publishes its hold inside the cancel callback, which
runs in its own callback group, so it never waits for a control tick or a running inference.

The execute callback blocks one executor worker until its goal ends (an Event, in short
slices). Why not a coroutine awaiting a future: rclpy 9 (Kilted) resumes every pending
coroutine task on every executor iteration, so an awaiting goal would spin a core at 100 %.

While a goal runs it owns the instruction: the instruction topic is ignored (with a warning).
When no goal runs, the topic works as before. A goal that ends leaves the node without an
instruction: it acts again on the next goal or the next instruction message.
"""
import threading
import time
from typing import Any, Dict, Optional

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.parameter import Parameter
from std_msgs.msg import Bool

from deer_ros.msg import EpisodeStatus
from deer_ros.ros_io.core_types import TickOutput
try:
    from deer_ros.action import RunInstruction
except ImportError:   # interfaces built before action/ existed: the node runs without ~/run
    RunInstruction = None
from deer_ros.ros_io.run_goal import GoalEnd, GoalRequest, GoalTracker, invalid_end, \
    request_problem

SUCCESS_TYPES = {'bool': Bool, 'episode_status': EpisodeStatus}
CANCEL_STATE_WAIT_S = 1.0   # the action server marks a goal CANCELING just after our callback
WAIT_SLICE_S = 0.1          # execute re-checks the context this often (no goal outlives it)


class _Ending:
    """One goal's end, handed from whichever thread ended it to its execute callback."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.end: Optional[GoalEnd] = None

    def set(self, end: GoalEnd) -> None:
        if self.end is None:
            self.end = end
            self.event.set()


def attach_run_action(node: Any) -> Any:
    """The node's ~/run server, or (interfaces built without the action) a stand-in that logs why.

    Why not fail: a node whose messages were built before this action existed still drives its
    arm over the topics; the error says how to get ~/run (rebuild the interfaces).
    """
    if RunInstruction is not None:
        return RunAction(node)
    node.get_logger().error('~/run action unavailable: deer_ros.action is not built (rebuild '
                            'the interfaces: colcon build, or scripts/setup_env.sh)')
    return NoRunAction()


class NoRunAction:
    """What deer_node calls on its ~/run server when there is none: nothing runs, nothing owned."""

    owns_instruction = False

    def on_tick(self, now_s: float) -> None:
        """No goal to check."""

    def on_published(self, out: TickOutput, now_s: float) -> None:
        """No goal to count."""

    def on_stop_acting(self, reason: str) -> None:
        """No goal to end."""


class RunAction:
    """The action server, the success subscription and the per-goal budget of one DeerNode."""

    def __init__(self, node: Any):
        self.node = node
        settings = node.settings.run
        self.tracker = GoalTracker(bool(settings.success_topic), settings.time_limit_s)
        self._lock = threading.RLock()
        self._handles: Dict[Any, Any] = {}          # goal id -> ServerGoalHandle
        self._endings: Dict[Any, _Ending] = {}      # goal id -> its end, once it came
        self._budget: Optional[tuple] = None        # (node's value, goal's value) while set
        group = MutuallyExclusiveCallbackGroup()    # never waits for a control tick
        self.server = ActionServer(
            node, RunInstruction, '~/run', self._execute, callback_group=group,
            goal_callback=self._on_goal, handle_accepted_callback=self._on_accepted,
            cancel_callback=self._on_cancel)
        if settings.success_topic:
            node.create_subscription(SUCCESS_TYPES[settings.success_type],
                                     settings.success_topic, self._on_success, 10,
                                     callback_group=group)

    @property
    def owns_instruction(self) -> bool:
        """Whether a goal runs (the instruction topic is then ignored)."""
        return self.tracker.active

    # ------------------------------------------------------------------ action callbacks
    def _on_goal(self, goal: Any) -> GoalResponse:
        """Reject while the node cannot act (not active, or the hold input engaged)."""
        problem = self._cannot_act()
        if problem:
            self.node.get_logger().warning(f'~/run goal rejected: {problem}')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _cannot_act(self) -> str:
        if not self.node.output.active:
            return 'node not active (configure and activate it first)'
        if self.node.output.gate.reason('stop'):
            return 'the hold input is engaged (release ~/hold first)'
        return ''

    def _on_accepted(self, handle: Any) -> None:
        goal = handle.request
        request = GoalRequest(goal.instruction.strip(), float(goal.time_limit_s),
                              float(goal.budget_fraction))
        goal_id = bytes(handle.goal_id.uuid)
        settings = self.node.settings
        with self._lock:
            self._handles[goal_id] = handle
            self._endings[goal_id] = _Ending()
            problem = (request_problem(request, settings.instruction.max_chars,
                                       settings.budget.avg_gflops) or self._cannot_act())
            if problem:
                self.node.get_logger().warning(f'~/run goal refused: {problem}')
                self._complete(invalid_end(goal_id, problem))
            else:
                replaced = self.tracker.start(goal_id, request, self.node.monotonic())
                self._finish(replaced, next_instruction=request.instruction)
                self._set_budget(request.budget_fraction)
                self.node.get_logger().info(
                    f'~/run goal: {request.instruction!r}'
                    + (f', time limit {self.tracker.time_limit_s:g} s'
                       if self.tracker.time_limit_s else '')
                    + (f', budget fraction {request.budget_fraction:g}'
                       if request.budget_fraction else ''))
        handle.execute()

    def _on_cancel(self, handle: Any) -> CancelResponse:
        """Accept for the running goal; its hold is published here, before the response."""
        with self._lock:
            end = self.tracker.cancel(bytes(handle.goal_id.uuid), self.node.monotonic())
            self._finish(end)
        return CancelResponse.REJECT if end is None else CancelResponse.ACCEPT

    def _execute(self, handle: Any) -> Any:
        """Wait for the goal's end (blocking this worker); report it as the result."""
        goal_id = bytes(handle.goal_id.uuid)
        ending = self._endings[goal_id]
        while not ending.event.wait(WAIT_SLICE_S):
            if not self.node.context.ok():     # rclpy shut down under us (nothing publishes)
                with self._lock:
                    end = self.tracker.deactivate('rclpy shut down', self.node.monotonic())
                ending.set(end or invalid_end(goal_id, 'rclpy shut down'))
        end = ending.end
        if end.status == 'canceled':   # the server marks CANCELING right after _on_cancel
            deadline = time.monotonic() + CANCEL_STATE_WAIT_S
            while not handle.is_cancel_requested and time.monotonic() < deadline:
                time.sleep(0.001)
        if end.status == 'succeeded':
            handle.succeed()
        elif end.status == 'canceled' and handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.abort()
        with self._lock:
            self._handles.pop(goal_id, None)
            self._endings.pop(goal_id, None)
        return RunInstruction.Result(
            outcome=end.outcome, message=end.message, steps=end.steps,
            mean_fraction=end.mean_fraction, mean_gflops=end.mean_gflops,
            duration_s=end.duration_s)

    # ------------------------------------------------------------------ node hooks
    def on_tick(self, now_s: float) -> None:
        """Start of each control tick: the hold input and the time limit."""
        with self._lock:
            if self.tracker.active:
                stop = bool(self.node.output.gate.reason('stop'))
                self._finish(self.tracker.check(now_s, stop))

    def on_published(self, out: TickOutput, now_s: float) -> None:
        """A tick's commands went out: count them and send feedback (at most once a tick)."""
        with self._lock:
            if not self.tracker.active:
                return
            record = out.record
            if out.kind == 'act' and record is not None:
                self.tracker.record_step(record.gflops, record.full_gflops, record.exit_index,
                                         record.layers_executed, record.latency_ms,
                                         out.stamp_s)
            elif out.kind == 'hold':
                self.tracker.record_hold(out.reason)
            feedback = self.tracker.feedback(now_s)
            handle = self._handles.get(self.tracker.goal_id)
        if feedback is not None and handle is not None:
            handle.publish_feedback(RunInstruction.Feedback(
                steps=feedback.steps, exit_index=feedback.exit_index,
                layers_executed=feedback.layers_executed, fraction=feedback.fraction,
                latency_ms=feedback.latency_ms, hold_reason=feedback.hold_reason,
                elapsed_s=feedback.elapsed_s))

    def on_stop_acting(self, reason: str) -> None:
        """Deactivate, cleanup or shutdown: the running goal ends DEACTIVATED."""
        with self._lock:
            self._finish(self.tracker.deactivate(reason, self.node.monotonic()))

    def _on_success(self, msg: Any) -> None:
        """std_msgs/Bool true: success. EpisodeStatus: success, or done without it: failed."""
        if isinstance(msg, Bool):
            verdict, stamp_s = ('succeeded' if msg.data else ''), None
        else:
            verdict = 'succeeded' if msg.success else ('failed' if msg.done else '')
            stamp_s = msg.action_stamp.sec + msg.action_stamp.nanosec * 1e-9
        if not verdict:
            return
        now = self.node.monotonic()
        with self._lock:
            if verdict == 'succeeded':
                end = self.tracker.succeed(now, stamp_s)
            else:
                end = self.tracker.fail(now, stamp_s, f': episode {msg.episode} done after '
                                                      f'{msg.step} of {msg.max_steps} steps')
            self._finish(end)

    # ------------------------------------------------------------------ endings
    def _finish(self, end: Optional[GoalEnd], next_instruction: str = '') -> None:
        """Hold, then the next instruction ('' = none), then the result (lock held)."""
        if end is None and not next_instruction:
            return
        if end is not None and end.hold_reason:
            self.node.output.engage('goal', end.hold_reason)
        self.node.use_instruction(next_instruction)
        self.node.output.gate.release('goal')   # a tick computed before this never publishes
        if end is None:
            return
        self._set_budget(0.0)
        self.node.get_logger().info(f'~/run goal ended: {end.outcome} ({end.message}), '
                                    f'{end.steps} steps')
        self._complete(end)

    def _complete(self, end: GoalEnd) -> None:
        ending = self._endings.get(end.goal_id)
        if ending is not None:
            ending.set(end)

    def _set_budget(self, fraction: float) -> None:
        """budget.avg_fraction = fraction for a goal; 0 puts the node's own value back.

        Not put back when someone set the parameter while the goal ran: theirs is newer.
        """
        current = self.node.settings.budget.avg_fraction
        if fraction > 0.0:
            own = current if self._budget is None else self._budget[0]
            self._budget, target = (own, fraction), fraction
        elif self._budget is not None:
            (target, goal_value), self._budget = self._budget, None
            if current != goal_value:
                return
        else:
            return
        if target != current:
            self.node.set_parameters([Parameter('budget.avg_fraction', value=float(target))])
