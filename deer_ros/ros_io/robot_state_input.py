"""deer_node's robot-state input: the subscription (the logic is robot_state.py).

Only for a model whose head takes the state (ModelRollout.state_dim > 0); for every other model,
official DeeR checkpoints included, nothing is subscribed and the engine is returned unchanged.
The parameters are `robot_state.*` of settings.NodeSettings.
"""
from typing import Any, Optional

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from deer_ros.policies.engine import InferenceEngine
from deer_ros.ros_io.core_types import Engine
from deer_ros.ros_io.robot_state import (RobotStateBuffer, StateFeedingEngine, model_takes_state,
                                         state_values)
from deer_ros.ros_io.settings import RobotStateSettings


def attach_robot_state(node: Any, engine: InferenceEngine,
                       settings: RobotStateSettings = RobotStateSettings(),
                       callback_group: Optional[Any] = None) -> Engine:
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
