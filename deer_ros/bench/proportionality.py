"""Benchmark 2: segment-wise execution costs what the FLOPs say.

Each round encodes one frame (untimed), then runs the layers segment by segment as the engine
does (run_layers per exit segment + synchronize), reading the clock at every exit: t_k is the
LLM time to reach exit k. Then every exit check is timed (head evaluation + DeeR criterion),
and one monolithic run_layers(0, N) measures what segmenting costs. The first head evaluation of
a frame also computes the LSTM's recurrent terms of the committed state (shared by every later
exit of that frame); a fixed-exit run pays it too, so it counts as the step's one head, and the
exit-check overhead is what each further check costs. Checks:

* linearity: |(t_k / t_full) / (GMAC_k / GMAC_full) - 1| <= 10% for every exit;
* exit-check overhead: one further check (head + criterion) <= 3% of the full step
  (vision + all layers + one first head evaluation). What a frame that checks every exit
  spends on checks in total is reported beside it.
"""
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from deer_ros.bench import report
from deer_ros.bench.config import AutocastBenchConfig
from deer_ros.bench.models import camera_images, environment, shared_rollout
from deer_ros.bench.timing import set_threads, summarize

LINEARITY_TOLERANCE = 0.10
CHECK_OVERHEAD_LIMIT = 0.03


@dataclass(frozen=True)
class ProportionalityConfig(AutocastBenchConfig):
    """Settings of `deer-ros bench proportionality` (steps: timed rounds after warm-up)."""


class _Clock:
    """Seconds after the queued work is done: CUDA events on a GPU, else the host clock.

    On CUDA each reading records an event, waits for it (as the engine waits at each exit) and
    returns its device time since a base event, so differences are device time.
    """

    def __init__(self, rollout: Any) -> None:
        self.rollout = rollout
        self._base = self._event() if rollout.device.type == 'cuda' else None

    @staticmethod
    def _event() -> Any:
        import torch
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        event.synchronize()
        return event

    def __call__(self) -> float:
        if self._base is None:
            return time.perf_counter()
        return self._base.elapsed_time(self._event()) / 1e3


def _round(rollout: Any, images: List[Any], clock: _Clock) -> Dict[str, Any]:
    from deer_ros.policies.criterion import consistency_value
    t0 = clock()
    frame = rollout.encode(images[0], images[1])
    vision = (clock() - t0) * 1e3
    exits = list(rollout.exit_layers)
    cumulative, done, start = [], 0, clock()
    for layer in exits:                                  # segment-wise, as the engine runs
        rollout.run_layers(frame, done, layer + 1)
        done = layer + 1
        cumulative.append((clock() - start) * 1e3)
    checks, ref = [], None
    for layer in [0] + exits:                            # DeeR: layer 0 is the first reference
        t = clock()
        cand = rollout.candidate(frame, layer)
        if ref is not None:
            consistency_value(cand.pose, ref.pose, 'rms')
        checks.append((clock() - t) * 1e3)
        ref = cand
    rollout.commit(cand)
    t = clock()
    rollout.run_layers(frame, 0, exits[-1] + 1)          # monolithic, for comparison
    mono = (clock() - t) * 1e3
    return dict(vision=vision, cumulative=cumulative, checks=checks, mono=mono)


def run_proportionality(cfg: ProportionalityConfig, rollout: Optional[Any] = None
                        ) -> Dict[str, Any]:
    """Measure and check; returns a JSON-ready result (see proportionality_markdown).

    rollout: one already built for cfg's preset, switched to cfg.precision.
    """
    threads = set_threads(cfg.threads)
    rollout = shared_rollout(cfg, rollout)
    images = camera_images(2, cfg.image_height, cfg.image_width, cfg.seed)
    clock = _Clock(rollout)
    rounds = [_round(rollout, images, clock) for _ in range(cfg.warmup + cfg.steps)]
    rounds = rounds[cfg.warmup:]
    exits = list(rollout.exit_layers)
    gmacs = rollout.layer_gmacs()
    exit_gmacs = [float(sum(gmacs[:e + 1])) for e in exits]
    llm = [summarize([r['cumulative'][k] for r in rounds]) for k in range(len(exits))]
    vision = summarize([r['vision'] for r in rounds])
    first = summarize([r['checks'][0] for r in rounds])
    check = summarize([c for r in rounds for c in r['checks'][1:]])
    mono = summarize([r['mono'] for r in rounds])
    full_llm, full_gmacs = llm[-1].median_ms, exit_gmacs[-1]
    step_ms = vision.median_ms + full_llm + first.median_ms
    rows = []
    for k, layer in enumerate(exits):
        ratio, flops_ratio = llm[k].median_ms / full_llm, exit_gmacs[k] / full_gmacs
        step_ratio = (vision.median_ms + llm[k].median_ms + first.median_ms) / step_ms
        step_flops = (rollout.vision_gmacs + exit_gmacs[k] + rollout.head_gmacs) / \
            (rollout.vision_gmacs + full_gmacs + rollout.head_gmacs)
        deviation = ratio / flops_ratio - 1.0
        rows.append(dict(exit=k, layers=layer + 1, llm=llm[k].to_dict(), latency_ratio=ratio,
                         gmacs_ratio=flops_ratio, deviation=deviation,
                         step_latency_ratio=step_ratio, step_gmacs_ratio=step_flops,
                         within_tolerance=bool(abs(deviation) <= LINEARITY_TOLERANCE)))
    check_fraction = check.median_ms / step_ms
    linear_ok = all(r['within_tolerance'] for r in rows)
    check_ok = check_fraction <= CHECK_OVERHEAD_LIMIT
    env = environment(str(rollout.device), threads, cfg.command)
    return dict(benchmark='proportionality', config=asdict(cfg), environment=env,
                model=rollout.config.name, tokens=rollout.num_tokens,
                layer_gmacs=float(np.mean(gmacs)), vision=vision.to_dict(),
                first_head=first.to_dict(), check=check.to_dict(),
                monolithic_llm=mono.to_dict(), step_ms=step_ms,
                segmentation_overhead=full_llm / mono.median_ms - 1.0,
                check_fraction=check_fraction, exits=rows,
                all_checks_fraction=(len(exits) - 1) * check_fraction,
                max_deviation=float(max(abs(r['deviation']) for r in rows)),
                linear_pass=linear_ok, check_pass=check_ok, passed=linear_ok and check_ok)


def proportionality_markdown(result: Dict[str, Any]) -> str:
    """Tables and the pass/fail verdicts."""
    rows = [[r['exit'], r['layers'], r['llm']['median_ms'], r['llm']['p95_ms'],
             r['latency_ratio'], r['gmacs_ratio'], f"{100 * r['deviation']:+.1f}%",
             r['step_latency_ratio'], r['step_gmacs_ratio']] for r in result['exits']]
    header = ['exit', 'layers', 'LLM median ms', 'LLM p95 ms', 'LLM latency / full',
              'GMAC / full', 'deviation', 'step latency / full', 'step GMAC / full']
    verdict = 'PASS' if result['passed'] else 'FAIL'
    n = result['vision']['n']
    lines = [f"### Proportionality: {result['model']} ({result['environment']['device']}): "
             f"{verdict}", '', *report.environment_lines(result),
             f"- {n} rounds after warm-up; one layer ≈ {result['layer_gmacs']:.4g} GMAC at "
             f"{result['tokens']} prompt tokens",
             f"- linearity (every exit within ±{100 * LINEARITY_TOLERANCE:.0f}% of the GMAC "
             f"ratio): {'pass' if result['linear_pass'] else 'FAIL'} (worst "
             f"{100 * result['max_deviation']:.1f}%)",
             f"- first head evaluation of a frame (with the shared recurrent terms) median "
             f"{result['first_head']['median_ms']:.3f} ms",
             f"- each further exit check (head + criterion) median "
             f"{result['check']['median_ms']:.3f} ms (p95 {result['check']['p95_ms']:.3f}) = "
             f"{100 * result['check_fraction']:.2f}% of the full step "
             f"{result['step_ms']:.2f} ms (limit {100 * CHECK_OVERHEAD_LIMIT:.0f}%): "
             f"{'pass' if result['check_pass'] else 'FAIL'}",
             f"- a frame that checks every exit (DeeR running to the last one) adds "
             f"{len(result['exits']) - 1} further checks: "
             f"{100 * result['all_checks_fraction']:.1f}% of its step (reported, no bound)",
             f"- segment-wise vs one run_layers(0, N): "
             f"{100 * result['segmentation_overhead']:+.1f}% "
             f"(monolithic median {result['monolithic_llm']['median_ms']:.2f} ms)",
             f"- vision + perceiver median {result['vision']['median_ms']:.2f} ms", '',
             report.table(header, rows)]
    return '\n'.join(lines)
