"""Benchmark 5: the per-frame fast path, before vs after, in one run on the same weights.

Two rollouts of the same preset and seed: `bench.reference.ReferenceRollout` (one vision call
per camera, prompt embedding and bias recomputed each frame, explicit-softmax attention, oneDNN
LSTM on CPU, two read-backs per head) and the production `ModelRollout` (both cameras batched,
cached prompt tensors, SDPA, native single-step LSTM on CPU, one read-back). Optionally a third
with torch.compile per layer.
Frames alternate between them; each frame runs vision, every layer and DeeR's worst case of
head checks (layer 0 + every exit). Outputs are compared, so "faster" never means "different".
"""
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List

import numpy as np

from deer_ros.bench import report
from deer_ros.bench.config import AutocastBenchConfig
from deer_ros.bench.models import bench_rollout, camera_images, environment
from deer_ros.bench.timing import PhaseTimer, set_threads, summarize
from deer_ros.ros_io.param_schema import setting, setting_like
from deer_ros.ros_io.settings import ModelSettings

_MB = 1024.0 * 1024.0
ACTION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class FastPathConfig(AutocastBenchConfig):
    """Settings of `deer-ros bench fastpath`."""

    compile: bool = setting(False, 'also torch.compile each layer (slow to compile on CPU)')
    compile_mode: str = setting_like(ModelSettings, 'compile_mode')


def _frame(rollout: Any, timer: PhaseTimer, images: List[Any]) -> Dict[str, Any]:
    timer.start()
    frame = rollout.encode(images[0], images[1])
    timer.mark('vision_ms')
    rollout.run_layers(frame, 0, rollout.exit_layers[-1] + 1)
    timer.mark('llm_ms')
    cands = [rollout.candidate(frame, layer) for layer in [0, *rollout.exit_layers]]
    rollout.commit(cands[-1])
    timer.mark('heads_ms')
    phases = timer.finish()
    phases['actions'] = np.stack([c.action for c in cands])
    return phases


def run_fastpath(cfg: FastPathConfig) -> Dict[str, Any]:
    """Time the variants alternately; returns a JSON-ready result."""
    threads = set_threads(cfg.threads)
    variants: Dict[str, Dict[str, Any]] = {'before': dict(reference=True), 'after': {}}
    if cfg.compile:
        variants['after+compile'] = dict(compile_layers=True, compile_mode=cfg.compile_mode)
    rollouts = {name: bench_rollout(cfg.preset, cfg.overrides, cfg.seed, cfg.device,
                                    cfg.precision, **kw) for name, kw in variants.items()}
    images = camera_images(2, cfg.image_height, cfg.image_width, cfg.seed)
    timer = PhaseTimer(next(iter(rollouts.values())).device.type)
    compile_s = None
    if cfg.compile:
        t = time.perf_counter()
        compiled = rollouts['after+compile']
        _frame(compiled, timer, images)
        compile_s = time.perf_counter() - t
        compiled.reset(compiled.instruction)     # same head state as the other variants
    samples: Dict[str, List[Dict[str, Any]]] = {name: [] for name in rollouts}
    for r in range(cfg.warmup + cfg.steps):
        for name, rollout in rollouts.items():
            out = _frame(rollout, timer, images)
            if r >= cfg.warmup:
                samples[name].append(out)
    phases = ('total', 'vision_ms', 'llm_ms', 'heads_ms')
    table = {name: {p: summarize([s[p] for s in rows]).to_dict() for p in phases}
             for name, rows in samples.items()}
    base = table['before']
    ratios = {name: {p: base[p]['median_ms'] / t[p]['median_ms'] for p in phases}
              for name, t in table.items()}
    diffs = {name: float(max(np.abs(a['actions'] - b['actions']).max()
                             for a, b in zip(samples['before'], rows)))
             for name, rows in samples.items()}
    first = next(iter(rollouts.values()))
    return dict(benchmark='fastpath', config=asdict(cfg),
                environment=environment(str(first.device), threads, cfg.command),
                model=first.config.name, timings=table, speedup=ratios,
                max_action_difference=diffs, compile_s=compile_s,
                equivalent={n: d <= ACTION_TOLERANCE for n, d in diffs.items()},
                memory_cap=memory_cap(rollouts['after']))


def memory_cap(rollout: Any) -> Dict[str, Any]:
    """Device memory with every exit resident vs capped at exit 0 (then restored)."""
    import torch
    last = len(rollout.exit_layers) - 1
    cuda = rollout.device.type == 'cuda'

    def sample() -> Dict[str, Any]:
        out = {'param_bytes': int(rollout.device_parameter_bytes())}
        if cuda:
            torch.cuda.synchronize()
            out['allocated_bytes'] = int(torch.cuda.memory_allocated(rollout.device))
            out['reserved_bytes'] = int(torch.cuda.memory_reserved(rollout.device))
            from deer_ros.telemetry import default_memory_source
            nvml = default_memory_source(rollout.device.index or 0).sample()
            out['nvml_used_mb'] = nvml.device_used_mb if nvml.active else None
        return out
    full = sample()
    rollout.set_resident_exit(0)
    capped = sample()
    rollout.set_resident_exit(last)
    note = None if cuda else ('CPU: parameter bytes on the device only; the capped weights are '
                              'kept in host RAM, and allocated/NVML figures need a GPU')
    return dict(full=full, capped_at_exit_0=capped, note=note)


def fastpath_markdown(result: Dict[str, Any]) -> str:
    """Before/after table, equivalence and the memory cap."""
    rows = []
    for name, t in result['timings'].items():
        sp = result['speedup'][name]
        rows.append([name, t['total']['median_ms'], t['total']['p95_ms'], sp['total'],
                     t['vision_ms']['median_ms'], sp['vision_ms'], t['llm_ms']['median_ms'],
                     sp['llm_ms'], t['heads_ms']['median_ms'], sp['heads_ms'],
                     f"{result['max_action_difference'][name]:.1e}"])
    header = ['variant', 'frame median ms', 'frame p95 ms', 'speed-up', 'vision ms', 'speed-up',
              'LLM ms', 'speed-up', 'heads (7) ms', 'speed-up', 'max abs Δaction']
    mem = result['memory_cap']
    lines = [f"### Fast path before/after: {result['model']}", '',
             *report.environment_lines(result),
             f"- {result['timings']['before']['total']['n']} frames per variant after warm-up, "
             'variants alternating; a frame = vision (2 cameras) + all layers + 7 head checks',
             f"- outputs equal within {ACTION_TOLERANCE:g}: " + ', '.join(
                 f"{n}: {'yes' if ok else 'NO'}" for n, ok in result['equivalent'].items())]
    if result['compile_s'] is not None:
        lines.append(f"- torch.compile (mode {result['config']['compile_mode']}): first frame "
                     f"(compilation) {result['compile_s']:.1f} s")
    lines += [f"- memory cap: parameters on the device {mem['full']['param_bytes'] / _MB:.1f} MB "
              f"with every exit resident, {mem['capped_at_exit_0']['param_bytes'] / _MB:.1f} MB "
              'capped at exit 0' + (f" ({mem['note']})" if mem['note'] else ''),
              '', report.table(header, rows)]
    return '\n'.join(lines)


def compare_compiled(rollout: Any, images: List[Any], steps: int, warmup: int,
                     mode: str) -> Dict[str, Any]:
    """The rollout eager vs the same weights compiled (`mode`), frames alternating.

    The compiled rollout wraps the same model (no second copy of the weights); compilation (the
    first frames: ModelRollout.warm_up) is timed apart and excluded. A GPU warms up on two
    prompt lengths as the node does; a CPU on the benchmark's one (half the compile time of a
    check whose every kernel goes through the C++ compiler).
    """
    from deer_ros.bench.models import INSTRUCTION
    from deer_ros.model.rollout import WARM_UP_INSTRUCTIONS, ModelRollout
    compiled = ModelRollout(rollout.model, rollout.tokenizer, device=str(rollout.device),
                            precision=rollout.precision, compile_layers=True, compile_mode=mode)
    cuda = rollout.device.type == 'cuda'
    compile_s = compiled.warm_up(instructions=WARM_UP_INSTRUCTIONS if cuda else (INSTRUCTION,))
    timer = PhaseTimer(rollout.device.type)
    samples: Dict[str, List[Dict[str, Any]]] = {'eager': [], 'compiled': []}
    for variant in (rollout, compiled):
        variant.reset(INSTRUCTION)
    for r in range(warmup + steps):
        for name, variant in (('eager', rollout), ('compiled', compiled)):
            out = _frame(variant, timer, images)
            if r >= warmup:
                samples[name].append(out)
    timings = {name: summarize([s['total'] for s in rows]).to_dict()
               for name, rows in samples.items()}
    diff = float(max(np.abs(a['actions'] - b['actions']).max()
                     for a, b in zip(samples['eager'], samples['compiled'])))
    return dict(mode=mode, compile_s=compile_s, timings=timings, max_action_difference=diff,
                speedup=timings['eager']['median_ms'] / timings['compiled']['median_ms'])
