"""Parameters files and environment for the sim_node + deer_node graph (pure: no rclpy).

Used by `deer-ros demo`, `deer-ros evaluate --ros` and (by the same names) the launch file.
"""
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, MutableMapping, Optional, Sequence, Tuple

import yaml

from deer_ros.ros_io.settings import SPECS

SIM_NODE, DEER_NODE = 'sim_node', 'deer_node'
PRIVATE_DOMAIN_BASE, PRIVATE_DOMAIN_SPAN = 30, 60


@dataclass(frozen=True)
class GraphConfig:
    """The two nodes' settings for one closed-loop run."""

    tasks: Tuple[str, ...]
    episodes_per_task: int = 1
    seed: int = 0
    max_steps: int = 0                      # 0: the task's limit
    image_size: int = 64                    # the shipped model was trained on 64 px
    use_gripper_camera: bool = True
    checkpoint: str = ''                    # empty: model.preset with random weights
    preset: str = 'tiny'
    model_seed: int = 0
    calibration: str = ''                   # model.calibration (empty: next to checkpoint)
    control_rate_hz: float = 30.0           # ticks faster than the loop: compute-bound
    stale_image_s: float = 5.0              # generous: a loaded 2-core machine is slow
    engine: Dict[str, Any] = field(default_factory=dict)   # EngineConfig overrides
    torch_threads: int = 1
    idle_publish_rate_hz: float = 2.0       # sim_node republishes an unchanged state this often

    @property
    def planned_episodes(self) -> int:
        """Episodes sim_node runs before its schedule starts over."""
        return len(self.tasks) * self.episodes_per_task


def engine_parameters(engine: Mapping[str, Any]) -> Dict[str, Any]:
    """{deer_node parameter: value} for EngineConfig overrides (ValueError if one has none)."""
    by_field = {spec.engine: spec for spec in SPECS.values() if spec.engine}
    out: Dict[str, Any] = {}
    for name, value in engine.items():
        if name not in by_field:
            raise ValueError(f'EngineConfig.{name} has no deer_node parameter')
        spec = by_field[name]
        if spec.kind == 'double_array':
            value = [float(v) for v in value]
            if not value:
                continue   # rcl cannot type an empty list; empty is the default anyway
        elif spec.kind == 'double':
            value = float(value)
        out[spec.name] = value
    return out


def sim_parameters(cfg: GraphConfig) -> Dict[str, Any]:
    """sim_node's parameters."""
    return {'tasks': list(cfg.tasks), 'episodes_per_task': int(cfg.episodes_per_task),
            'seed': int(cfg.seed), 'max_steps': int(cfg.max_steps),
            'image_size': int(cfg.image_size), 'autostart': True,
            'idle_publish_rate_hz': float(cfg.idle_publish_rate_hz)}


def deer_parameters(cfg: GraphConfig) -> Dict[str, Any]:
    """deer_node's parameters (flat dotted names)."""
    flat: Dict[str, Any] = {
        'autostart': True, 'control_rate_hz': float(cfg.control_rate_hz),
        'use_gripper_camera': bool(cfg.use_gripper_camera),
        'model.checkpoint': cfg.checkpoint, 'model.preset': cfg.preset,
        'model.seed': int(cfg.model_seed), 'model.calibration': cfg.calibration,
        'model.device': 'cpu', 'model.cpu_threads': 1,
        'safety.stale_image_s': float(cfg.stale_image_s)}
    flat.update(engine_parameters(cfg.engine))
    return flat


def nest(flat: Mapping[str, Any]) -> Dict[str, Any]:
    """{'a.b': 1} -> {'a': {'b': 1}} (the params-file layout)."""
    out: Dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        *path, leaf = name.split('.')
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def params_yaml(node_name: str, flat: Mapping[str, Any]) -> str:
    """A ROS 2 params file for one node (doubles keep their decimal point)."""
    return yaml.safe_dump({f'/**/{node_name}': {'ros__parameters': nest(flat)}},
                          sort_keys=False, default_flow_style=False)


def private_domain_id(pid: Optional[int] = None) -> int:
    """A ROS_DOMAIN_ID unlikely to collide with other runs on this machine."""
    return PRIVATE_DOMAIN_BASE + (os.getpid() if pid is None else pid) % PRIVATE_DOMAIN_SPAN


def graph_environment(env: MutableMapping[str, str], torch_threads: int = 1) -> Dict[str, str]:
    """The nodes' environment; sets a private domain and loopback discovery in env if unset.

    The children also get one-thread limits, headless GL and unbuffered output.
    """
    env.setdefault('ROS_DOMAIN_ID', str(private_domain_id()))
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    child = dict(env)
    for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
        child.setdefault(name, str(torch_threads))
    child.setdefault('MUJOCO_GL', 'osmesa')
    child.setdefault('PYOPENGL_PLATFORM', 'osmesa')
    child['PYTHONUNBUFFERED'] = '1'
    return child


def node_commands(params: Mapping[str, str], python: str) -> Dict[str, Sequence[str]]:
    """The command line of each node given {node: params file path}."""
    modules = {SIM_NODE: 'deer_ros.sim.sim_node', DEER_NODE: 'deer_ros.ros_io.deer_node'}
    return {name: [python, '-m', modules[name], '--ros-args', '--params-file', path]
            for name, path in params.items()}
