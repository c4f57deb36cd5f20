"""Settings that would silently do nothing: unknown names are refused or warned about.

Real rclpy: params files written here and parsed by rcl (as a node's --ros-args), the node's own
lifecycle, /rosout for the warnings, the parameter services for run-time changes, and the real
deer_node executable for a command-line `-p`.
"""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest
from lifecycle_msgs.msg import State
from rcl_interfaces.msg import Log, Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from deer_ros.ros_io.deer_node import DeerNode
from deer_ros.ros_io.param_check import section_matches
from deer_ros.sim.sim_node import SimNode
from ros_io_helpers import example_loader

pytestmark = pytest.mark.ros
ROOT = pathlib.Path(__file__).resolve().parents[2]
ROSOUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
TYPO_FILE = """\
deer_node:
  ros__parameters:
    dry_rn: true
    safety:
      max_translaton_m: 0.001
    cameras: [static, gripper, left]
"""


def params_file(tmp_path, text, name='robot.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def deer_node(ros_graph, *args):
    node = DeerNode(context=ros_graph.context, loader=example_loader(),
                    cli_args=['--ros-args', *args])
    ros_graph.add(node)
    return node


def state_of(node):
    return node._state_machine.current_state[0]


def rosout_lines(ros_graph, node, level=Log.WARN):
    logs = ros_graph.collect(Log, '/rosout', ROSOUT_QOS)
    return lambda: [m.msg for m in logs if m.name == node.get_name() and m.level >= level]


def test_unknown_names_in_the_node_section_refuse_configure(ros_graph, tmp_path):
    path = params_file(tmp_path, TYPO_FILE)
    node = deer_node(ros_graph, '--params-file', path)
    assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
    assert state_of(node) == State.PRIMARY_STATE_UNCONFIGURED
    for text in ("'dry_rn' (did you mean 'dry_run'?)",
                 "'safety.max_translaton_m' (did you mean 'safety.max_translation_m'?)",
                 "'cameras'", f'{path} [/deer_node]'):
        assert text in node.model_error, node.model_error


def test_unknown_name_on_the_command_line_refuses_configure(ros_graph):
    node = deer_node(ros_graph, '-p', 'safety.max_translaton_m:=0.001')
    assert node.trigger_configure() != TransitionCallbackReturn.SUCCESS
    assert '-p safety.max_translaton_m' in node.model_error


def test_shared_section_keeps_use_sim_time_and_warns_about_other_nodes_names(
        ros_graph, tmp_path):
    path = params_file(tmp_path, '/**:\n  ros__parameters:\n    use_sim_time: true\n'
                                 '    episodes_per_task: 3\n'
                                 'deer_node:\n  ros__parameters:\n    dry_run: true\n')
    node = deer_node(ros_graph, '--params-file', path)
    warnings = rosout_lines(ros_graph, node)
    assert node.get_parameter('use_sim_time').value is True
    assert node.settings.dry_run is True
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    ros_graph.spin_until(lambda: any("'episodes_per_task'" in w and '[/**]' in w
                                     for w in warnings()), 10.0, 'the shared-section warning')


def test_params_file_for_no_section_of_this_node_warns(ros_graph, tmp_path):
    path = params_file(tmp_path, 'deer_nod:\n  ros__parameters:\n    dry_run: true\n')
    node = deer_node(ros_graph, '--params-file', path)
    warnings = rosout_lines(ros_graph, node)
    assert node.settings.dry_run is False         # what rcl did: the file applies to nothing
    ros_graph.spin_until(lambda: any(f'{path}: no section applies to /deer_node' in w
                                     for w in warnings()), 10.0, 'the no-section warning')


def test_section_matching_is_what_rclpy_applies(ros_graph, tmp_path):
    keys = ['/**', '/deer_node', '/**/deer_node', '/*/deer_node', '/arm/deer_node', '/arm/*',
            'deer_node', 'arm/deer_node', '/other/deer_node', '/deer_nod']
    text = ''.join(f"'{key}':\n  ros__parameters:\n    p{i}: {i}\n" for i, key in enumerate(keys))
    path = params_file(tmp_path, text)
    for namespace in ('', 'arm', 'a/b'):
        node = Node('deer_node', namespace=namespace, context=ros_graph.context,
                    cli_args=['--ros-args', '--params-file', path])
        applied = {int(name[1:]) for name in node._parameter_overrides}
        expected = {i for i, key in enumerate(keys)
                    if section_matches('/' + key.lstrip('/'), node.get_fully_qualified_name())}
        node.destroy_node()
        assert applied == expected, (namespace, applied, expected)


def set_parameter(ros_graph, node, param):
    client_node = ros_graph.node('param_client')
    client = client_node.create_client(SetParameters, f'/{node.get_name()}/set_parameters')
    ros_graph.spin_until(client.service_is_ready, 10.0, 'the set_parameters service')
    msg = param.to_parameter_msg()
    reply = ros_graph.call(client, SetParameters.Request(parameters=[msg]), 10.0)
    return reply.results[0]


def test_run_time_unknown_name_and_wrong_type_are_named_in_words(ros_graph):
    node = deer_node(ros_graph)
    result = set_parameter(ros_graph, node, Parameter('safety.max_translaton_m', value=0.01))
    assert not result.successful
    assert result.reason == ("deer_node has no parameter 'safety.max_translaton_m' "
                             "(did you mean 'safety.max_translation_m'?)")
    result = set_parameter(ros_graph, node, Parameter('safety.max_translation_m', value=1))
    assert not result.successful
    assert result.reason.startswith('safety.max_translation_m takes a double')
    assert 'not an integer' in result.reason
    result = set_parameter(ros_graph, node, Parameter('safety.max_translation_m', value=0.01))
    assert result.successful and node.settings.safety.max_translation_m == 0.01


def test_run_time_empty_list_clears_double_array(ros_graph):
    node = deer_node(ros_graph, '-p', 'exit.thresholds:=[0.1, 0.2]')
    msg = ParameterMsg(name='exit.thresholds')
    msg.value.type = Parameter.Type.BOOL_ARRAY.value   # what `ros2 param set ... "[]"` sends
    result = set_parameter(ros_graph, node, Parameter.from_parameter_msg(msg))
    assert result.successful, result.reason
    assert node.settings.exit.thresholds == ()


def test_sim_node_refuses_to_start_on_an_unknown_name(ros_graph, tmp_path):
    path = params_file(tmp_path, 'sim_node:\n  ros__parameters:\n    episodes_per_tsk: 3\n')
    with pytest.raises(ValueError, match="'episodes_per_tsk' \\(did you mean "
                                         "'episodes_per_task'\\?\\)"):
        SimNode(context=ros_graph.context, cli_args=['--ros-args', '--params-file', path])


def test_executable_with_a_misspelled_p_says_so_and_stays_unconfigured(ros_graph):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'deer_ros.ros_io.deer_node', '--ros-args', '-p',
         'autostart:=true', '-p', 'dry_rn:=true'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120.0
        while not any('configure' in line and ('failed' in line or ' in ' in line)
                      for line in list(lines)) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10.0)
    output = ''.join(lines)
    assert "will not configure: deer_node has no parameter 'dry_rn' (did you mean " \
           "'dry_run'?), given in -p dry_rn" in output, output
    assert 'active: acting' not in output
