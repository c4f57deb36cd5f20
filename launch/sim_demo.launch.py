"""`deer-ros demo` for a full ROS 2 install: sim_node (MetaWorld) + deer_node (autostart).

    ros2 launch deer_ros sim_demo.launch.py
    ros2 launch deer_ros sim_demo.launch.py checkpoint:=none tasks:="[reach-v3]"

The same nodes with the same parameters as `deer-ros demo` (deer_ros.evaluation.demo.DemoConfig
through graph_params): the shipped model, held-out scene seeds from 1000, 64 px cameras, one
torch thread per node, DeeR with the online controller at budget_fraction, and the same
tasks x episodes_per_task episodes; when the last one ends sim_node exits
(stop_after_schedule) and the launch shuts deer_node down (final hold). What differs: the
graph runs on your ROS_DOMAIN_ID (the demo picks a private domain on loopback), and there is
no episode report or GIF: watch `ros2 topic echo /episode_status` and `/telemetry`.

checkpoint:=none (or '' / "") runs the tiny preset with random weights, as the demo does when
no shipped model is found; launch refuses a bare `checkpoint:=`.
"""
import os
from typing import Any, Dict, Tuple

# (name, default, description): read by test/evaluation/test_launch_file.py and docs.
# '<share>' is replaced by the installed package's share directory.
LAUNCH_ARGUMENTS = [
    ('checkpoint', '<share>/models/mini-metaworld',
     'deer_node model.checkpoint; none: model.preset with random weights'),
    ('preset', 'tiny', 'deer_node model.preset (architecture of a random model)'),
    ('model_seed', '0', 'deer_node model.seed (weights of a random model)'),
    ('tasks', '[window-open-v3, button-press-topdown-v3, drawer-close-v3]', 'sim_node tasks'),
    ('episodes_per_task', '2', 'episodes of each task'),
    ('seed', '1000', 'first scene seed (1000 on: held out from the training scenes)'),
    ('max_steps', 'auto', "actions per episode; 0: the task's limit; auto: 0, or 40 with "
                          'random weights (as the demo)'),
    ('budget_fraction', '0.33', 'deer_node budget.avg_fraction (online compute controller)'),
    ('image_size', '64', 'camera side in px (the shipped model was trained on 64)'),
]
EMPTY_CHECKPOINT = ('', "''", '""', 'none')


def checkpoint_value(text: str) -> str:
    """model.checkpoint from the launch argument: none, '' or "" (quotes kept by launch) -> ''."""
    text = text.strip()
    return '' if text.lower() in EMPTY_CHECKPOINT else text


def demo_parameters(values: Dict[str, str]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(sim_node, deer_node) parameters for the launch arguments, as `deer-ros demo` makes them."""
    import yaml

    from deer_ros.evaluation.demo import RANDOM_MAX_STEPS, DemoConfig
    from deer_ros.evaluation.graph_params import deer_parameters, sim_parameters
    from deer_ros.evaluation.model_spec import ModelSpec
    from deer_ros.sim.tasks import get_task
    model = ModelSpec(checkpoint_value(values['checkpoint']), values['preset'],
                      int(values['model_seed']))
    max_steps = values['max_steps'].strip()
    steps = (RANDOM_MAX_STEPS if model.is_random else 0) if max_steps == 'auto' else int(max_steps)
    tasks = tuple(get_task(t).env_name for t in yaml.safe_load(values['tasks']))
    cfg = DemoConfig(model=model, tasks=tasks, episodes_per_task=int(values['episodes_per_task']),
                     seed=int(values['seed']), max_steps=steps,
                     budget_fraction=float(values['budget_fraction']),
                     image_size=int(values['image_size']))
    sim = dict(sim_parameters(cfg.graph()), stop_after_schedule=True)
    return sim, deer_parameters(cfg.graph())


def generate_launch_description():  # noqa: D103 - the launch entry point
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable, \
        Shutdown
    from launch.substitutions import EnvironmentVariable, LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node

    share = get_package_share_directory('deer_ros')
    arguments = [DeclareLaunchArgument(name, default_value=default.replace('<share>', share),
                                       description=description)
                 for name, default, description in LAUNCH_ARGUMENTS]

    def nodes(context: Any):
        values = {name: LaunchConfiguration(name).perform(context)
                  for name, _, _ in LAUNCH_ARGUMENTS}
        sim, deer = demo_parameters(values)
        return [Node(package='deer_ros', executable='sim_node', name='sim_node', namespace='',
                     output='screen', parameters=[sim],
                     on_exit=Shutdown(reason='sim_node finished its episodes')),
                LifecycleNode(package='deer_ros', executable='deer_node', name='deer_node',
                              namespace='', output='screen', parameters=[deer])]

    threads = [SetEnvironmentVariable(name, EnvironmentVariable(name, default_value='1'))
               for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS')]
    gl = [SetEnvironmentVariable(name, EnvironmentVariable(name, default_value='osmesa'))
          for name in ('MUJOCO_GL', 'PYOPENGL_PLATFORM')]
    return LaunchDescription([*arguments, *threads, *gl,
                              SetEnvironmentVariable('PYTHONUNBUFFERED', '1'),
                              OpaqueFunction(function=nodes)])


if __name__ == '__main__':   # python launch/sim_demo.launch.py: the parameters it would pass
    print(demo_parameters({name: default.replace('<share>', os.getcwd())
                           for name, default, _ in LAUNCH_ARGUMENTS}))
