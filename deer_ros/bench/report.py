"""Markdown tables and JSON files for benchmark results."""
import json
import math
import pathlib
from typing import Any, Dict, List, Optional, Sequence


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats to `digits` significant decimals, None/NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '–'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float):
        if value != 0 and abs(value) < 1:
            return f'{value:.{digits}g}'
        return f'{value:.{digits}f}'
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """A GitHub markdown table."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(fmt(c, digits) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def environment_lines(result: Dict[str, Any]) -> List[str]:
    """The 'how it was measured' bullet list every report starts with."""
    env = result.get('environment', {})
    lines = [f"- command: `{env.get('command', '')}`",
             f"- device: {env.get('device_name', '?')} ({env.get('device', '?')}), "
             f"torch {env.get('torch', '?')}, {env.get('threads', '?')} intra-op thread(s)"]
    if env.get('note'):
        lines.append(f"- {env['note']}")
    return lines


def write_outputs(result: Dict[str, Any], markdown: str, out_dir: Optional[str],
                  name: str) -> List[str]:
    """Write `<name>.json` and `<name>.md` under out_dir (created); returns the paths."""
    if not out_dir:
        return []
    path = pathlib.Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    json_path, md_path = path / f'{name}.json', path / f'{name}.md'
    json_path.write_text(json.dumps(result, indent=2, default=_jsonable) + '\n')
    md_path.write_text(markdown + '\n')
    return [str(json_path), str(md_path)]


def _jsonable(value: Any) -> Any:
    if hasattr(value, 'to_dict'):
        return value.to_dict()
    if hasattr(value, 'tolist'):
        return value.tolist()
    return str(value)
