"""The robot route: `colcon build` installs messages, the Python package and executables."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_colcon_build_installs_a_complete_ros_package(tmp_path):
    src = tmp_path / 'src' / 'deer_ros'
    ignore = shutil.ignore_patterns('.venv', 'build', '.git', 'runs', '__pycache__', '*.egg-info')
    shutil.copytree(ROOT, src, ignore=ignore)
    prefix = sys.prefix
    env = dict(os.environ, AMENT_PREFIX_PATH=prefix, CMAKE_PREFIX_PATH=prefix)
    result = subprocess.run(
        [os.path.join(prefix, 'bin', 'colcon'), 'build', '--base-paths', 'src',
         '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / 'install' / 'deer_ros'
    for exe in ('deer_node', 'sim_node', 'recorder_node', 'deer-ros'):
        assert os.access(install / 'lib' / 'deer_ros' / exe, os.X_OK), exe
    site = next((install / 'lib').glob('python3*/site-packages/deer_ros'))
    assert (site / 'msg' / '__init__.py').exists()
    assert (site / 'action' / '__init__.py').exists(), 'the ~/run action'
    assert 'extend_path' in (site / '__init__.py').read_text(), 'our __init__ must win'
    assert (install / 'share' / 'deer_ros' / 'package.xml').exists()
    assert (install / 'share' / 'deer_ros' / 'msg' / 'ActionCommand.msg').exists()
