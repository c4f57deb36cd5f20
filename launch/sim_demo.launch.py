"""The demo graph for a full ROS 2 install: sim_node (MetaWorld) + deer_node (autostart).

    ros2 launch deer_ros sim_demo.launch.py
    ros2 launch deer_ros sim_demo.launch.py checkpoint:=/path/to/model tasks:="[reach-v3]"

The same nodes and parameters as `deer-ros demo` (deer_ros/evaluation/graph_params.py), without
its episode report: watch `ros2 topic echo /episode_status` and `/telemetry`. Torch runs one
thread per node (OMP_NUM_THREADS=1), which was fastest on a small shared CPU.
"""
import os
from typing import List

# (name, default, description): read by test/evaluation/test_launch_file.py without `launch`.
# '<share>' is replaced by the installed package's share directory.
LAUNCH_ARGUMENTS = [
    ('checkpoint', '<share>/models/mini-metaworld',
     'deer_node model.checkpoint (empty: the tiny preset with random weights)'),
    ('tasks', '[window-open-v3, button-press-topdown-v3, drawer-close-v3]', 'sim_node tasks'),
    ('episodes_per_task', '2', 'episodes of each task (scene seeds 0, 1, ...)'),
    ('max_steps', '0', "actions per episode; 0: the task's limit"),
    ('budget_fraction', '0.33', 'deer_node budget.avg_fraction (online compute controller)'),
    ('control_rate_hz', '30.0', 'deer_node control_rate_hz'),
]


def generate_launch_description():  # noqa: D103 - the launch entry point
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node
    from launch_ros.parameter_descriptions import ParameterValue

    share = get_package_share_directory('deer_ros')
    arguments = [DeclareLaunchArgument(name, default_value=default.replace('<share>', share),
                                       description=description)
                 for name, default, description in LAUNCH_ARGUMENTS]
    arg = LaunchConfiguration
    sim = Node(
        package='deer_ros', executable='sim_node', name='sim_node', output='screen',
        parameters=[{
            'tasks': ParameterValue(arg('tasks'), value_type=List[str]),
            'episodes_per_task': ParameterValue(arg('episodes_per_task'), value_type=int),
            'max_steps': ParameterValue(arg('max_steps'), value_type=int),
            'autostart': True,
        }])
    deer = LifecycleNode(
        package='deer_ros', executable='deer_node', name='deer_node', namespace='',
        output='screen',
        parameters=[{
            'autostart': True,
            'use_gripper_camera': True,
            'control_rate_hz': ParameterValue(arg('control_rate_hz'), value_type=float),
            'model.checkpoint': ParameterValue(arg('checkpoint'), value_type=str),
            'model.device': 'cpu',
            'exit.policy': 'deer',
            'budget.avg_fraction': ParameterValue(arg('budget_fraction'), value_type=float),
            'safety.stale_image_s': 5.0,
        }])
    environment = [SetEnvironmentVariable('OMP_NUM_THREADS', '1'),
                   SetEnvironmentVariable('MUJOCO_GL', os.environ.get('MUJOCO_GL', 'osmesa'))]
    return LaunchDescription(arguments + environment + [sim, deer])
