"""ROS messages from the pure results (ArmCommand, StepRecord, StatusReport)."""
from typing import Iterable, Optional

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TwistStamped, Vector3
from std_msgs.msg import Float64, Float64MultiArray, MultiArrayDimension

from deer_ros.msg import ActionCommand, InferenceTelemetry
from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.action_mapping import ArmCommand, twist_values
from deer_ros.ros_io.diagnostics import StatusReport
from deer_ros.ros_io.settings import NodeSettings

U8, U16, U32 = 255, 65535, 2**32 - 1


def stamp_from_seconds(seconds: float) -> Time:
    """builtin_interfaces/Time from float seconds."""
    sec = int(seconds // 1)
    return Time(sec=sec, nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))


def seconds_from_stamp(stamp: Time) -> float:
    """Float seconds of a builtin_interfaces/Time."""
    return stamp.sec + stamp.nanosec * 1e-9


def _clip(value: float, upper: int) -> int:
    return max(0, min(int(value), upper))


def action_command(command: ArmCommand, stamp: Time, frame_id: str,
                   record: Optional[StepRecord] = None) -> ActionCommand:
    """ActionCommand; stamp = the observation's (or now for holds without one)."""
    msg = ActionCommand()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.translation = Vector3(x=command.translation[0], y=command.translation[1],
                              z=command.translation[2])
    msg.rotation = Vector3(x=command.rotation[0], y=command.rotation[1], z=command.rotation[2])
    msg.gripper = float(command.gripper)
    msg.clamped = command.clamped
    msg.hold = command.hold
    if record is not None:
        msg.exit_index = _clip(record.exit_index, U8)
        msg.layers_executed = _clip(record.layers_executed, U16)
        msg.layers_skipped = _clip(record.layers_skipped, U16)
        msg.latency_ms = float(record.latency_ms)
    return msg


def twist(command: ArmCommand, settings: NodeSettings, now: Time) -> TwistStamped:
    """TwistStamped for MoveIt Servo: publish-time stamp, action.frame_id."""
    linear, angular = twist_values(command, settings)
    msg = TwistStamped()
    msg.header.stamp = now
    msg.header.frame_id = settings.action.frame_id
    msg.twist.linear = Vector3(x=linear[0], y=linear[1], z=linear[2])
    msg.twist.angular = Vector3(x=angular[0], y=angular[1], z=angular[2])
    return msg


def gripper(value: float) -> Float64:
    """std_msgs/Float64 gripper command."""
    return Float64(data=float(value))


def action_array(command: ArmCommand) -> Float64MultiArray:
    """[x, y, z, roll, pitch, yaw, gripper] (m, rad, +1/-1) with a labelled layout."""
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label='x_y_z_roll_pitch_yaw_gripper', size=7,
                                          stride=7)]
    msg.data = [float(v) for v in command.as_array()]
    return msg


def telemetry(record: StepRecord, stamp: Time, settings: NodeSettings, num_exits: int,
              total_layers: int, dropped_frames: int) -> InferenceTelemetry:
    """InferenceTelemetry for one StepRecord."""
    msg = InferenceTelemetry()
    msg.header.stamp = stamp
    msg.header.frame_id = settings.action.frame_id
    msg.policy = record.policy + ('+skip' if settings.skip.enabled else '')
    msg.stop_reason = record.stop_reason
    msg.exit_index = _clip(record.exit_index, U8)
    msg.num_exits = _clip(num_exits, U8)
    msg.layers_executed = _clip(record.layers_executed, U16)
    msg.layers_skipped = _clip(record.layers_skipped, U16)
    msg.total_layers = _clip(total_layers, U16)
    msg.gflops = float(record.gflops)
    msg.avg_gflops = float(record.avg_gflops)
    msg.budget_avg_gflops = float(record.budget_avg_gflops)   # the target in force
    msg.threshold_scale = float(record.threshold_scale)
    msg.full_gflops = float(record.full_gflops)
    msg.avg_fraction = float(record.avg_fraction)
    msg.budget_avg_fraction = float(record.budget_avg_fraction)
    msg.controller_saturated = bool(record.controller_saturated)
    msg.latency_ms = float(record.latency_ms)
    msg.vision_ms = float(record.vision_ms)
    msg.llm_ms = float(record.llm_ms)
    msg.head_ms = float(record.head_ms)
    msg.deadline_ms = float(record.deadline_ms)
    msg.deadline_missed = bool(record.deadline_missed)
    msg.max_resident_exit = _clip(record.resident_exit, U8)
    msg.gpu_memory_used_mb = float(record.gpu_memory_used_mb)
    msg.gpu_memory_budget_mb = float(settings.budget.gpu_memory_mb)
    msg.dropped_frames = _clip(dropped_frames, U32)
    return msg


LEVEL_BYTES = {0: DiagnosticStatus.OK, 1: DiagnosticStatus.WARN, 2: DiagnosticStatus.ERROR,
               3: DiagnosticStatus.STALE}


def diagnostic_array(reports: Iterable[StatusReport], now: Time) -> DiagnosticArray:
    """DiagnosticArray (level as bytes, as rclpy requires)."""
    msg = DiagnosticArray()
    msg.header.stamp = now
    for report in reports:
        msg.status.append(DiagnosticStatus(
            level=LEVEL_BYTES[report.level], name=report.name, message=report.message,
            hardware_id=report.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in report.values]))
    return msg
