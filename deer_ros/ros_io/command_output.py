"""deer_node's command and telemetry publishers, every publish through one CommandGate.

Order guarantee (the safety contract): a hold (deactivate, shutdown, the stop input) is
published under the gate's lock after bumping its epoch; a tick publishes its motion under the
same lock only when no hold happened since the tick began. So after a hold no motion command is
ever published until the next activate / release, whichever thread the hold came from.

Hold semantics per output: `action` (ActionCommand) zero motion, hold=true, hold_reason, and
gripper = the last gripper command sent (0 when none yet); `action/twist` zero twist;
`action/array` zeros and the last gripper command (not sent before any gripper command: a
position controller would take 0 as a target); `action/gripper` nothing (the gripper keeps
its last command).
"""
from typing import TYPE_CHECKING, Any, Optional

from builtin_interfaces.msg import Time
from rclpy.duration import Duration
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool
from std_srvs.srv import SetBool

from deer_ros.ros_io import messages
from deer_ros.ros_io.action_mapping import ArmCommand, hold_command
from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.command_gate import CommandGate
from deer_ros.ros_io.control_core import ControlCore
from deer_ros.ros_io.core_types import TickOutput
from deer_ros.ros_io.settings import NodeSettings

if TYPE_CHECKING:   # the loader's module imports the engine; deer_node loads it lazily
    from deer_ros.ros_io.model_loader import LoadedModel

COMMAND_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
TELEMETRY_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
HOLD_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)   # latched ones match too


def time_msg(stamp: Optional[tuple], now: Time) -> Time:
    """builtin_interfaces/Time of a (sec, nanosec) stamp exactly; `now` when there is none."""
    if stamp is None:
        return now
    return messages.Time(sec=int(stamp[0]), nanosec=int(stamp[1]))


class CommandOutput:
    """Publishers of action, action/twist, action/gripper, action/array and telemetry."""

    def __init__(self, node: Any):
        self.node = node
        self.gate = CommandGate()
        self.active = False                     # lifecycle publishers enabled
        self.last_gripper: Optional[float] = None
        self.pub_action = node.create_lifecycle_publisher(
            messages.ActionCommand, 'action', COMMAND_QOS)
        self.pub_twist = node.create_lifecycle_publisher(
            messages.TwistStamped, 'action/twist', COMMAND_QOS)
        self.pub_gripper = node.create_lifecycle_publisher(
            messages.Float64, 'action/gripper', COMMAND_QOS)
        self.pub_array = node.create_lifecycle_publisher(
            messages.Float64MultiArray, 'action/array', COMMAND_QOS)
        self.pub_telemetry = node.create_lifecycle_publisher(
            messages.InferenceTelemetry, 'telemetry', TELEMETRY_QOS)

    def _now(self) -> Time:
        return self.node.get_clock().now().to_msg()

    # ------------------------------------------------------------------ holds
    def create_stop_input(self, group: Any) -> None:
        """The latched stop: `~/hold` (std_srvs/SetBool) and `hold` (std_msgs/Bool)."""
        self.node.create_service(SetBool, '~/hold', self._on_hold_service, callback_group=group)
        self.node.create_subscription(Bool, 'hold', lambda msg: self.set_stop(bool(msg.data)),
                                      HOLD_QOS, callback_group=group)

    def _on_hold_service(self, request: SetBool.Request, response: SetBool.Response
                         ) -> SetBool.Response:
        response.message = self.set_stop(bool(request.data))
        response.success = True
        return response

    def set_stop(self, engaged: bool) -> str:
        """Engage (a hold now, then one per period) or release the latched stop."""
        if engaged == bool(self.gate.reason('stop')):
            return 'hold already engaged' if engaged else 'hold not engaged'
        logger = self.node.get_logger()
        if engaged:
            self.engage('stop', 'stop')
            logger.warning('stop: hold engaged (~/hold or hold topic)')
            return 'hold engaged: no motion until released'
        self.gate.release('stop')
        logger.info('stop released: acting on the next fresh observation')
        return 'hold released'

    def engage(self, source: str, reason: str) -> None:
        """Latch a hold source; publishes its hold now when the outputs are active."""
        self.gate.engage(source, reason, (lambda: self._publish_hold(reason))
                         if self.active else None)

    def repeat_hold(self, source: str) -> bool:
        """Another hold while `source` is engaged (the latched stop, once per period)."""
        if not self.active:
            return False
        return self.gate.repeat_hold(source, self._publish_hold)

    def wait_for_acks(self, timeout_s: float = 1.0) -> bool:
        """Wait until subscribers acknowledged the commands (the final hold before exit)."""
        deadline = Duration(seconds=timeout_s)
        return all([pub.wait_for_all_acked(deadline) for pub in
                    (self.pub_action, self.pub_twist, self.pub_gripper, self.pub_array)])

    def _publish_hold(self, reason: str) -> None:
        self._publish_command(hold_command(reason, self.last_gripper or 0.0), self._now(),
                              None, None)

    # ------------------------------------------------------------------ ticks
    def publish_tick(self, ticket: int, out: TickOutput, core: ControlCore,
                     loaded: Optional['LoadedModel'], settings: NodeSettings) -> bool:
        """Telemetry and commands of one tick, unless a hold happened since `ticket`."""
        def publish() -> None:
            now = self._now()
            stamp = time_msg(out.stamp, now)
            if out.record is not None:
                self.node.last_record = out.record
                self.pub_telemetry.publish(messages.telemetry(
                    out.record, stamp, settings, loaded.num_exits if loaded else 0,
                    loaded.total_layers if loaded else 0, core.sync.dropped))
            if out.publish_commands:
                command = out.command
                if command.hold:   # a tick's hold keeps the gripper too
                    command = hold_command(command.hold_reason, self.last_gripper or 0.0,
                                           command.reasons[0])
                self._publish_command(command, stamp, out.record, out.gripper)
        return self.gate.publish(ticket, publish)

    def _publish_command(self, command: ArmCommand, stamp: Time, record: Optional[StepRecord],
                         gripper: Optional[float]) -> None:
        settings = self.node.settings
        msg = messages.action_command(command, stamp, settings.action.frame_id, record)
        msg.hold_reason = command.hold_reason
        self.pub_action.publish(msg)
        if settings.publish.twist:
            self.pub_twist.publish(messages.twist(command, settings, self._now()))
        if settings.publish.gripper and gripper is not None:
            self.pub_gripper.publish(messages.gripper(gripper))
        if settings.publish.array and (not command.hold or self.last_gripper is not None):
            self.pub_array.publish(messages.action_array(command))
        if not command.hold:
            self.last_gripper = command.gripper
