"""The package's shape: no import cycles between modules or between sub-packages.

Read from the source with `ast` (every import, lazy ones inside functions too: a cycle broken by
a lazy import is still a cycle), so the check needs no imports of the package itself.
"""
import ast
import pathlib
from typing import Dict, List, Set

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = 'deer_ros'


def _modules() -> Dict[str, pathlib.Path]:
    found = {}
    for path in (ROOT / PACKAGE).rglob('*.py'):
        parts = list(path.relative_to(ROOT).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        found['.'.join(parts)] = path
    return found


def _targets(module: str, node: ast.AST, is_package: bool, known: Set[str]) -> List[str]:
    """Modules of this package that one import statement names (the nearest existing module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split('.') if is_package else module.split('.')[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = '.'.join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ''
        names = [f'{prefix}.{alias.name}' for alias in node.names]
    out = []
    for name in names:
        while name not in known and '.' in name:
            name = name.rsplit('.', 1)[0]
        if name in known:
            out.append(name)
    return out


def import_graph() -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports anywhere in its body."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        deps: Set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(_targets(module, node, path.name == '__init__.py', set(modules)))
        deps.discard(module)
        graph[module] = deps
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _subpackage(module: str) -> str:
    return '.'.join(module.split('.')[:2])


def test_cycle_finder_finds_a_planted_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_subpackages():
    packages: Dict[str, Set[str]] = {}
    for module, deps in import_graph().items():
        if module == PACKAGE or module.startswith(f'{PACKAGE}.cli'):
            continue  # the root and the CLI wire everything together; nothing imports them
        outer = _subpackage(module)
        packages.setdefault(outer, set()).update(
            _subpackage(d) for d in deps if _subpackage(d) not in (outer, PACKAGE))
    assert cycles(packages) == []


def test_architecture_doc_names_existing_files_and_every_subpackage():
    import re
    text = (ROOT / 'docs' / 'architecture.md').read_text()
    named = set(re.findall(r'\b([a-z_]+/[a-z_]+\.py)\b', text))
    assert named, 'docs/architecture.md names the file at each step'
    missing = [n for n in named if not (ROOT / PACKAGE / n).exists() and not (ROOT / n).exists()]
    assert missing == [], f'docs/architecture.md names files that do not exist: {missing}'
    packages = {_subpackage(m).split('.')[-1] for m in import_graph()} - {PACKAGE}
    assert {p for p in packages if f'{p}/' not in text} == set()
