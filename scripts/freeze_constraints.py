#!/usr/bin/env python3
"""Print requirements/constraints.txt for the environment this runs in.

Pins exactly what requirements/*.txt pulls in (transitively, following the installed packages'
own requirements), plus torch, open-flamingo and lerobot, at the installed versions; nothing
else that happens to be in the venv. Run with the venv's python after a set-up and a green test
suite:
  .venv/bin/python scripts/freeze_constraints.py > requirements/constraints.txt
"""
import pathlib
import sys
from importlib import metadata
from typing import Dict, List, Set

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = ('ros.txt', 'ml.txt', 'test.txt')
EXTRA_ROOTS = ('torch', 'open-flamingo', 'lerobot')   # installed by setup_env.sh, not the files
NO_DEPS = {'open-flamingo', 'lerobot'}           # installed with --no-deps (pin an old torch)
SKIP = {'setuptools', 'pip', 'wheel'}            # installer tools: not ours to pin
HEADER = """\
# Exact versions CI tested: every package requirements/*.txt pulls in (transitively), torch,
# open-flamingo and lerobot. scripts/setup_env.sh installs with `-c` this file, so a new upstream
# release (transformers, tokenizers, open_clip, ...) cannot change behaviour silently.
# Upgrade: see README.md "Upgrading the pinned versions" (DEER_ROS_UNPINNED=1 set-up, full test
# suite, then `python scripts/freeze_constraints.py > requirements/constraints.txt`).
"""


def roots() -> List[str]:
    """The requirement lines of requirements/{ros,ml,test}.txt plus EXTRA_ROOTS."""
    lines = list(EXTRA_ROOTS)
    for name in FILES:
        for line in (ROOT / 'requirements' / name).read_text().splitlines():
            line = line.split('#')[0].strip()
            if line:
                lines.append(line)
    return lines


def closure(lines: List[str]) -> Dict[str, str]:
    """{distribution name: installed version} of everything `lines` needs (no --no-deps)."""
    dists = {canonicalize_name(d.metadata['Name']): d for d in metadata.distributions()}
    extras: Dict[str, Set[str]] = {}
    stack = [Requirement(line) for line in lines]
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        if name in extras and req.extras <= extras[name]:
            continue
        if name not in dists:
            sys.exit(f'{req.name} is required but not installed: run scripts/setup_env.sh first')
        extras.setdefault(name, set()).update(req.extras)
        if name in NO_DEPS:
            continue
        for text in dists[name].requires or []:
            dep = Requirement(text)
            wanted = extras[name] or {''}
            if dep.marker is None or any(dep.marker.evaluate({'extra': e}) for e in wanted):
                stack.append(dep)
    return {dists[n].metadata['Name']: dists[n].version for n in extras if n not in SKIP}


def main() -> int:
    """Write the constraints file to stdout."""
    pins = closure(roots())
    names = sorted(pins, key=str.lower)
    print(HEADER + '\n'.join(f'{name}=={pins[name]}' for name in names))
    return 0


if __name__ == '__main__':
    sys.exit(main())
