"""Params files and parameter tables written from ParamSpecs (deer_ros.ros_io.param_schema).

config/deer.yaml (deer_ros.ros_io.settings.render_yaml) and the tables of docs/node.md, the
README and docs/simulation.md come from here; tests compare the files with what these return.
"""
import textwrap
from typing import Any, List, Tuple

from deer_ros.ros_io.param_schema import ParamSpec, format_number


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


def params_file(specs: List[ParamSpec], node_name: str, header: str) -> str:
    """The commented params file for node_name (`/**/` matches it in any namespace)."""
    lines = [header.rstrip('\n'), f'/**/{node_name}:', '  ros__parameters:']
    current: Tuple[str, ...] = ()
    for spec in specs:
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


def parameter_table(specs: List[ParamSpec]) -> str:
    """A node's parameter table: name, type, default, range, unit, live, meaning (markdown)."""
    rows = ['| Parameter | Type | Default | Range / choices | Unit | Live | Description |',
            '|---|---|---|---|---|---|---|']
    for spec in specs:
        if spec.choices:
            allowed = ', '.join(f'`{c}`' for c in spec.choices)
        elif spec.min is not None or spec.max is not None:
            allowed = f'{format_number(spec.min)} .. {format_number(spec.max)}'
        else:
            allowed = ''
        default = yaml_scalar(spec.kind, spec.default)
        kind = spec.kind.replace('_array', '[]')
        rows.append(f'| `{spec.name}` | {kind} | `{default}` | {allowed} | {spec.unit} | '
                    f'{"yes" if spec.live else "no"} | {spec.description.replace("|", "/")} |')
    return '\n'.join(rows) + '\n'
