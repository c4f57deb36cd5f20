"""Command-line flags generated from a config dataclass: one definition, no restated argparse.

Each field becomes `--field-name` with the field's type, default and help (its metadata 'help'
or 'description', plus 'choices'); `config_from_args` builds the config back from the parsed
namespace. Used by `deer-ros train` (TrainConfig) and `deer-ros distill` (DistillConfig).
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


def config_flags(cls: type, exclude: Collection[str] = ()) -> list:
    """The fields of cls that become flags (those with a simple type, not in exclude)."""
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls)
            if f.name not in exclude and hints[f.name] in (bool, int, float, str)]


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *,
                     exclude: Collection[str] = (),
                     rename: Optional[Mapping[str, str]] = None,
                     optional: Collection[str] = ()) -> None:
    """Add a flag per field of cls: type, default and help from the field.

    rename: {field: flag without dashes} for flags whose name differs from the field's.
    optional: fields whose flag defaults to None (the caller decides, e.g. on --resume);
    the help still names the config's default. A bool field is a switch (--x; --no-x when it
    defaults to True).
    """
    hints = typing.get_type_hints(cls)
    for f in config_flags(cls, exclude):
        kind, meta = hints[f.name], f.metadata
        text = meta.get('help') or meta.get('description') or ''
        default = f.default
        kwargs: dict = {'dest': f.name}
        if kind is bool:
            kwargs['action'] = 'store_true' if default is False else argparse.BooleanOptionalAction
            kwargs['default'] = default
        else:
            kwargs['type'] = kind
            kwargs['metavar'] = METAVARS[kind] if not meta.get('choices') else None
            kwargs['default'] = None if f.name in optional else default
            if meta.get('choices'):
                kwargs['choices'] = tuple(meta['choices'])
            text = f'{text} (default {default})' if text else f'default {default}'
        kwargs['help'] = text.replace('%', '%%')
        parser.add_argument(flag_name(f.name, rename), **kwargs)


def config_from_args(cls: Type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build cls from the parsed flags (None for an optional flag keeps the default)."""
    values = {}
    for f in config_flags(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = value
    values.update(overrides)
    return cls(**values)
