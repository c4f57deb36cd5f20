"""Benchmark 1: per-exit cost (latency, LLM GMAC, resident and peak memory) vs the full model.

Each step runs what a fixed-exit policy runs: preprocessing (resize + normalise), vision +
perceiver for both cameras, layers
0..exit_layers[k], one head evaluation and commit. Exits are interleaved round-robin, so load
drifting on a shared machine affects every exit alike; the full model is the last exit.
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from deer_ros.bench import report
from deer_ros.bench.config import AutocastBenchConfig
from deer_ros.bench.models import camera_images, environment, shared_rollout
from deer_ros.bench.timing import PhaseTimer, set_threads, summarize

_MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class ExitsConfig(AutocastBenchConfig):
    """Settings of `deer-ros bench exits` (steps and warm-up are per exit)."""


def _step(rollout: Any, timer: PhaseTimer, images: List[Any], layer: int) -> Dict[str, float]:
    timer.start()
    frame = rollout.encode(images[0], images[1], mark=timer.mark)    # marks 'preprocess_ms'
    timer.mark('vision_ms')
    rollout.run_layers(frame, 0, layer + 1)
    timer.mark('llm_ms')
    rollout.commit(rollout.candidate(frame, layer))
    timer.mark('head_ms')
    return timer.finish()


def run_exits(cfg: ExitsConfig, rollout: Optional[Any] = None) -> Dict[str, Any]:
    """Measure every exit; returns a JSON-ready result (see exits_markdown).

    rollout: one already built for cfg's preset (`deer-ros bench gpu` builds deer-9b once); it
    is switched to cfg.precision.
    """
    threads = set_threads(cfg.threads)
    rollout = shared_rollout(cfg, rollout)
    images = camera_images(2, cfg.image_height, cfg.image_width, cfg.seed)
    timer = PhaseTimer(rollout.device.type)
    exits = list(rollout.exit_layers)
    samples: List[List[Dict[str, float]]] = [[] for _ in exits]
    for r in range(cfg.warmup + cfg.steps):
        for k, layer in enumerate(exits):
            phases = _step(rollout, timer, images, layer)
            if r >= cfg.warmup:
                samples[k].append(phases)
    gmacs = rollout.layer_gmacs()
    memory = _memory_per_cap(rollout, timer, images)
    rows = []
    for k, layer in enumerate(exits):
        row = {'exit': k, 'layer': layer, 'layers': layer + 1,
               'llm_gmacs': float(sum(gmacs[:layer + 1])), **memory[k]}
        for phase in ('total', 'preprocess_ms', 'vision_ms', 'llm_ms', 'head_ms'):
            row[phase if phase != 'total' else 'step'] = \
                summarize([s[phase] for s in samples[k]]).to_dict()
        rows.append(row)
    full = rows[-1]
    for row in rows:
        row['ratio_latency'] = row['step']['median_ms'] / full['step']['median_ms']
        row['ratio_llm_latency'] = row['llm_ms']['median_ms'] / full['llm_ms']['median_ms']
        row['ratio_gmacs'] = row['llm_gmacs'] / full['llm_gmacs']
        row['ratio_resident'] = row['resident_param_bytes'] / full['resident_param_bytes']
        row['vision_share'] = (row['preprocess_ms']['median_ms'] + row['vision_ms']['median_ms']
                               ) / row['step']['median_ms']
    env = environment(str(rollout.device), threads, cfg.command)
    if rollout.device.type != 'cuda':
        env['note'] = ('CPU: peak allocated memory needs CUDA (torch.cuda.max_memory_allocated);'
                       ' memory columns are parameter bytes on the device')
    return dict(benchmark='exits', config=asdict(cfg), environment=env,
                model=rollout.config.name, tokens=rollout.num_tokens,
                vision_gmacs=float(rollout.vision_gmacs), head_gmacs=float(rollout.head_gmacs),
                exits=rows)


def _memory_per_cap(rollout: Any, timer: PhaseTimer, images: List[Any]) -> List[Dict[str, Any]]:
    """Per exit k: parameter bytes on the device with the cap at exit k.

    On CUDA also the peak allocated of one step and NVML's used memory of the whole device
    (None where absent). The cap walks down from the deepest exit and is restored once, so each
    layer crosses the bus twice (deer-9b: 51 GB, not 380 GB for a round trip per exit).
    """
    last = len(rollout.exit_layers) - 1
    out: List[Dict[str, Any]] = [{} for _ in rollout.exit_layers]
    for k in range(last, -1, -1):
        rollout.set_resident_exit(k)
        out[k] = {'resident_param_bytes': int(rollout.device_parameter_bytes()),
                  'peak_allocated_bytes': None, 'nvml_used_mb': None}
        if rollout.device.type == 'cuda':
            import torch

            from deer_ros.telemetry import default_memory_source
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(rollout.device)
            _step(rollout, timer, images, rollout.exit_layers[k])
            out[k]['peak_allocated_bytes'] = int(torch.cuda.max_memory_allocated(rollout.device))
            nvml = default_memory_source(rollout.device.index or 0).sample()
            out[k]['nvml_used_mb'] = nvml.device_used_mb if nvml.active else None
    rollout.set_resident_exit(last)
    return out


def exits_markdown(result: Dict[str, Any]) -> str:
    """Tables of run_exits' result."""
    rows = []
    for r in result['exits']:
        peak = r['peak_allocated_bytes']
        rows.append([r['exit'], r['layers'], r['llm_gmacs'], r['ratio_gmacs'],
                     r['step']['median_ms'], r['step']['p95_ms'], r['ratio_latency'],
                     r['llm_ms']['median_ms'], r['ratio_llm_latency'],
                     r['preprocess_ms']['median_ms'], r['vision_ms']['median_ms'],
                     r['head_ms']['median_ms'], r['vision_share'],
                     r['resident_param_bytes'] / _MB, r['ratio_resident'],
                     None if peak is None else peak / _MB, r['nvml_used_mb']])
    header = ['exit', 'layers', 'LLM GMAC', 'GMAC / full', 'step median ms', 'step p95 ms',
              'latency / full', 'LLM median ms', 'LLM latency / full', 'preprocess median ms',
              'vision + perceiver median ms', 'head median ms', 'pre + vision share',
              'resident params MB', 'resident / full', 'peak alloc MB', 'NVML used MB']
    n = result['exits'][0]['step']['n']
    lines = [f"### Per-exit cost: {result['model']} ({result['environment']['device']})", '',
             *report.environment_lines(result),
             f"- {n} timed steps per exit after warm-up, exits interleaved; prompt "
             f"{result['tokens']} tokens; two {result['config']['image_width']}x"
             f"{result['config']['image_height']} cameras",
             f"- vision encoder + perceiver (both cameras): {result['vision_gmacs']:.4g} GMAC, "
             f"not reduced by early exit; one head evaluation {result['head_gmacs']:.4g} GMAC",
             '', report.table(header, rows)]
    return '\n'.join(lines)
