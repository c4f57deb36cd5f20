"""Launch deer_node as a managed (lifecycle) node.

    ros2 launch deer_ros deer.launch.py params_file:=/path/robot.yaml namespace:=arm \
        static_image_topic:=/camera/color/image_raw use_gripper_camera:=true \
        gripper_image_topic:=/wrist/color/image_raw twist_topic:=/servo_node/delta_twist_cmds

With autostart false (the default on a real arm) bring it up with
`ros2 lifecycle set /<namespace>/deer_node configure` then `... activate`.
The YAML params file is passed as is, so config/deer.yaml documents every parameter.
"""
import os

# (name, default, description): also read by test/ros_io/test_launch.py without `launch`.
LAUNCH_ARGUMENTS = [
    ('params_file', '<share>/config/deer.yaml', 'deer_node parameters (YAML, ros__parameters)'),
    ('namespace', '', 'namespace of deer_node and its relative topics'),
    ('static_image_topic', 'camera/static/image_raw', 'static (third-person) camera image topic'),
    ('gripper_image_topic', 'camera/gripper/image_raw', 'gripper (wrist) camera image topic'),
    ('use_gripper_camera', 'false', 'subscribe to and pair the gripper camera'),
    ('instruction_topic', 'instruction', 'std_msgs/String language instruction topic'),
    ('twist_topic', 'action/twist', 'TwistStamped output (e.g. /servo_node/delta_twist_cmds)'),
]


def generate_launch_description():  # noqa: D103 - the launch entry point
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode
    from launch_ros.parameter_descriptions import ParameterValue

    share = get_package_share_directory('deer_ros')
    defaults = {'params_file': os.path.join(share, 'config', 'deer.yaml')}
    arguments = [DeclareLaunchArgument(name, default_value=defaults.get(name, default),
                                       description=description)
                 for name, default, description in LAUNCH_ARGUMENTS]
    arg = LaunchConfiguration
    static, gripper = arg('static_image_topic'), arg('gripper_image_topic')
    node = LifecycleNode(
        package='deer_ros', executable='deer_node', name='deer_node',
        namespace=arg('namespace'), output='screen',
        parameters=[arg('params_file'), {
            'use_gripper_camera': ParameterValue(arg('use_gripper_camera'), value_type=bool)}],
        remappings=[
            ('camera/static/image_raw', static),
            ('camera/static/image_raw/compressed', [static, '/compressed']),
            ('camera/gripper/image_raw', gripper),
            ('camera/gripper/image_raw/compressed', [gripper, '/compressed']),
            ('instruction', arg('instruction_topic')),
            ('action/twist', arg('twist_topic')),
        ])
    return LaunchDescription([*arguments, node])
