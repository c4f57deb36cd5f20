"""launch/sim_demo.launch.py: compiles here, builds its description where launch_ros exists."""
import importlib.util
import pathlib
import py_compile

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / 'launch' / 'sim_demo.launch.py'


def _module():
    spec = importlib.util.spec_from_file_location('sim_demo_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_compiles_and_its_arguments_match_the_demo_defaults():
    py_compile.compile(str(LAUNCH), doraise=True)
    from deer_ros.evaluation.demo import DEMO_TASKS
    args = {name: default for name, default, _ in _module().LAUNCH_ARGUMENTS}
    assert args['tasks'] == '[' + ', '.join(DEMO_TASKS) + ']'
    assert float(args['budget_fraction']) == 0.33 and '.' in args['control_rate_hz']


def test_launch_description_builds_with_launch_ros(monkeypatch, tmp_path):
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    import ament_index_python.packages as index
    monkeypatch.setattr(index, 'get_package_share_directory', lambda name: str(tmp_path))
    description = _module().generate_launch_description()
    assert len(description.entities) >= 2
