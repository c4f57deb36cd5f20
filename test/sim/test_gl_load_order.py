"""OSMesa rendering and the torch stack share one process (a test run, evaluate in-process)."""
import importlib.util
import os
import subprocess
import sys

import pytest

RENDER_THEN_IMPORT_TRITON = '''
from deer_ros.sim.cameras import use_headless_gl
use_headless_gl()
import mujoco
model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size="1"/></worldbody></mujoco>')
renderer = mujoco.Renderer(model, 16, 16)
renderer.update_scene(mujoco.MjData(model))
assert renderer.render().shape == (16, 16, 3)
import triton   # what torchvision, transformers and torch.compile load (via torch._dynamo)
print('ok')
'''


@pytest.mark.skipif(importlib.util.find_spec('triton') is None, reason='triton not installed')
def test_triton_loads_after_an_osmesa_render_without_a_segfault():
    # Without cameras.load_triton_before_gl: exit -11 (SIGSEGV) in libtriton's initialisers.
    env = dict(os.environ, MUJOCO_GL='osmesa', PYOPENGL_PLATFORM='osmesa')
    proc = subprocess.run([sys.executable, '-c', RENDER_THEN_IMPORT_TRITON], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == 'ok', proc.stderr[-2000:]
