"""Every deer_node setting, once: name, type, default, range, unit, live or read-only.

The ROS parameter declarations (deer_ros.ros_io.params), config/deer.yaml (render_yaml) and the
parameter tables (render_markdown) are all generated from the dataclasses below; nothing else
lists a parameter. How a setting is declared and checked is param_schema's; how files and tables
are written, param_docs'. Pure Python, no rclpy. About 300 lines, most of them the settings
themselves with their help: one list is the point, so they stay in one module.

A ROS parameter name is the dotted path of a field: NodeSettings.budget.avg_gflops is the parameter
`budget.avg_gflops`. Settings marked live take effect on the next frame; the others are read at
start-up (read-only parameters; change them in the params file and restart the node).
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from deer_ros.model.config import COMPILE_MODES, HEAD_STEPS, TRANSFORMS
from deer_ros.policies.config import EngineConfig, fit_problem
from deer_ros.ros_io.param_docs import parameter_table, params_file
from deer_ros.ros_io.param_schema import ParamSpec, build, check_value, coerce, group, \
    param_specs, setting, value_at


@dataclass(frozen=True)
class ModelSettings:
    """Which model to load (read at configure)."""

    preset: str = setting('tiny', 'Model preset (architecture) from deer_ros.model, e.g. tiny')
    checkpoint: str = setting(
        '', 'Checkpoint file or directory; empty = the preset with random weights from model.seed '
            '(for wiring a graph; a WARN diagnostic says so)')
    seed: int = setting(0, 'Seed of the random weights when model.checkpoint is empty',
                        min=0, max=2**31 - 1)
    calibration: str = setting(
        '', 'Calibration YAML (deer-ros calibrate) giving exit.thresholds when that is empty; '
            'empty = calibration.yaml next to model.checkpoint when present')
    device: str = setting('auto', 'Torch device: auto (cuda when available), cpu, cuda, cuda:N')
    cpu_threads: int = setting(
        0, 'Torch CPU threads (torch.set_num_threads); 0 = auto: half the cores, 1 to 4 (all '
           'cores oversubscribe: OpenMP stalls gave seconds-long frames on 2 cores)',
        min=0, max=256)
    precision: str = setting(
        'fp32', 'Autocast dtype of the model: fp32, fp16, bf16, or amp (fp16 on CUDA, fp32 on '
                'CPU). fp16/bf16 halve activation traffic on a GPU; on a CPU they are slower',
        choices=('fp32', 'fp16', 'bf16', 'amp'))
    transform: str = setting(
        'checkpoint', "Image resize: checkpoint = the one the checkpoint was trained with "
                      "(official DeeR: pil), pil = open_clip's eval transform exactly (PIL "
                      "bicubic), torch = torch's bicubic (faster; 1-2 levels off PIL, see "
                      "docs/official_checkpoints.md)", choices=('checkpoint', *TRANSFORMS))
    head_step: str = setting(
        'checkpoint', "Per-frame exit head: checkpoint = the one the checkpoint records "
                      "(official DeeR: exact), exact = nn.LSTM's own call (DeeR's float order: "
                      "its criterion values exactly), fused = the recurrent term shared by every "
                      "exit of a frame (cheaper; poses within ~7e-7, see "
                      "docs/official_checkpoints.md)", choices=('checkpoint', *HEAD_STEPS))
    compile: bool = setting(
        False, 'Compile each language-model layer with torch.compile (fused kernels, fewer '
               'launches; outputs checked against eager by deer-ros bench fastpath --compile). '
               'Compilation runs in configure (tens of seconds to minutes), never on a live '
               'frame')
    compile_mode: str = setting(
        'default', 'torch.compile mode when model.compile is true: default = each layer '
                   'compiled on its own; reduce-overhead = each exit segment compiled as one '
                   'CUDA graph (fewer launches on a GPU; a CPU compiles it without graphs). '
                   'deer-ros bench gpu checks it against eager', choices=COMPILE_MODES)


@dataclass(frozen=True)
class SyncSettings:
    """Pairing of the static and gripper camera frames by header stamp."""

    slop_s: float = setting(0.05, 'Largest stamp difference of a static/gripper pair', unit='s',
                            min=0.0, max=1.0, live=True)
    queue_size: int = setting(5, 'Frames kept per camera for pairing (bounded memory)',
                              min=1, max=100)


def engine_setting(name: str, description: str = '') -> Any:
    """A setting feeding EngineConfig.<name>: default, range, unit and live from its metadata."""
    meta = EngineConfig.describe()[name]
    default = meta['default']
    return setting(tuple(default) if isinstance(default, list) else default,
                   description or meta['description'], unit=meta['unit'] or '',
                   min=meta['min'], max=meta['max'], live=meta['live'],
                   choices=meta['choices'] or (), engine=name)


@dataclass(frozen=True)
class ExitSettings:
    """Early-exit policy (DeeR)."""

    policy: str = engine_setting('policy', 'Exit policy: deer (dynamic early exit by thresholds),'
                                           ' fixed (exit.fixed_exit) or full (deepest exit)')
    criterion: str = engine_setting('criterion')
    thresholds: Tuple[float, ...] = engine_setting(
        'thresholds', 'DeeR threshold per exit (exit iff the consistency value <= threshold); '
                      "empty = the checkpoint's calibration; the deepest allowed exit always "
                      'fires')
    fixed_exit: int = engine_setting('fixed_exit')
    max_exit: int = engine_setting('max_exit')


@dataclass(frozen=True)
class SkipSettings:
    """Layer skipping (DySL-style) below the exit taken."""

    enabled: bool = engine_setting('skip_enabled')
    verify: bool = engine_setting('skip_verify')
    continuity_min: float = engine_setting(
        'skip_continuity_min', 'Skip only while the trajectory is continuous: C_t (minus the '
                               'mean pose step between the last 5 actions) >= this (a compute '
                               'budget scales it with the controller)')
    verify_threshold: float = engine_setting(
        'skip_verify_threshold', 'Post guidance: rerun without skipping when the skipped '
                                 "pass's action and the static layer's differ by more (a "
                                 'compute budget scales it with the controller)')


@dataclass(frozen=True)
class BudgetSettings:
    """Compute, latency and memory budgets the engine keeps (0 = none)."""

    avg_gflops: float = engine_setting('budget_avg_gflops')
    avg_fraction: float = engine_setting(
        'budget_avg_fraction', 'Target average LLM compute as a fraction of the full model of '
                               'the frames actually run (each frame: the current '
                               "instruction's full-depth cost); 0 = off; ignored when "
                               'budget.avg_gflops is set')
    gain: float = engine_setting('budget_gain')
    latency_ms: float = engine_setting('budget_latency_ms')
    gpu_memory_mb: float = engine_setting('budget_gpu_memory_mb')
    memory_reserve_mb: float = engine_setting('memory_reserve_mb')


@dataclass(frozen=True)
class InstructionSettings:
    """Limits of the instruction input."""

    max_chars: int = setting(1000, 'Longest instruction acted on; a longer one is rejected (the '
                                   'node stops acting and says why in /diagnostics)',
                             unit='characters', min=1, max=1000000, live=True)


@dataclass(frozen=True)
class SafetySettings:
    """Limits applied to every command after scaling."""

    max_translation_m: float = setting(0.03, 'Largest translation per step (vector norm)',
                                       unit='m', min=0.0, max=1.0, live=True)
    max_rotation_rad: float = setting(0.08, 'Largest rotation per step, per axis', unit='rad',
                                      min=0.0, max=math.pi, live=True)
    stale_image_s: float = setting(0.5, 'Camera older than this: publish one hold, then nothing',
                                   unit='s', min=0.01, max=60.0, live=True)


@dataclass(frozen=True)
class ActionSettings:
    """Mapping of the model's [-1, 1] deltas to metres / radians."""

    frame_id: str = setting('world', 'Frame the deltas are expressed in (header.frame_id)',
                            live=True)
    translation_scale_m: float = setting(0.02, 'Metres per model unit of translation',
                                         unit='m', min=0.0, max=1.0, live=True)
    rotation_scale_rad: float = setting(0.05, 'Radians per model unit of rotation', unit='rad',
                                        min=0.0, max=math.pi, live=True)
    gripper_open_positive: bool = setting(True, 'true: +1 opens, -1 closes; false flips both',
                                          live=True)


@dataclass(frozen=True)
class TwistSettings:
    """The MoveIt Servo output (action/twist)."""

    command_in_type: str = setting(
        'speed_units', 'speed_units: m/s and rad/s (delta / control period); unitless: the '
                       "clamped model deltas in [-1, 1] (Servo's own scales apply)", live=True,
        choices=('speed_units', 'unitless'))


@dataclass(frozen=True)
class PublishSettings:
    """Which command outputs are published (action and telemetry always are)."""

    twist: bool = setting(True, 'Publish action/twist (geometry_msgs/TwistStamped)', live=True)
    gripper: bool = setting(True, 'Publish action/gripper (std_msgs/Float64) on change',
                            live=True)
    array: bool = setting(False, 'Publish action/array (std_msgs/Float64MultiArray)', live=True)


@dataclass(frozen=True)
class RobotStateSettings:
    """The robot-state input; used only when the loaded model's head takes the state."""

    topic: str = setting('robot_state', 'Robot state topic (sensor_msgs/JointState, entries '
                                        'named ee_x, ee_y, ee_z, gripper_opening)')
    max_age_s: float = setting(0.5, 'Hold instead of acting when the newest robot state is '
                                    'older than this (0: any age)', unit='s', min=0.0, max=60.0)


@dataclass(frozen=True)
class RunSettings:
    """The ~/run action (deer_ros/action/RunInstruction): when a goal has succeeded."""

    success_topic: str = setting(
        '', 'Topic whose message ends a ~/run goal as succeeded (std_msgs/Bool data true, or '
            'deer_ros/EpisodeStatus success true; done without success: failed), per '
            'run.success_type; empty = none: a goal ends at its time limit (then succeeded), '
            'or when cancelled or stopped')
    success_type: str = setting(
        'bool', 'Message type of run.success_topic: bool (std_msgs/Bool) or episode_status '
                "(deer_ros/EpisodeStatus, e.g. sim_node's episode_status)",
        choices=('bool', 'episode_status'))
    time_limit_s: float = setting(
        0.0, 'Time limit of a ~/run goal that gives none (0 = none)', unit='s', min=0.0,
        max=86400.0)


@dataclass(frozen=True)
class NodeSettings:
    """All deer_node settings; nested groups become dotted parameter names."""

    control_rate_hz: float = setting(10.0, 'Actions per second (one inference per period)',
                                     unit='Hz', min=0.5, max=100.0, live=True)
    use_gripper_camera: bool = setting(False, 'Also subscribe to camera/gripper/image_raw and '
                                              'pair it with the static camera')
    image_transport: str = setting(
        'raw', 'raw: sensor_msgs/Image on .../image_raw; compressed: sensor_msgs/CompressedImage '
               'on .../image_raw/compressed', choices=('raw', 'compressed'))
    dry_run: bool = setting(False, 'Compute and publish telemetry, but publish no commands',
                            live=True)
    autostart: bool = setting(False, 'Walk configure + activate at start-up (false on a real arm)')
    model: ModelSettings = group(ModelSettings)
    sync: SyncSettings = group(SyncSettings)
    exit: ExitSettings = group(ExitSettings)
    skip: SkipSettings = group(SkipSettings)
    budget: BudgetSettings = group(BudgetSettings)
    instruction: InstructionSettings = group(InstructionSettings)
    safety: SafetySettings = group(SafetySettings)
    action: ActionSettings = group(ActionSettings)
    twist: TwistSettings = group(TwistSettings)
    publish: PublishSettings = group(PublishSettings)
    robot_state: RobotStateSettings = group(RobotStateSettings)
    run: RunSettings = group(RunSettings)

    @property
    def control_period_s(self) -> float:
        """Seconds between actions."""
        return 1.0 / self.control_rate_hz


SPECS: Dict[str, ParamSpec] = {s.name: s for s in param_specs(NodeSettings)}


def to_flat(settings: NodeSettings) -> Dict[str, Any]:
    """{dotted name: value} of every parameter."""
    return {name: value_at(settings, name) for name in SPECS}


def from_flat(values: Mapping[str, Any], base: Optional[NodeSettings] = None) -> NodeSettings:
    """Settings from {dotted name: value}; names not given keep base's (or the default) value."""
    flat = to_flat(base or NodeSettings())
    for name, value in values.items():
        if name not in SPECS:
            raise KeyError(f'unknown parameter {name!r}')
        flat[name] = coerce(SPECS[name], value)
    return build(NodeSettings, flat)


def validate(settings: NodeSettings) -> List[str]:
    """Every reason the settings are unusable (empty list = valid)."""
    flat = to_flat(settings)
    reasons = [r for r in (check_value(SPECS[n], v) for n, v in flat.items()) if r]
    if not settings.action.frame_id.strip():
        reasons.append('action.frame_id: must not be empty (MoveIt Servo rejects an empty frame)')
    if settings.model.device not in ('auto', 'cpu', 'cuda') and not (
            settings.model.device.startswith('cuda:') and settings.model.device[5:].isdigit()):
        reasons.append(f'model.device: {settings.model.device!r} is not auto, cpu, cuda or '
                       'cuda:N')
    if not reasons:
        try:
            engine_config(settings)          # EngineConfig validates on construction
        except ValueError as exc:
            reasons.append(f'engine: {exc}')
    return reasons


def model_reason(settings: NodeSettings, num_exits: int) -> Optional[str]:
    """Why settings do not fit a loaded model with num_exits exits, or None.

    The rule is the engine's (policies.config.fit_problem), named by parameter. Empty
    exit.thresholds pass: the calibration's (or the loaded ones) apply, sized for the model.
    """
    cfg = engine_config(settings)
    if not cfg.thresholds:
        cfg = dataclasses.replace(cfg, thresholds=(0.0,) * num_exits)
    problem = fit_problem(cfg, num_exits)
    if problem is None:
        return None
    name = next((n for n, spec in SPECS.items() if spec.engine == problem[0]), problem[0])
    return f'{name}: {problem[1]}'


def engine_changes(flat: Mapping[str, Any]) -> Dict[str, Any]:
    """{EngineConfig field: value} for the engine-facing parameters among flat."""
    out = {}
    for name, value in flat.items():
        spec = SPECS.get(name)
        if spec is not None and spec.engine:
            value = coerce(spec, value)
            out[spec.engine] = list(value) if isinstance(value, tuple) else value
    return out


def engine_config(settings: NodeSettings, base: Optional[EngineConfig] = None) -> EngineConfig:
    """The EngineConfig these settings ask for (base supplies the fields without a parameter)."""
    return dataclasses.replace(base or EngineConfig(), **engine_changes(to_flat(settings)))


YAML_HEADER = """\
# deer_node parameters with their defaults (generated from deer_ros/ros_io/settings.py by
# deer_ros.ros_io.settings.render_yaml(); test/ros_io/test_settings.py keeps the two in sync).
# [live]: takes effect on the next frame (ros2 param set). [read-only]: restart to change.
# Doubles are written with a decimal point (ROS rejects 150 for a double parameter).
"""


def render_yaml(node_name: str = 'deer_node') -> str:
    """config/deer.yaml: deer_node's commented params file."""
    return params_file(list(SPECS.values()), node_name, YAML_HEADER)


def render_markdown() -> str:
    """The parameter table of docs/node.md and the README."""
    return parameter_table(list(SPECS.values()))


if __name__ == '__main__':   # python -m deer_ros.ros_io.settings > config/deer.yaml
    print(render_yaml(), end='')
