"""deer_node's robot-state input: parameters and the subscription (the logic is robot_state.py).

Only for a model whose head takes the state (ModelRollout.state_dim > 0); for every other model,
official DeeR checkpoints included, nothing is subscribed and the engine is returned unchanged.

| parameter | type | default | meaning |
|---|---|---|---|
| `robot_state.topic` | string | `robot_state` | sensor_msgs/JointState with named entries |
| `robot_state.max_age_s` | double | 0.5 | older state: hold instead of acting, s (<= 0: any age) |
"""
from dataclasses import dataclass
from typing import Any, Optional

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from deer_ros.ros_io.robot_state import (DEFAULT_MAX_AGE_S, DEFAULT_TOPIC, RobotStateBuffer,
                                         StateFeedingEngine, model_takes_state, state_values)


@dataclass(frozen=True)
class RobotStateSettings:
    """Read-only parameters of the state input (names, defaults and help live here)."""

    topic: str = DEFAULT_TOPIC            # sensor_msgs/JointState, names per STATE_CONVENTION
    max_age_s: float = DEFAULT_MAX_AGE_S  # a state older than this at inference: hold, s


def declare_robot_state(node: Any) -> RobotStateSettings:
    """Declare (once) and read the `robot_state.*` parameters."""
    defaults = RobotStateSettings()
    helps = {'topic': 'Robot state topic (sensor_msgs/JointState), used when the model '
                      'takes the state',
             'max_age_s': 'Hold instead of acting when the newest robot state is older, s'}
    values = {}
    for name in ('topic', 'max_age_s'):
        full = f'robot_state.{name}'
        if not node.has_parameter(full):
            node.declare_parameter(full, getattr(defaults, name),
                                   ParameterDescriptor(description=helps[name], read_only=True))
        values[name] = node.get_parameter(full).value
    return RobotStateSettings(topic=str(values['topic']), max_age_s=float(values['max_age_s']))


def attach_robot_state(node: Any, engine: Any, callback_group: Optional[Any] = None) -> Any:
    """`engine`, fed from the robot-state topic when its model takes the state; else unchanged.

    node.monotonic is the clock of both the arrival time and the age check. A previous
    subscription (an earlier configure) is replaced.
    """
    old = getattr(node, '_robot_state_sub', None)
    if old is not None:
        node.destroy_subscription(old)
        node._robot_state_sub = None
    if not model_takes_state(engine):
        return engine
    settings = declare_robot_state(node)
    buffer = RobotStateBuffer()

    def on_state(msg: JointState) -> None:
        values, why = state_values(msg.name, msg.position)
        buffer.put(values, node.monotonic(), why and f'robot state rejected: {why}')

    node._robot_state_sub = node.create_subscription(
        JointState, settings.topic, on_state, qos_profile_sensor_data,
        callback_group=callback_group)
    node.get_logger().info(f'model takes the robot state: subscribed to {settings.topic} '
                           f'(max age {settings.max_age_s:g} s)')
    return StateFeedingEngine(engine, buffer, settings.max_age_s, node.monotonic)
