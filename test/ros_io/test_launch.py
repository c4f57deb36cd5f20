"""launch/deer.launch.py: compiles, names existing files, documents its arguments.

`launch` / `launch_ros` are not on PyPI: the import part runs only where they are installed.
"""
import ast
import importlib.util
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAUNCH = ROOT / 'launch' / 'deer.launch.py'


def launch_arguments():
    tree = ast.parse(LAUNCH.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == 'LAUNCH_ARGUMENTS':
            return ast.literal_eval(node.value)
    raise AssertionError('LAUNCH_ARGUMENTS not found')


def test_launch_file_compiles():
    compile(LAUNCH.read_text(), str(LAUNCH), 'exec')


def test_arguments_of_the_issue_exist_and_are_documented():
    names = [name for name, _, _ in launch_arguments()]
    for required in ('params_file', 'namespace', 'static_image_topic', 'gripper_image_topic',
                     'use_gripper_camera'):
        assert required in names
    docs = (ROOT / 'docs' / 'node.md').read_text()
    for name, _, description in launch_arguments():
        assert f'`{name}`' in docs, f'launch argument {name} missing from docs/node.md'
        assert description


def test_referenced_files_exist():
    text = LAUNCH.read_text()
    assert "'config', 'deer.yaml'" in text and (ROOT / 'config' / 'deer.yaml').is_file()
    assert "executable='deer_node'" in text and (ROOT / 'scripts' / 'deer_node').is_file()
    cmake = (ROOT / 'CMakeLists.txt').read_text()
    assert 'install(DIRECTORY launch config' in cmake


def test_remapped_names_are_the_nodes_topics():
    import re
    from deer_ros.ros_io import command_output, deer_node
    source = ''.join(pathlib.Path(m.__file__).read_text() for m in (deer_node, command_output))
    remapped = re.findall(r"\('([a-z_/]+)', (?:static|gripper|arg)", LAUNCH.read_text())
    for name in remapped:
        base = name.replace('/compressed', '')
        assert f"'{base}'" in source or base.startswith('camera/'), name


@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None,
                    reason='launch_ros is not installed (no PyPI wheel); full ROS only')
def test_launch_description_builds(monkeypatch):
    monkeypatch.setenv('AMENT_PREFIX_PATH', os.environ.get('AMENT_PREFIX_PATH', ''))
    spec = importlib.util.spec_from_file_location('deer_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert len(description.entities) == len(launch_arguments()) + 1


def launch_module():
    """The launch file as a module: its argument logic imports no `launch`."""
    spec = importlib.util.spec_from_file_location('deer_launch_logic', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_use_gripper_camera_overrides_only_when_given():
    overrides = launch_module().argument_overrides
    assert overrides('') == {} and overrides("''") == {}
    assert overrides('true') == {'use_gripper_camera': True}
    assert overrides('False') == {'use_gripper_camera': False}
    with pytest.raises(ValueError, match='true or false'):
        overrides('yes please')


@pytest.mark.ros
@pytest.mark.parametrize('argument, expected', [('', True), ('false', False)])
def test_params_file_use_gripper_camera_reaches_the_node_unless_the_argument_is_given(
        ros_graph, tmp_path, argument, expected):
    """The node's parameters as launch_ros passes them: the file, then the override dict."""
    import yaml

    from deer_ros.ros_io.deer_node import DeerNode
    robot = tmp_path / 'robot.yaml'
    robot.write_text('/**/deer_node:\n  ros__parameters:\n    use_gripper_camera: true\n')
    args = ['--ros-args', '--params-file', str(robot)]
    overrides = launch_module().argument_overrides(argument)
    if overrides:   # launch_ros writes a dict to a file keyed by the node's full name
        extra = tmp_path / 'launch_params.yaml'
        extra.write_text(yaml.safe_dump({'/deer_node': {'ros__parameters': overrides}}))
        args += ['--params-file', str(extra)]
    node = ros_graph.add(DeerNode(context=ros_graph.context, cli_args=args))
    assert node.settings.use_gripper_camera is expected
    assert not node.parameter_refusal
