"""Two-camera rendering of a MuJoCo scene (static scene camera + wrist camera), uint8 RGB.

Rendering is software OpenGL on our machines (MUJOCO_GL=osmesa). Shadows, reflections and
multisampling are off: with them one 96x96 frame costs ~150 ms, without them ~10 ms.
"""
import ctypes
import glob
import importlib.util
import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

_LOADED_BEFORE_GL: Dict[str, Optional[ctypes.CDLL]] = {}   # see load_triton_before_gl


def use_headless_gl() -> None:
    """Default MuJoCo to OSMesa (software, no display) unless the user chose a backend.

    Must run before mujoco is first imported (MuJoCo reads MUJOCO_GL at import, and loads the GL
    library then).
    """
    os.environ.setdefault('MUJOCO_GL', 'osmesa')
    os.environ.setdefault('PYOPENGL_PLATFORM', os.environ['MUJOCO_GL'])
    load_triton_before_gl()


def load_triton_before_gl() -> None:
    """Load Triton's native library (when installed) before the GL library, once per process.

    Why: `import mujoco` with OSMesa makes PyOpenGL load libOSMesa with RTLD_GLOBAL, and with it
    Mesa's llvmpipe dependency, the system libLLVM (15 here), joins the process's global symbol
    scope. libtriton.so carries its own, newer LLVM and exports those symbols without binding
    them to itself; loaded after that (anything importing torch._dynamo loads it: torchvision,
    transformers, torch.compile), its static initialisers' calls (llvm::cl::Option::addArgument
    registering LLVM's options) resolve to libLLVM-15's functions, which then work on Triton's
    objects of another layout: a segfault in StringMapImpl::LookupBucketFor while importing
    torchvision (`pytest test/sim test/ros_io/test_settings.py` in one process crashed that way).
    Loaded first, libtriton binds to its own LLVM; it is loaded RTLD_LOCAL, so Mesa still binds to
    libLLVM-15. Only the shared library is loaded (about 30 ms), not the triton package.
    """
    if _LOADED_BEFORE_GL:
        return
    _LOADED_BEFORE_GL['tried'] = None
    spec = importlib.util.find_spec('triton')
    if spec is None or spec.origin is None:
        return
    for path in glob.glob(os.path.join(os.path.dirname(spec.origin), '_C', 'libtriton*.so')):
        _LOADED_BEFORE_GL[path] = ctypes.CDLL(path, mode=os.RTLD_LOCAL)


@dataclass(frozen=True)
class FreeCameraSpec:
    """A camera defined by the look-at point and spherical offset (MuJoCo free camera)."""

    lookat: Tuple[float, float, float] = (0.0, 0.65, 0.1)   # world frame, metres
    azimuth_deg: float = -150.0                             # front-right of the robot
    elevation_deg: float = -45.0
    distance_m: float = 1.25


STATIC_CAMERA = FreeCameraSpec()
GRIPPER_CAMERA = 'gripperPOV'     # MetaWorld's camera on the hand, looking past the fingers


class CameraRig:
    """Renders the static and gripper cameras of one MuJoCo model.

    Only one rig should exist per process at a time with OSMesa: close() it before creating the
    next (another live rig's GL context corrupts the images).
    """

    def __init__(self, model, static_size: int = 96, gripper_size: int = 96,
                 gripper_camera: str = GRIPPER_CAMERA, static: FreeCameraSpec = STATIC_CAMERA):
        use_headless_gl()
        import mujoco
        self._mujoco = mujoco
        model.vis.quality.offsamples = 0
        size = max(static_size, gripper_size)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
        model.vis.global_.offheight = max(model.vis.global_.offheight, size)
        self.static_size, self.gripper_size = static_size, gripper_size
        self._static_renderer = mujoco.Renderer(model, static_size, static_size)
        self._gripper_renderer = (self._static_renderer if gripper_size == static_size
                                  else mujoco.Renderer(model, gripper_size, gripper_size))
        renderers = {id(r): r for r in (self._static_renderer, self._gripper_renderer)}
        for renderer in renderers.values():
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
                renderer.scene.flags[flag] = False
        self._static_camera = mujoco.MjvCamera()
        self._static_camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._static_camera.lookat[:] = static.lookat
        self._static_camera.azimuth = static.azimuth_deg
        self._static_camera.elevation = static.elevation_deg
        self._static_camera.distance = static.distance_m
        self._gripper_camera = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA,
                                                 gripper_camera)
        if self._gripper_camera < 0:
            raise ValueError(f'model has no camera named {gripper_camera!r}')

    def render(self, data) -> Tuple[np.ndarray, np.ndarray]:
        """(static (S, S, 3), gripper (G, G, 3)) uint8 RGB of the current state."""
        self._static_renderer.update_scene(data, camera=self._static_camera)
        static = self._static_renderer.render().copy()
        self._gripper_renderer.update_scene(data, camera=self._gripper_camera)
        gripper = self._gripper_renderer.render().copy()
        return static, gripper

    def close(self) -> None:
        """Free the GL contexts."""
        if self._gripper_renderer is not self._static_renderer:
            self._gripper_renderer.close()
        self._static_renderer.close()
