"""Which parameter names a node was given that it does not have, and what to say about them.

rcl hands a node one merged dict of overrides (every params-file section that applies to it,
`-p` rules, the constructor's parameter_overrides), losing where each came from. A misspelled
name there is silently ignored by rclpy. The rule these functions implement:

- a name the node does not know, given in the node's *own* section (a params-file section whose
  last segment is the node's name: `deer_node:`, `/arm1/deer_node:`, `/**/deer_node:`), by a
  `-p` rule or by the constructor, is refused, naming the closest real parameter;
- a name it does not know from a *shared* section (`/**:`, `/*/*:`) is named in a warning: such
  sections feed every node of a launch and legitimately carry other nodes' parameters;
- a params file with no section applying to the node is named in a warning (`deer_nod:`);
- ROS's own parameters (use_sim_time, start_type_description_service, ...) are known because
  rclpy declares them on every node.

Section matching is rclpy's (Kilted): keys are made absolute, `/**` spans any number of
namespace tokens (none included) and `*` exactly one. Pure Python, no rclpy: the node side
(deer_ros.ros_io.params) parses the files and passes their contents here.
"""
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Collection, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

PARAMS_KEY = 'ros__parameters'
# --ros-args flags taking one value that is not a parameter (skipped when reading the args).
VALUE_FLAGS = ('-r', '--remap', '-e', '--enclave', '--log-level', '--log-config-file',
               '--log-file-name')
# How a type reads in a message: ROS type names as rclpy's Parameter.Type spells them, lowered.
TYPE_WORDS = {
    'bool': 'a boolean (true or false)',
    'integer': 'an integer',
    'double': 'a double (a number with a decimal point, e.g. 1.0)',
    'string': 'a string',
    'byte_array': 'a byte array',
    'bool_array': 'a list of booleans',
    'integer_array': 'a list of integers',
    'double_array': 'a list of doubles (e.g. [0.1, 1.0])',
    'string_array': 'a list of strings',
    'not_set': 'no value (a deletion)',
}


@dataclass(frozen=True)
class ArgSources:
    """Where overrides come from in a command line: params files and `-p` rules."""

    params_files: Tuple[str, ...] = ()
    rules: Tuple[Tuple[str, str], ...] = ()   # (node name or '' for every node, parameter)


@dataclass(frozen=True)
class OverrideReview:
    """The verdict on a node's overrides: what refuses configuration, what only warns."""

    refused: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """One line naming every refused override ('' when none)."""
        return '; '.join(self.refused)


@dataclass
class _Origins:
    own: Dict[str, str] = field(default_factory=dict)      # name -> where it was given
    shared: Dict[str, str] = field(default_factory=dict)


def closest(name: str, known: Collection[str]) -> Optional[str]:
    """The known name most like `name` (difflib), or None when none is close."""
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if not matches and '.' in name:   # a misspelled group: compare the last part alone
        leaf = name.rsplit('.', 1)[1]
        by_leaf = {k.rsplit('.', 1)[-1]: k for k in known}
        leaf_matches = difflib.get_close_matches(leaf, sorted(by_leaf), n=1, cutoff=0.8)
        matches = [by_leaf[m] for m in leaf_matches]
    return matches[0] if matches else None


def unknown_text(node: str, name: str, known: Collection[str]) -> str:
    """'<node> has no parameter X (did you mean Y?)'."""
    guess = closest(name, known)
    hint = f" (did you mean '{guess}'?)" if guess else ' (ros2 param list shows the real ones)'
    return f"{node} has no parameter '{name}'{hint}"


def type_refusal(name: str, expected: str, given: str) -> Optional[str]:
    """Why a value of ROS type `given` cannot be set on a parameter of type `expected`.

    Types are rclpy Parameter.Type names in lower case ('double', 'integer', 'not_set').
    """
    if given == expected:
        return None
    if given == 'not_set':
        return f'{name} cannot be deleted: it always has a value'
    text = (f'{name} takes {TYPE_WORDS.get(expected, expected)}, '
            f'not {TYPE_WORDS.get(given, given)}')
    if (expected, given) == ('double', 'integer'):
        text += ': write 5.0 for 5'
    return text


def read_ros_args(argv: Sequence[str]) -> ArgSources:
    """The params files and `-p` rules of every --ros-args block of a command line."""
    files: List[str] = []
    rules: List[Tuple[str, str]] = []
    inside = False
    args = iter(argv)
    for arg in args:
        if arg == '--ros-args':
            inside = True
        elif arg == '--':
            inside = False
        elif inside and arg in VALUE_FLAGS:
            next(args, None)
        elif inside and arg == '--params-file':
            files.append(next(args, ''))
        elif inside and arg in ('-p', '--param'):
            rule = next(args, '').split(':=', 1)[0]
            node, _, name = rule.rpartition(':')
            rules.append((node, name))
    return ArgSources(tuple(files), tuple(rules))


def sections(document: Any) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(absolute section key, {dotted parameter name: value}) of a params-file document.

    Node keys may nest (`ns: {deer_node: {ros__parameters: ...}}` is /ns/deer_node), and so may
    parameter names (`safety: {max_translation_m: 0.03}` is safety.max_translation_m).
    """
    def walk(node: Any, path: List[str]) -> Iterator[Tuple[str, Dict[str, Any]]]:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == PARAMS_KEY:
                yield '/' + '/'.join(p.strip('/') for p in path), _flatten(value)
            else:
                yield from walk(value, path + [str(key)])
    yield from walk(document, [])


def _flatten(params: Any, prefix: str = '') -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def section_matches(key: str, node_fqn: str) -> bool:
    """Whether a params-file section key applies to the node (rclpy's wildcard rules)."""
    tokens = [t for t in key.split('/') if t]
    pattern = ''
    for token in tokens:
        pattern += '(?:/[^/]+)*' if token == '**' else '/[^/]+' if token == '*' else (
            '/' + re.escape(token))
    return re.fullmatch(pattern or '/', node_fqn) is not None


def is_own_section(key: str) -> bool:
    """A section naming a node (its last segment is a name, not a wildcard)."""
    return key.rstrip('/').rsplit('/', 1)[-1] not in ('*', '**', '')


def review_overrides(node_fqn: str, given: Collection[str], known: Collection[str],
                     sources: ArgSources, documents: Mapping[str, Any]) -> OverrideReview:
    """Refusals and warnings for the override names `given` to the node `node_fqn`.

    documents maps each params file of `sources` to its parsed YAML (None if unreadable).
    Names given that no source here explains (the constructor's parameter_overrides) count as
    the node's own.
    """
    node = node_fqn.rsplit('/', 1)[-1]
    origins = _Origins()
    warnings: List[str] = []
    for path in sources.params_files:
        applying = _file_origins(path, documents.get(path), node_fqn, origins)
        if not applying:
            keys = [key for key, _ in sections(documents.get(path))]
            guess = difflib.get_close_matches(node_fqn, keys, n=1, cutoff=0.5)
            warnings.append(
                f'params file {path}: no section applies to {node_fqn} (its sections: '
                f'{", ".join(keys) or "none"}); nothing in it is used'
                + (f"; is '{guess[0]}' meant to be '{node_fqn}'?" if guess else ''))
    for rule_node, name in sources.rules:
        if rule_node in ('', node):
            origins.own.setdefault(name, f'-p {rule_node + ":" if rule_node else ""}{name}')
        else:
            warnings.append(f'-p {rule_node}:{name} names node {rule_node!r}, not {node!r}: '
                            'not applied here')
    refused: List[str] = []
    for name in sorted(set(given) - set(known)):
        if name in origins.own or name not in origins.shared:
            where = origins.own.get(name, 'parameter_overrides')
            refused.append(f'{unknown_text(node, name, known)}, given in {where}')
        else:
            warnings.append(f'{unknown_text(node, name, known)}, given in '
                            f'{origins.shared[name]}: ignored by {node}')
    return OverrideReview(tuple(refused), tuple(warnings))


def _file_origins(path: str, document: Any, node_fqn: str, origins: _Origins) -> bool:
    """Record where each name of a file's applying sections came from; True if any applied."""
    applied = False
    for key, params in sections(document):
        if not section_matches(key, node_fqn):
            continue
        applied = True
        target = origins.own if is_own_section(key) else origins.shared
        for name in params:
            target.setdefault(name, f'{path} [{key}]')
    return applied
