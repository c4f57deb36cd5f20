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


def _defaults(share='/share'):
    return {name: default.replace('<share>', share)
            for name, default, _ in _module().LAUNCH_ARGUMENTS}


def test_launch_file_compiles_and_its_arguments_match_the_demo_defaults():
    py_compile.compile(str(LAUNCH), doraise=True)
    from deer_ros.evaluation.demo import DEMO_TASKS
    args = _defaults()
    assert args['tasks'] == '[' + ', '.join(DEMO_TASKS) + ']'
    assert float(args['budget_fraction']) == 0.33


def test_launch_passes_the_parameters_deer_ros_demo_passes():
    """Same seeds (held out), image size, threads, budget and episodes as `deer-ros demo`."""
    from deer_ros.evaluation.demo import DemoConfig
    from deer_ros.evaluation.graph_params import deer_parameters, sim_parameters
    from deer_ros.evaluation.model_spec import ModelSpec
    sim, deer = _module().demo_parameters(_defaults())
    demo = DemoConfig(model=ModelSpec('/share/models/mini-metaworld')).graph()
    assert sim == dict(sim_parameters(demo), stop_after_schedule=True)
    assert deer == deer_parameters(demo)
    assert (sim['seed'], sim['image_size'], deer['model.cpu_threads']) == (1000, 64, 1)
    assert sim['max_steps'] == 0


@pytest.mark.parametrize('text', ['none', 'None', "''", '""', '', '  '])
def test_empty_checkpoint_on_the_command_line_means_random_weights(text):
    module = _module()
    assert module.checkpoint_value(text) == ''
    sim, deer = module.demo_parameters(dict(_defaults(), checkpoint=text))
    assert deer['model.checkpoint'] == '' and sim['max_steps'] == 40   # as the demo
    assert module.checkpoint_value(' /m/ckpt ') == '/m/ckpt'


def test_launch_description_builds_with_launch_ros(monkeypatch, tmp_path):
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    import ament_index_python.packages as index
    monkeypatch.setattr(index, 'get_package_share_directory', lambda name: str(tmp_path))
    description = _module().generate_launch_description()
    assert len(description.entities) >= 2
