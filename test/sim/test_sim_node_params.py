"""sim_node parameters: one definition (SimNodeConfig) gives ranges, checks, descriptors, docs."""
import pathlib

import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from deer_ros.ros_io.param_docs import parameter_table
from deer_ros.ros_io.settings import ActionSettings
from deer_ros.sim.sim_node import PARAM_SPECS, SimNode, SimNodeConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('bad, name', [
    ({'episodes_per_task': -1}, 'episodes_per_task'), ({'image_size': 0}, 'image_size'),
    ({'idle_publish_rate_hz': float('nan')}, 'idle_publish_rate_hz'),
    ({'tasks': ()}, 'tasks'), ({'static_frame_id': ' '}, 'static_frame_id'),
    ({'translation_scale_m': 0.0}, 'translation_scale_m: must be > 0'),   # divided by
    ({'rotation_scale_rad': 0.0}, 'rotation_scale_rad: must be > 0')])
def test_an_unusable_config_is_refused_at_construction_naming_the_parameter(bad, name):
    with pytest.raises(ValueError, match=name):
        SimNodeConfig(**bad)


def test_the_config_is_frozen_and_its_scaling_defaults_are_deer_nodes():
    cfg = SimNodeConfig(tasks=['reach-v3'])
    assert cfg.tasks == ('reach-v3',)
    with pytest.raises(AttributeError):
        cfg.seed = 3
    assert cfg.scaling == ActionSettings()


def test_docs_sim_node_table_is_generated():
    text = (ROOT / 'docs/simulation.md').read_text()
    assert parameter_table(PARAM_SPECS) in text, \
        'regenerate the table in docs/simulation.md: parameter_table(sim_node.PARAM_SPECS)'


@pytest.mark.ros
@pytest.mark.parametrize('name, value', [('episodes_per_task', -1), ('image_size', 0),
                                         ('static_frame_id', '')])
def test_sim_node_refuses_a_bad_parameter_at_start(ros_graph, name, value):
    with pytest.raises(Exception, match=name) as err:
        SimNode(context=ros_graph.context, parameter_overrides=[
            Parameter('tasks', value=['reach-v3']), Parameter(name, value=value)])
    assert 'Traceback' not in str(err.value)


@pytest.mark.ros
def test_sim_node_declares_its_parameters_with_ranges(ros_graph):
    sim = ros_graph.add(SimNode(context=ros_graph.context, parameter_overrides=[
        Parameter('tasks', value=['reach-v3']), Parameter('image_size', value=32),
        Parameter('autostart', value=False)]))
    assert sim.config.image_size == 32 and sim.config.tasks == ('reach-v3',)
    size = sim.describe_parameter('image_size')
    assert size.read_only and size.type == ParameterType.PARAMETER_INTEGER
    assert (size.integer_range[0].from_value, size.integer_range[0].to_value) == (8, 2048)
    rate = sim.describe_parameter('idle_publish_rate_hz')
    assert rate.floating_point_range[0].to_value == 1000.0 and 'Hz' in rate.description
    tasks = sim.describe_parameter('tasks')
    assert tasks.type == ParameterType.PARAMETER_STRING_ARRAY
    result = sim.set_parameters([Parameter('image_size', value=64)])[0]
    assert not result.successful   # read-only after start


@pytest.mark.ros
def test_sim_node_executable_exits_with_the_reason_on_a_bad_parameter():
    import os
    import subprocess
    import sys

    from deer_ros.ros_io.spin import EXIT_BAD_PARAMETERS
    proc = subprocess.run(
        [sys.executable, '-m', 'deer_ros.sim.sim_node', '--ros-args', '-p', 'image_size:=0'],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == EXIT_BAD_PARAMETERS, proc.stderr
    assert 'image_size' in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr
