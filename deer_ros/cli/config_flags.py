"""Command-line flags generated from a config dataclass: one definition, no restated argparse.

Each field becomes `--field-name` with the field's type, default and help (its metadata 'help'
or 'description', plus 'choices' and 'unit': training's option() fields and the ros_io
param_schema's setting() fields both work); `config_from_args` builds the config back from the
parsed namespace. Used by `deer-ros train` (TrainConfig), `distill` (DistillConfig), `evaluate`
(ModelSpec, EvalSettings, BenchmarkRequest), `demo` (ModelSpec, DemoConfig) and `bench`
(deer_ros.bench.config and each benchmark's config).
"""
import argparse
import dataclasses
import typing
from typing import Any, Collection, Mapping, Optional, Type, TypeVar

C = TypeVar('C')
METAVARS = {int: 'N', float: 'X', str: 'TEXT'}


def flag_name(name: str, rename: Optional[Mapping[str, str]] = None) -> str:
    """The flag of a field: rename's entry (without dashes) or the name with - for _."""
    return '--' + (rename or {}).get(name, name.replace('_', '-'))


def config_flags(cls: type, exclude: Collection[str] = (),
                 only: Optional[Collection[str]] = None) -> list:
    """The fields of cls that become flags (those with a simple type, not in exclude)."""
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls)
            if f.name not in exclude and (only is None or f.name in only)
            and hints[f.name] in (bool, int, float, str)]


def add_config_flags(parser: 'argparse._ActionsContainer', cls: type, *,
                     exclude: Collection[str] = (), only: Optional[Collection[str]] = None,
                     rename: Optional[Mapping[str, str]] = None,
                     optional: Collection[str] = (), dest_prefix: str = '') -> None:
    """Add a flag per field of cls: type, default and help from the field.

    exclude / only: leave fields out, or take only these (a config's flags in two groups).
    rename: {field: flag without dashes} for flags whose name differs from the field's.
    optional: fields whose flag defaults to None (the caller decides, e.g. on --resume);
    the help still names the config's default. A bool field is a switch (--x; --no-x when it
    defaults to True). parser may be an argument group. dest_prefix keeps two configs' fields
    of one name apart in the namespace (ModelSpec.seed as model_seed beside a scene seed).
    """
    hints = typing.get_type_hints(cls)
    for f in config_flags(cls, exclude, only):
        kind, meta = hints[f.name], f.metadata
        text = meta.get('help') or meta.get('description') or ''
        default = f.default
        kwargs: dict = {'dest': dest_prefix + f.name}
        if kind is bool:
            kwargs['action'] = 'store_true' if default is False else argparse.BooleanOptionalAction
            kwargs['default'] = default
        else:
            kwargs['type'] = kind
            kwargs['metavar'] = METAVARS[kind] if not meta.get('choices') else None
            kwargs['default'] = None if f.name in optional else default
            if meta.get('choices'):
                kwargs['choices'] = tuple(meta['choices'])
            shown = f'{default} {meta["unit"]}' if meta.get('unit') else f'{default}' or 'empty'
            text = f'{text} (default {shown})' if text else f'default {shown}'
        kwargs['help'] = text.replace('%', '%%')
        parser.add_argument(flag_name(f.name, rename), **kwargs)


def config_from_args(cls: Type[C], args: argparse.Namespace, dest_prefix: str = '',
                     **overrides: Any) -> C:
    """Build cls from the parsed flags (None for an optional flag keeps the default)."""
    values = {}
    for f in config_flags(cls):
        value = getattr(args, dest_prefix + f.name, None)
        if value is not None:
            values[f.name] = value
    values.update(overrides)
    return cls(**values)
