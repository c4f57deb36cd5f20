"""Launch deer_node as a managed (lifecycle) node.

    ros2 launch deer_ros deer.launch.py params_file:=/path/robot.yaml namespace:=arm \
        static_image_topic:=/camera/color/image_raw use_gripper_camera:=true \
        gripper_image_topic:=/wrist/color/image_raw twist_topic:=/servo_node/delta_twist_cmds

With autostart false (the default on a real arm) bring it up with
`ros2 lifecycle set /<namespace>/deer_node configure` then `... activate`.
The YAML params file is passed as is, so config/deer.yaml documents every parameter.
use_gripper_camera overrides the params file only when given: left out, the file's value holds.
"""
import os
from typing import Any, Dict

# (name, default, description): also read by test/ros_io/test_launch.py without `launch`.
LAUNCH_ARGUMENTS = [
    ('params_file', '<share>/config/deer.yaml', 'deer_node parameters (YAML, ros__parameters)'),
    ('namespace', '', 'namespace of deer_node and its relative topics'),
    ('static_image_topic', 'camera/static/image_raw', 'static (third-person) camera image topic'),
    ('gripper_image_topic', 'camera/gripper/image_raw', 'gripper (wrist) camera image topic'),
    ('use_gripper_camera', '', "subscribe to and pair the gripper camera (true or false); "
                               "not given: the params file's value"),
    ('instruction_topic', 'instruction', 'std_msgs/String language instruction topic'),
    ('twist_topic', 'action/twist', 'TwistStamped output (e.g. /servo_node/delta_twist_cmds)'),
]


BOOLEANS = {'true': True, 'false': False}


def argument_overrides(use_gripper_camera: str) -> Dict[str, Any]:
    """Parameters the launch arguments set over the params file: only those given."""
    text = use_gripper_camera.strip().lower()
    if text in ('', "''", '""'):
        return {}
    if text not in BOOLEANS:
        raise ValueError(f'use_gripper_camera:={use_gripper_camera!r}: give true or false')
    return {'use_gripper_camera': BOOLEANS[text]}


def generate_launch_description():  # noqa: D103 - the launch entry point
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode

    share = get_package_share_directory('deer_ros')
    defaults = {'params_file': os.path.join(share, 'config', 'deer.yaml')}
    arguments = [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                                       description=description)
                 for name, default, description in LAUNCH_ARGUMENTS]
    arg = LaunchConfiguration
    static, gripper = arg('static_image_topic'), arg('gripper_image_topic')

    def node(context: Any):
        overrides = argument_overrides(arg('use_gripper_camera').perform(context))
        return [LifecycleNode(
            package='deer_ros', executable='deer_node', name='deer_node',
            namespace=arg('namespace'), output='screen',
            parameters=[arg('params_file')] + ([overrides] if overrides else []),
            remappings=[
                ('camera/static/image_raw', static),
                ('camera/static/image_raw/compressed', [static, '/compressed']),
                ('camera/gripper/image_raw', gripper),
                ('camera/gripper/image_raw/compressed', [gripper, '/compressed']),
                ('instruction', arg('instruction_topic')),
                ('action/twist', arg('twist_topic')),
            ])]
    return LaunchDescription([*arguments, OpaqueFunction(function=node)])
