"""Every deer_node setting, once: name, type, default, range, unit, live or read-only.

The ROS parameter declarations (deer_ros.ros_io.params) and config/deer.yaml (render_yaml) are both
generated from the dataclasses below; nothing else lists a parameter. Pure Python, no rclpy.

A ROS parameter name is the dotted path of a field: NodeSettings.budget.avg_gflops is the parameter
`budget.avg_gflops`. Settings marked live take effect on the next frame; the others are read at
start-up (read-only parameters; change them in the params file and restart the node).
"""
import dataclasses
import math
import textwrap
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from deer_ros.model.config import HEAD_STEPS, TRANSFORMS
from deer_ros.policies.config import EngineConfig, fit_problem

KINDS = {bool: 'bool', int: 'integer', float: 'double', str: 'string',
         Tuple[float, ...]: 'double_array', Tuple[str, ...]: 'string_array'}
RESTART_NOTE = 'read-only: restart to change'


def setting(default: Any, description: str, *, unit: str = '', min: Optional[float] = None,
            max: Optional[float] = None, live: bool = False, choices: Tuple[str, ...] = (),
            engine: str = '') -> Any:
    """A dataclass field carrying a parameter's metadata.

    engine names the deer_ros.policies EngineConfig field the setting feeds (live updates go
    through engine.update_config).
    """
    meta = dict(description=description, unit=unit, min=min, max=max, live=live,
                choices=tuple(choices), engine=engine)
    return field(default=default, metadata=meta)


def group(cls: type) -> Any:
    """A nested group of settings (a parameter namespace such as `budget.`)."""
    return field(default_factory=cls, metadata={'group': True})


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


def setting_like(cls: type, name: str, description: str = '', live: bool = False) -> Any:
    """A setting with the default, unit, range and choices of cls's field `name`.

    For another node's parameter of the same meaning, e.g. sim_node's action scaling, which is
    deer_node's action.*.
    """
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    m = f.metadata
    return setting(f.default, description or m['description'], unit=m['unit'], min=m['min'],
                   max=m['max'], live=live, choices=m['choices'], engine=m['engine'])


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

    @property
    def control_period_s(self) -> float:
        """Seconds between actions."""
        return 1.0 / self.control_rate_hz


@dataclass(frozen=True)
class ParamSpec:
    """One parameter as ROS and the YAML file see it."""

    name: str                 # dotted ROS parameter name
    kind: str                 # bool | integer | double | string | double_array | string_array
    default: Any
    description: str
    unit: str
    min: Optional[float]
    max: Optional[float]
    live: bool
    choices: Tuple[str, ...]
    engine: str               # EngineConfig field fed by this parameter, '' for none

    @property
    def summary(self) -> str:
        """Description with unit, range, choices and live/read-only, for descriptors and YAML."""
        text = self.description.rstrip('.')
        parts = [text[:1].upper() + text[1:] + '.']
        if self.choices:
            parts.append('One of: ' + ', '.join(self.choices) + '.')
        if self.min is not None or self.max is not None:
            parts.append(f'Range {_num(self.min)}..{_num(self.max)}' + (
                f' {self.unit}.' if self.unit else '.'))
        elif self.unit:
            parts.append(f'Unit: {self.unit}.')
        parts.append('[live]' if self.live else f'[{RESTART_NOTE}]')
        return ' '.join(parts)


def _num(value: Optional[float]) -> str:
    if value is None:
        return ''
    return f'{value:g}' if isinstance(value, float) else str(value)


def param_specs(cls: type = NodeSettings, prefix: str = '') -> List[ParamSpec]:
    """All parameters of a settings dataclass, in declaration order, groups flattened."""
    hints = typing.get_type_hints(cls)
    specs: List[ParamSpec] = []
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if f.metadata.get('group'):
            specs.extend(param_specs(hints[f.name], name + '.'))
            continue
        m = f.metadata
        specs.append(ParamSpec(name, KINDS[hints[f.name]], f.default, m['description'],
                               m['unit'], m['min'], m['max'], m['live'], m['choices'],
                               m['engine']))
    return specs


SPECS: Dict[str, ParamSpec] = {s.name: s for s in param_specs()}


def to_flat(settings: NodeSettings) -> Dict[str, Any]:
    """{dotted name: value} of every parameter."""
    out: Dict[str, Any] = {}
    for name in SPECS:
        obj: Any = settings
        for part in name.split('.'):
            obj = getattr(obj, part)
        out[name] = obj
    return out


def coerce(spec: ParamSpec, value: Any) -> Any:
    """Convert a parameter value to the setting's Python type (ROS ints for doubles, arrays)."""
    if spec.kind == 'double_array':
        return tuple(float(v) for v in (value if value is not None else ()))
    if spec.kind == 'string_array':
        return tuple(str(v) for v in (value if value is not None else ()))
    if spec.kind == 'double' and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_flat(values: Mapping[str, Any], base: Optional[NodeSettings] = None) -> NodeSettings:
    """Settings from {dotted name: value}; names not given keep base's (or the default) value."""
    flat = to_flat(base or NodeSettings())
    for name, value in values.items():
        if name not in SPECS:
            raise KeyError(f'unknown parameter {name!r}')
        flat[name] = coerce(SPECS[name], value)
    return _build(NodeSettings, flat, '')


def _build(cls: type, flat: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get('group'):
            kwargs[f.name] = _build(hints[f.name], flat, prefix + f.name + '.')
        else:
            kwargs[f.name] = flat[prefix + f.name]
    return cls(**kwargs)


def check_value(spec: ParamSpec, value: Any) -> Optional[str]:
    """Why value is not acceptable for spec, or None. Ranges are inclusive."""
    if spec.kind == 'double_array':
        values = list(value or ())
    elif spec.kind in ('double', 'integer'):
        values = [value]
    else:
        values = []
    for v in values:
        if not math.isfinite(float(v)):
            return f'{spec.name}: {v} is not a finite number'
        if spec.min is not None and v < spec.min or spec.max is not None and v > spec.max:
            return (f'{spec.name}: {v:g} is outside {_num(spec.min)}..{_num(spec.max)}'
                    f'{" " + spec.unit if spec.unit else ""}')
    if spec.choices and value not in spec.choices:
        return f'{spec.name}: {value!r} is not one of {", ".join(spec.choices)}'
    return None


def field_problems(obj: Any) -> List[str]:
    """check_value's reason for every field of a settings dataclass instance that has one."""
    reasons = []
    for spec in param_specs(type(obj)):
        value = obj
        for part in spec.name.split('.'):
            value = getattr(value, part)
        reason = check_value(spec, value)
        if reason:
            reasons.append(reason)
    return reasons


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


# ---------------------------------------------------------------------------- YAML generation
YAML_HEADER = """\
# deer_node parameters with their defaults (generated from deer_ros/ros_io/settings.py by
# deer_ros.ros_io.settings.render_yaml(); test/ros_io/test_settings.py keeps the two in sync).
# [live]: takes effect on the next frame (ros2 param set). [read-only]: restart to change.
# Doubles are written with a decimal point (ROS rejects 150 for a double parameter).
"""


def yaml_scalar(kind: str, value: Any) -> str:
    """A value as the ROS YAML parser types it (doubles always with a decimal point)."""
    if kind == 'bool':
        return 'true' if value else 'false'
    if kind == 'integer':
        return str(int(value))
    if kind == 'double':
        text = repr(float(value))
        if 'e' in text or 'inf' in text or 'nan' in text:
            text = f'{float(value):.12f}'.rstrip('0')
        return text if '.' in text else text + '.0'
    if kind == 'double_array':
        return '[' + ', '.join(yaml_scalar('double', v) for v in value) + ']'
    if kind == 'string_array':
        return '[' + ', '.join(str(v) for v in value) + ']'
    return '"' + str(value).replace('\\', '\\\\').replace('"', '\\"') + '"'


def render_yaml(node_name: str = 'deer_node', specs: Optional[List[ParamSpec]] = None) -> str:
    """The commented params file for node_name (`/**/` matches it in any namespace)."""
    lines = [YAML_HEADER.rstrip('\n'), f'/**/{node_name}:', '  ros__parameters:']
    current: Tuple[str, ...] = ()
    for spec in specs or list(SPECS.values()):
        *path, leaf = spec.name.split('.')
        if tuple(path) != current:
            common = 0
            while common < min(len(path), len(current)) and path[common] == current[common]:
                common += 1
            for depth in range(common, len(path)):
                lines.append('    ' + '  ' * depth + path[depth] + ':')
            current = tuple(path)
        indent = '    ' + '  ' * len(path)
        lines.extend(textwrap.wrap(spec.summary, 99, initial_indent=indent + '# ',
                                   subsequent_indent=indent + '# '))
        value = yaml_scalar(spec.kind, spec.default)
        if spec.kind == 'double_array' and not spec.default:
            # rcl's YAML parser cannot type an empty list: leave it commented out.
            lines.append(f'{indent}# {leaf}: [0.5, 0.5]   # example; empty by default')
        else:
            lines.append(f'{indent}{leaf}: {value}')
    return '\n'.join(lines) + '\n'


def render_markdown(specs: Optional[List[ParamSpec]] = None) -> str:
    """The parameter table of docs/node.md (name, type, default, range, unit, live, meaning).

    specs: another node's parameters (sim_node's for docs/simulation.md); default deer_node's.
    """
    rows = ['| Parameter | Type | Default | Range / choices | Unit | Live | Description |',
            '|---|---|---|---|---|---|---|']
    for spec in specs or list(SPECS.values()):
        if spec.choices:
            allowed = ', '.join(f'`{c}`' for c in spec.choices)
        elif spec.min is not None or spec.max is not None:
            allowed = f'{_num(spec.min)} .. {_num(spec.max)}'
        else:
            allowed = ''
        default = yaml_scalar(spec.kind, spec.default)
        kind = spec.kind.replace('_array', '[]')
        rows.append(f'| `{spec.name}` | {kind} | `{default}` | {allowed} | {spec.unit} | '
                    f'{"yes" if spec.live else "no"} | {spec.description.replace("|", "/")} |')
    return '\n'.join(rows) + '\n'


if __name__ == '__main__':   # python -m deer_ros.ros_io.settings > config/deer.yaml
    print(render_yaml(), end='')
