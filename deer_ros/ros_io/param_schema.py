"""How a setting is declared, described and checked: the schema every node's settings use.

A setting is a dataclass field made by setting() (or setting_like()), whose metadata carries the
description, unit, range, choices and live flag; group() nests a settings dataclass as a
parameter namespace. param_specs() flattens such a dataclass into ParamSpecs, from which come the
ROS parameter declarations (deer_ros.ros_io.params), the params files and tables
(deer_ros.ros_io.param_docs) and the range checks below. Pure Python, no rclpy.
"""
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Mapping, Optional, Tuple

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
            parts.append(f'Range {format_number(self.min)}..{format_number(self.max)}' + (
                f' {self.unit}.' if self.unit else '.'))
        elif self.unit:
            parts.append(f'Unit: {self.unit}.')
        parts.append('[live]' if self.live else f'[{RESTART_NOTE}]')
        return ' '.join(parts)


def format_number(value: Optional[float]) -> str:
    """A bound as the docs write it: 1e-05 for a float, 100 for an int, '' for none."""
    if value is None:
        return ''
    return f'{value:g}' if isinstance(value, float) else str(value)


def param_specs(cls: type, prefix: str = '') -> List[ParamSpec]:
    """All parameters of a settings dataclass, in declaration order, groups flattened.

    A field not made by setting() (a benchmark's dict of model overrides) is no parameter.
    """
    hints = typing.get_type_hints(cls)
    specs: List[ParamSpec] = []
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if f.metadata.get('group'):
            specs.extend(param_specs(hints[f.name], name + '.'))
            continue
        m = f.metadata
        if 'description' not in m:
            continue
        specs.append(ParamSpec(name, KINDS[hints[f.name]], f.default, m['description'],
                               m['unit'], m['min'], m['max'], m['live'], m['choices'],
                               m['engine']))
    return specs


def coerce(spec: ParamSpec, value: Any) -> Any:
    """Convert a parameter value to the setting's Python type (ROS ints for doubles, arrays)."""
    if spec.kind == 'double_array':
        return tuple(float(v) for v in (value if value is not None else ()))
    if spec.kind == 'string_array':
        return tuple(str(v) for v in (value if value is not None else ()))
    if spec.kind == 'double' and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


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
            bounds = f'{format_number(spec.min)}..{format_number(spec.max)}'
            unit = f' {spec.unit}' if spec.unit else ''
            return f'{spec.name}: {v:g} is outside {bounds}{unit}'
    if spec.choices and value not in spec.choices:
        return f'{spec.name}: {value!r} is not one of {", ".join(spec.choices)}'
    return None


def field_problems(obj: Any) -> List[str]:
    """check_value's reason for every field of a settings dataclass instance that has one."""
    reasons = [check_value(spec, value_at(obj, spec.name)) for spec in param_specs(type(obj))]
    return [r for r in reasons if r]


def refuse_problems(obj: Any, who: str, more: Iterable[str] = ()) -> None:
    """ValueError naming every out-of-range field of obj and every reason in more, if any."""
    reasons = field_problems(obj) + list(more)
    if reasons:
        raise ValueError(f'{who} parameters: ' + '; '.join(reasons))


def value_at(obj: Any, name: str) -> Any:
    """The value of a dotted parameter name in a settings instance (a group is an attribute)."""
    for part in name.split('.'):
        obj = getattr(obj, part)
    return obj


def build(cls: type, flat: Mapping[str, Any], prefix: str = '') -> Any:
    """A settings dataclass, groups nested, from {dotted name: value} of every parameter."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get('group'):
            kwargs[f.name] = build(hints[f.name], flat, prefix + f.name + '.')
        else:
            kwargs[f.name] = flat[prefix + f.name]
    return cls(**kwargs)
