"""The `deer-ros` command: one entry point, one module per subcommand.

Each module in this package that defines COMMAND, HELP, add_arguments(parser) and run(args) is a
subcommand. Heavy imports (torch, rclpy) belong inside run() so `deer-ros --help` stays fast.
"""
import argparse
import importlib
import pkgutil
import re
import sys
from types import ModuleType
from typing import List, Optional


# argparse (< 3.13) reads only -1 / -.5 as negative numbers, so `--thresholds -1e8` (DeeR's
# never-exit threshold) is taken for an option; 3.13 accepts anything starting '-digit' or
# '-.digit', as here. No option of ours starts with a digit.
NEGATIVE_NUMBER = re.compile(r'^-\.?\d')


def _commands() -> List[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith('_'):
            continue
        try:
            module = importlib.import_module(f'{__name__}.{info.name}')
        except Exception as exc:  # one broken command must not take the others down
            print(f'deer-ros: command module {info.name!r} failed to import: {exc}',
                  file=sys.stderr)
            continue
        if hasattr(module, 'COMMAND') and hasattr(module, 'run'):
            modules.append(module)
    return sorted(modules, key=lambda m: m.COMMAND)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog='deer-ros',
        description='Early-exit / layer-skipping VLA inference for ROS 2: model tools, '
                    'calibration, training, simulation and benchmarks.',
        epilog='Run `deer-ros COMMAND --help` for the options of one command.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for module in _commands():
        doc = (module.__doc__ or module.HELP).strip()
        cmd = sub.add_parser(module.COMMAND, help=module.HELP, description=doc,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd._negative_number_matcher = NEGATIVE_NUMBER
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the `deer-ros` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, '_run', None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
