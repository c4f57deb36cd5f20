"""Benchmarks: per-exit cost, proportionality, node overhead, behaviour under load, fast path.

  deer-ros bench exits            latency / GMAC / memory per exit vs the full model
  deer-ros bench proportionality  exit-k / full latency vs FLOPs ratio; exit-check overhead
  deer-ros bench node             node overhead per frame (stages, and a real rclpy graph)
  deer-ros bench load             deadline misses and budget error before/after a CPU load step
  deer-ros bench fastpath         fast path before/after in one run (+ torch.compile check)
  deer-ros bench costs            analytic GMAC and parameter memory per exit (meta device)

Each prints markdown and, with --out DIR (default runs/bench), writes <name>.json and <name>.md.
Random weights; CPU uses the small presets, a GPU machine can run deer-3b / deer-9b.
"""
import argparse
import shlex
import sys
from typing import Any, Callable, Dict, Tuple

COMMAND = 'bench'
HELP = 'benchmarks: per-exit cost, proportionality, node overhead, load, fast path'


def _common(p: argparse.ArgumentParser, preset: str, steps: int) -> None:
    p.add_argument('--preset', default=preset, help=f'model preset (default {preset})')
    p.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                   help='config override, repeatable, e.g. --set lm.d_model=512')
    p.add_argument('--device', default='cpu', help='torch device (cpu, cuda, cuda:1)')
    p.add_argument('--steps', type=int, default=steps, help='timed steps / frames')
    p.add_argument('--warmup', type=int, default=3, help='untimed warm-up steps')
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads (default 1; 0 leaves torch default)')
    p.add_argument('--out', default='runs/bench', help="output directory ('' for none)")
    p.add_argument('--strict', action='store_true', help='exit status 1 when a check fails')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands, each with the common options."""
    sub = parser.add_subparsers(dest='which', metavar='WHICH', required=True)
    p = sub.add_parser('exits', help='per-exit latency, GMAC and memory vs the full model')
    _common(p, 'small', 30)
    p.add_argument('--precision', default='fp32', help='fp32 | fp16 | bf16 | amp')
    p = sub.add_parser('proportionality', help='latency ratio vs FLOPs ratio, check overhead')
    _common(p, 'small', 30)
    p.add_argument('--precision', default='fp32', help='fp32 | fp16 | bf16 | amp')
    p = sub.add_parser('node', help='node overhead per frame for two 640x480 cameras')
    _common(p, 'tiny', 50)
    p.add_argument('--control-rate-hz', type=float, default=100.0,
                   help='deer_node control timer during the graph run')
    p.add_argument('--no-graph', action='store_true', help='stages only (no rclpy graph)')
    p = sub.add_parser('load', help='deadline and budget before/after a competing CPU load')
    _common(p, 'small', 60)
    p.add_argument('--load-processes', type=int, default=1, help='busy processes started')
    p.add_argument('--budget-fraction', type=float, default=0.5,
                   help='average compute target / full model')
    p.add_argument('--deadline-factor', type=float, default=1.5,
                   help='deadline = factor x warm-up full-model step latency')
    p = sub.add_parser('fastpath', help='fast path before/after in one run')
    _common(p, 'small', 30)
    p.add_argument('--precision', default='fp32', help='fp32 | fp16 | bf16 | amp')
    p.add_argument('--compile', action='store_true', help='also torch.compile each layer')
    p = sub.add_parser('costs', help='analytic GMAC and parameter bytes per exit (no weights)')
    p.add_argument('--presets', nargs='+', default=['small', 'deer-3b', 'deer-9b'])
    p.add_argument('--tokens', type=float, default=14.0, help='prompt length L')
    p.add_argument('--out', default='runs/bench', help="output directory ('' for none)")
    p.add_argument('--strict', action='store_true', help=argparse.SUPPRESS)


def _run_one(args: argparse.Namespace, command: str) -> Tuple[Dict[str, Any], str]:
    from deer_ros.bench import costs, exits, fastpath, load, node, proportionality
    from deer_ros.bench.models import parse_overrides
    if args.which == 'costs':
        result = costs.run_costs(args.presets, args.tokens, command)
        return result, costs.costs_markdown(result)
    base = dict(preset=args.preset, overrides=parse_overrides(args.overrides),
                device=args.device, steps=args.steps, warmup=args.warmup,
                threads=args.threads, command=command)
    table: Dict[str, Tuple[Callable, Callable, Callable, Dict[str, Any]]] = {
        'exits': (exits.ExitsConfig, exits.run_exits, exits.exits_markdown,
                  dict(precision=getattr(args, 'precision', 'fp32'))),
        'proportionality': (proportionality.ProportionalityConfig,
                            proportionality.run_proportionality,
                            proportionality.proportionality_markdown,
                            dict(precision=getattr(args, 'precision', 'fp32'))),
        'node': (node.NodeBenchConfig, node.run_node, node.node_markdown,
                 dict(control_rate_hz=getattr(args, 'control_rate_hz', 100.0),
                      graph=not getattr(args, 'no_graph', False))),
        'load': (load.LoadConfig, load.run_load, load.load_markdown,
                 dict(load_processes=getattr(args, 'load_processes', 1),
                      budget_fraction=getattr(args, 'budget_fraction', 0.5),
                      deadline_factor=getattr(args, 'deadline_factor', 1.5))),
        'fastpath': (fastpath.FastPathConfig, fastpath.run_fastpath,
                     fastpath.fastpath_markdown,
                     dict(precision=getattr(args, 'precision', 'fp32'),
                          compile=getattr(args, 'compile', False))),
    }
    config_cls, run, markdown, extra = table[args.which]
    if args.which == 'node':
        base.update(frames=base.pop('steps'))
    result = run(config_cls(**base, **extra))
    return result, markdown(result)


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark, print markdown, write JSON + markdown."""
    from deer_ros.bench.report import write_outputs
    argv = sys.argv[1:]
    command = 'deer-ros ' + ' '.join(shlex.quote(a) for a in argv) \
        if argv[:1] == [COMMAND] else f'deer-ros bench {args.which}'
    try:
        result, text = _run_one(args, command)
    except ValueError as exc:
        print(f'deer-ros bench {args.which}: {exc}', file=sys.stderr)
        return 2
    print(text)
    for path in write_outputs(result, text, args.out, args.which):
        print(f'wrote {path}', file=sys.stderr)
    return 1 if args.strict and result.get('passed') is False else 0
