"""Markdown of `deer-ros bench gpu`'s result: one table per section, the environment first."""
import json
import pathlib
from typing import Any, Dict, List

from deer_ros.bench import report

_MB = 1024.0 * 1024.0
ENV_KEYS = ('device', 'device_name', 'gpu_capability', 'gpu_total_mb', 'driver', 'cuda_driver',
            'torch', 'torch_cuda', 'cudnn', 'nvml', 'pynvml', 'nvml_reason', 'python',
            'platform', 'threads', 'version_transformers', 'version_open_clip_torch',
            'version_open-flamingo', 'version_timm', 'version_torchvision', 'version_ros-rclpy')


def _p(stats: Dict[str, Any]) -> str:
    return f"{report.fmt(stats['median_ms'])} / {report.fmt(stats['p95_ms'])}"


def environment_md(env: Dict[str, Any]) -> List[str]:
    """The environment as a two-column table."""
    rows = [[k, env.get(k)] for k in ENV_KEYS if k in env and env.get(k) not in ('', None)]
    return ['## Environment', '', f"- command: `{env.get('command', '')}`", '',
            report.table(['what', 'value'], rows)]


def exits_md(by_precision: Dict[str, Any]) -> List[str]:
    """Per precision: the phase split per exit and the memory with the cap there."""
    lines = ['## Per-exit latency (p50 / p95 ms) and memory']
    for name, res in by_precision.items():
        rows = []
        for r in res['exits']:
            peak = r['peak_allocated_bytes']
            rows.append([r['exit'], r['layers'], r['ratio_gmacs'], _p(r['preprocess_ms']),
                         _p(r['vision_ms']), _p(r['llm_ms']), _p(r['head_ms']), _p(r['step']),
                         r['resident_param_bytes'] / _MB, None if peak is None else peak / _MB,
                         r['nvml_used_mb']])
        n = res['exits'][0]['step']['n']
        lines += ['', f"### {name}: {res['model']} on {res['environment']['device_name']}", '',
                  f'- {n} timed steps per exit after warm-up (CUDA events on a GPU); '
                  f"prompt {res['tokens']} tokens", '',
                  report.table(['exit', 'layers', 'GMAC / full', 'preprocess', 'vision + '
                                'perceiver', 'LLM', 'head', 'step', 'resident params MB',
                                'peak alloc MB', 'NVML used MB'], rows)]
    return lines


def fidelity_md(res: Dict[str, Any]) -> List[str]:
    """Exit flips and pose differences against fp32."""
    rows = [[name, r['frames'], r['exit_flips'], r['mean_exit_shift'], r['pose_max_abs'],
             r['pose_mean_abs'], r['gripper_max_abs'], max(r['per_exit_pose_max_abs'])]
            for name, r in res['precisions'].items()]
    return ['## Fidelity against fp32 (same weights, same frames)', '',
            '- thresholds: the fp32 median consistency value of each exit; each frame from the '
            'zero head state; fp32 against itself is the determinism check', '',
            report.table(['precision', 'frames', 'exit flips', 'mean exit shift',
                          'action pose max |Δ|', 'action pose mean |Δ|', 'gripper prob max |Δ|',
                          'worst exit pose max |Δ|'], rows)]


def _span(frames: List[Dict[str, Any]], key: str) -> str:
    """First -> last reading of a phase."""
    return f"{report.fmt(frames[0][key])} -> {report.fmt(frames[-1][key])}"


def memory_md(res: Dict[str, Any]) -> List[str]:
    """Per phase: resident exits, actions, memory readings; then the verdicts."""
    if 'skipped' in res:
        return ['## Live memory budgets', '', f"- skipped: {res['skipped']}"]
    rows = []
    for phase in dict.fromkeys(r['phase'] for r in res['frames']):
        f = [r for r in res['frames'] if r['phase'] == phase]
        actions = ', '.join(sorted({r['action'] for r in f}))
        rows.append([phase, len(f), f"{f[0]['resident_exit']} -> {f[-1]['resident_exit']}",
                     min(r['resident_exit'] for r in f), actions,
                     _span(f, 'process_mb'), _span(f, 'device_used_mb')])
    plan = res['plan']
    lines = ['## Live memory budgets', '',
             f"- readings: {res['source']}; one layer {plan['layer_mb']:.2f} MB; budget lowered "
             f"to {plan['budget_low_mb']:.1f} MB, raised to {plan['budget_high_mb']:.1f} MB; "
             f"competitor {plan['competitor_mb']:.1f} MB under a reserve of "
             f"{plan['reserve_mb']:.1f} MB free", '',
             report.table(['phase', 'frames', 'resident exit first -> last', 'lowest',
                           'memory actions', 'process MB', 'device used MB'], rows), '',
             'Verdicts: ' + ', '.join(f"{k}: {'PASS' if v else 'FAIL'}"
                                      for k, v in res['verdicts'].items())]
    if 'oom' in res:
        lines += ['', f"- out-of-memory: {res['oom']}"]
    return lines


def node_md(res: Dict[str, Any]) -> List[str]:
    """Latency per budget, and how it was measured."""
    graph = res['mode'] == 'rclpy graph'
    rows = []
    for r in res['rows']:
        total = r['arrival_to_publish_ms'] if graph else r['latency_ms']
        extra = [r['overhead_ms']['median_ms']] if graph else [r['model_ms']['median_ms']]
        rows.append([r['budget_fraction'], r['frames'], total['median_ms'], total['p95_ms'],
                     total['p99_ms'], *extra, r['mean_fraction']])
    head = 'node overhead p50 ms' if graph else 'model p50 ms'
    what = 'image arrival -> ActionCommand published (rclpy, Fast DDS)' if graph else \
        f"engine step from uint8 images (no ROS here: {res['ros_missing']})"
    return ['## Node end to end at DeeR budgets', '', f'- {what}', '',
            report.table(['budget (fraction of full)', 'frames', 'p50 ms', 'p95 ms', 'p99 ms',
                          head, 'compute used (fraction)'], rows)]


def compile_md(res: Dict[str, Any]) -> List[str]:
    """Eager against compiled, same weights."""
    t = res['timings']
    rows = [[name, s['median_ms'], s['p95_ms']] for name, s in t.items()]
    return ['## torch.compile against eager', '',
            f"- mode {res['mode']}; compilation (warm-up) {res['compile_s']:.1f} s; speed-up "
            f"{res['speedup']:.2f}x; max |Δaction| {res['max_action_difference']:.1e}", '',
            report.table(['variant', 'frame p50 ms', 'frame p95 ms'], rows)]


FULL_GOAL_MS, THIRD_GOAL_MS = 15.0, 8.0     # issue 26: deer-3b on an H100, per action


def goals_md(result: Dict[str, Any]) -> List[str]:
    """The issue's goals beside the figures that answer them (set for deer-3b on an H100)."""
    rows = []
    node = result.get('node')
    if node:
        key = 'arrival_to_publish_ms' if node['mode'] == 'rclpy graph' else 'latency_ms'
        for fraction, goal in ((1.0, FULL_GOAL_MS), (1 / 3, THIRD_GOAL_MS)):
            row = min(node['rows'], key=lambda r: abs(r['budget_fraction'] - fraction))
            if abs(row['budget_fraction'] - fraction) < 0.05:
                p50 = row[key]['median_ms']
                rows.append([f"p50 per action at budget {row['budget_fraction']:g}",
                             f'< {goal:g} ms', p50, p50 < goal])
    prop = result.get('proportionality')
    if prop:
        rows.append(['LLM latency / GMAC ratio, worst exit', '±10 %',
                     f"{100 * prop['max_deviation']:.1f} %", prop['linear_pass']])
    if not rows:
        return []
    return ['## Goals (issue 26: deer-3b on an H100)', '',
            report.table(['measure', 'goal', 'measured', 'met'], rows)]


def gpu_markdown(result: Dict[str, Any]) -> str:
    """The whole report."""
    from deer_ros.bench.proportionality import proportionality_markdown
    render = {'environment': environment_md, 'exits': exits_md, 'fidelity': fidelity_md,
              'memory': memory_md, 'node': node_md, 'compile': compile_md,
              'proportionality': lambda r: ['## Proportionality', '',
                                            proportionality_markdown(r)]}
    lines = [f"# deer-ros bench gpu: {result['config']['preset']} on "
             f"{result['config']['device']}", '']
    rows = [[name, s['status'], s.get('seconds'), s.get('cpu_s'),
             s.get('reason') or s.get('error', '')] for name, s in result['sections'].items()]
    lines += [report.table(['section', 'status', 'wall s', 'process CPU s', 'note'], rows), '']
    lines += goals_md(result) + ['']
    for name, fn in render.items():
        if name in result:
            lines += fn(result[name]) + ['']
    return '\n'.join(lines)


def write_gpu(result: Dict[str, Any], out_dir: str) -> List[str]:
    """gpu.json (raw), gpu.md, environment.json and memory_trace.json under out_dir."""
    paths = report.write_outputs(result, gpu_markdown(result), out_dir, 'gpu')
    folder = pathlib.Path(out_dir)
    for name, value in (('environment', result.get('environment')),
                        ('memory_trace', (result.get('memory') or {}).get('trace'))):
        if value is not None:
            path = folder / f'{name}.json'
            path.write_text(json.dumps(value, indent=1) + '\n')
            paths.append(str(path))
    return paths
