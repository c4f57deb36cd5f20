"""Analytic per-exit cost of presets without weights (meta device): what needs no GPU to know."""
from typing import Any, Dict, List

from deer_ros.bench import report
from deer_ros.bench.models import analytic_costs, bench_config

_GB = 1024.0 ** 3


def run_costs(presets: List[str], tokens: float, command: str = '') -> Dict[str, Any]:
    """GMAC and parameter bytes per exit for each preset at `tokens` prompt tokens."""
    return dict(benchmark='costs', tokens=tokens, environment=dict(
        device='meta', device_name='none (analytic)', command=command, torch='-', threads='-'),
        presets=[analytic_costs(bench_config(name), tokens) for name in presets])


def costs_markdown(result: Dict[str, Any]) -> str:
    """One table per preset."""
    lines = [f"### Analytic cost per exit (L = {result['tokens']:g} prompt tokens, 2 cameras)",
             '', f"- command: `{result['environment']['command']}`",
             '- GMAC = multiply-accumulates (what DeeR reports as GFLOPs); bytes = fp32 '
             'parameters of LM layers 0..exit (embedding, vision and head listed apart)']
    for p in result['presets']:
        full_g, full_b = p['exit_gmacs'][-1], p['exit_layer_bytes'][-1]
        rows = [[k, layer + 1, g, g / full_g, b / _GB, b / full_b]
                for k, (layer, g, b) in enumerate(zip(p['exit_layers'], p['exit_gmacs'],
                                                      p['exit_layer_bytes']))]
        lines += ['', f"#### {p['preset']}", '',
                  f"- vision + perceiver: {p['vision_gmacs']:.4g} GMAC per step (both cameras),"
                  f" {p['vision_bytes'] / _GB:.3f} GB; embedding {p['embedding_bytes'] / _GB:.3f}"
                  f" GB; head {p['head_gmacs']:.4g} GMAC, {p['head_bytes'] / _GB:.3f} GB; whole "
                  f"model {p['total_bytes'] / _GB:.3f} GB", '',
                  report.table(['exit', 'layers', 'LLM GMAC', 'GMAC / full', 'LM layers GB',
                                'bytes / full'], rows)]
    return '\n'.join(lines)
