"""Lint as ROS packages do: flake8 at 99 columns (ament_flake8), docstrings (pep257 via ruff)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGETS = ['deer_ros', 'test', 'launch',
           'scripts/deer_node', 'scripts/sim_node', 'scripts/recorder_node',
           'scripts/deer-ros']


def _run(*cmd):
    return subprocess.run([sys.executable, '-m', *cmd], cwd=ROOT, capture_output=True, text=True)


def test_flake8_clean():
    result = _run('flake8', *[t for t in TARGETS if (ROOT / t).exists()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_docstrings_and_style_clean():
    result = _run('ruff', 'check', *[t for t in TARGETS if (ROOT / t).exists()])
    assert result.returncode == 0, result.stdout + result.stderr
