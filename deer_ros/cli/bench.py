"""Benchmarks: per-exit cost, proportionality, node overhead, behaviour under load, fast path.

  deer-ros bench exits            latency / GMAC / memory per exit vs the full model
  deer-ros bench proportionality  exit-k / full latency vs FLOPs ratio; exit-check overhead
  deer-ros bench node             node overhead per frame (stages, and a real rclpy graph)
  deer-ros bench load             deadline misses and budget error before/after a CPU load step
  deer-ros bench fastpath         fast path before/after in one run (+ torch.compile check)
  deer-ros bench costs            analytic GMAC and parameter memory per exit (meta device)
  deer-ros bench train            training samples/s: 1 vs N processes (torchrun), fp32 vs bf16
  deer-ros bench formats DATA     recording format vs LeRobotDataset v3: disk, read time, RAM
  deer-ros bench gpu              all of the above that a GPU changes, one process, one folder:
                                  per-exit phases per precision, memory budgets live, fidelity,
                                  node at DeeR budgets, compiled vs eager (docs/performance.md)

Training memory per GPU (weights, gradients, AdamW, activations): `deer-ros train --plan`.

Each prints markdown and, with --out DIR (default runs/bench), writes <name>.json and <name>.md.
Random weights; CPU uses the small presets, a GPU machine can run deer-3b / deer-9b.
"""
import argparse
import shlex
import sys
from typing import Any, Callable, Dict, Tuple

COMMAND = 'bench'
HELP = 'benchmarks: per-exit cost, proportionality, node overhead, load, fast path'


def _configs() -> Dict[str, Tuple[type, Callable, Callable]]:
    """WHICH -> (its config, run, markdown); the config's fields are the flags."""
    from deer_ros.bench import (exits, fastpath, gpu, gpu_report, load, node, proportionality,
                                train_throughput)
    return {
        'exits': (exits.ExitsConfig, exits.run_exits, exits.exits_markdown),
        'proportionality': (proportionality.ProportionalityConfig,
                            proportionality.run_proportionality,
                            proportionality.proportionality_markdown),
        'node': (node.NodeBenchConfig, node.run_node, node.node_markdown),
        'load': (load.LoadConfig, load.run_load, load.load_markdown),
        'fastpath': (fastpath.FastPathConfig, fastpath.run_fastpath, fastpath.fastpath_markdown),
        'train': (train_throughput.TrainBenchConfig, train_throughput.run_train_bench,
                  train_throughput.train_bench_markdown),
        'gpu': (gpu.GpuBenchConfig, gpu.run_gpu, gpu_report.gpu_markdown),
    }


HELPS = {'exits': 'per-exit latency, GMAC and memory vs the full model',
         'proportionality': 'latency ratio vs FLOPs ratio, check overhead',
         'node': 'node overhead per frame for two 640x480 cameras',
         'load': 'deadline and budget before/after a competing CPU load',
         'fastpath': 'fast path before/after in one run',
         'train': 'training samples/s per world size (torchrun) and precision, in one run',
         'gpu': 'every CUDA path in one run (--device cpu --preset tiny: the CPU check)'}


def _output_flags(p: argparse.ArgumentParser, strict_help: str) -> None:
    p.add_argument('--out', default='runs/bench', help="output directory ('' for none)")
    p.add_argument('--strict', action='store_true', help=strict_help)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands, each with its config's flags (deer_ros.bench.config and the benchmark's)."""
    from deer_ros.cli.config_flags import add_config_flags
    sub = parser.add_subparsers(dest='which', metavar='WHICH', required=True)
    for which, (config, _, _) in _configs().items():
        p = sub.add_parser(which, help=HELPS[which])
        add_config_flags(p, config, exclude=('command',))
        p.add_argument('--set', dest='overrides', action='append', default=[],
                       metavar='KEY=VALUE',
                       help='model config override, repeatable, e.g. --set lm.d_model=512')
        _output_flags(p, 'exit status 1 when a check fails')
    p = sub.add_parser('costs', help='analytic GMAC and parameter bytes per exit (no weights)')
    p.add_argument('--presets', nargs='+', default=['small', 'deer-3b', 'deer-9b'])
    p.add_argument('--tokens', type=float, default=14.0, help='prompt length L')
    _output_flags(p, argparse.SUPPRESS)
    p = sub.add_parser('formats', help='recording format vs LeRobotDataset v3 (disk, read, RAM)')
    p.add_argument('data', help='a deer_ros recording (e.g. from `deer-ros record`)')
    p.add_argument('--work', default='runs/bench/formats',
                   help='where the LeRobot copies are written (replaced)')
    p.add_argument('--vcodec', default='libsvtav1', help="the mp4 copy's codec")
    _output_flags(p, argparse.SUPPRESS)


def _run_one(args: argparse.Namespace, command: str) -> Tuple[Dict[str, Any], str]:
    from deer_ros.bench import costs
    from deer_ros.bench.models import parse_overrides
    from deer_ros.cli.config_flags import config_from_args
    if args.which == 'costs':
        result = costs.run_costs(args.presets, args.tokens, command)
        return result, costs.costs_markdown(result)
    if args.which == 'formats':
        from deer_ros.bench import formats
        result = formats.run_formats(args.data, args.work, args.vcodec, command)
        return result, formats.formats_markdown(result)
    config, run, markdown = _configs()[args.which]
    cfg = config_from_args(config, args, overrides=parse_overrides(args.overrides),
                           command=command)
    if args.which == 'gpu':       # written after every section: a stopped run keeps its part
        from deer_ros.bench.gpu_report import write_gpu
        result = run(cfg, lambda r: write_gpu(r, args.out) if args.out else None)
    else:
        result = run(cfg)
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
    if args.which == 'gpu':
        from deer_ros.bench.gpu_report import write_gpu
        paths = write_gpu(result, args.out) if args.out else []
    else:
        paths = write_outputs(result, text, args.out, args.which)
    for path in paths:
        print(f'wrote {path}', file=sys.stderr)
    return 1 if args.strict and result.get('passed') is False else 0
