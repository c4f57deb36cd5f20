"""`deer-ros bench gpu`: every CUDA path of the node measured by one command, in one process.

Sections, in order of what a short GPU lease needs first; each is skipped once the time limit
would be passed, and a failing one is recorded (its error) without losing the others:

1. environment: device, driver, CUDA, torch, NVML versions ('absent' where there are none);
2. exits: per-exit latency p50/p95 split into preprocessing, vision + perceiver, LLM and head,
   per precision the device supports, with peak allocated and NVML used memory per exit cap
   (bench.exits; CUDA events, warm-up excluded);
3. proportionality: LLM latency per exit against its GMAC ratio, one exit check's cost;
4. fidelity: exit flips and pose differences of bf16 / fp16 against fp32 (bench.fidelity);
5. memory: live budgets shed and reload exits, a competitor, a real OOM (bench.memory_live);
6. node: deer_node end to end at DeeR's budgets (bench.node_budgets);
7. compile: the model.compile_mode setting's compiled segments against eager (bench.fastpath).

Results are written after every section (gpu.json, gpu.md, environment.json, memory_trace.json),
so a run stopped from outside still leaves what it measured.
"""
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional

from deer_ros.bench.config import BenchConfig, own_default
from deer_ros.bench.models import bench_rollout, camera_images
from deer_ros.bench.timing import set_threads
from deer_ros.model.config import COMPILE_MODES
from deer_ros.ros_io.param_schema import setting

SECTIONS = ('exits', 'proportionality', 'fidelity', 'memory', 'node', 'compile')


@dataclass(frozen=True)
class GpuBenchConfig(BenchConfig):
    """Settings of `deer-ros bench gpu` (steps / warm-up: per exit, round, frame or budget)."""

    preset: str = own_default('preset', 'deer-3b')
    device: str = own_default('device', 'cuda')
    steps: int = setting(0, 'timed steps per exit, round, budget or variant (0 = auto: 30 on '
                            'CUDA, 3 on a CPU)', min=0, max=1000000)
    warmup: int = setting(-1, 'untimed warm-up steps before each (-1 = auto: 5 on CUDA, 1 on a '
                              'CPU)', min=-1, max=1000000)
    precisions: str = setting('fp32,bf16,fp16', 'comma-separated precisions to measure (each '
                                                'one the device supports)')
    budgets: str = setting('1,0.5,0.333', "comma-separated average-compute budgets of the node "
                                          "run, fractions of the full model (1 = full depth)")
    fidelity_frames: int = setting(0, 'frames compared across precisions (0 = auto: 32 on CUDA, '
                                      '6 on a CPU)', min=0, max=10000)
    memory_frames: int = setting(8, 'frames per memory phase (at least enough to reload)',
                                 min=1, max=10000)
    compile_mode: str = setting('reduce-overhead', "model.compile_mode checked against eager",
                                choices=COMPILE_MODES)
    control_rate_hz: float = setting(100.0, "deer_node's control timer in the node run",
                                     unit='Hz', min=0.5, max=1000.0)
    skip: str = setting('', f"comma-separated sections to leave out ({', '.join(SECTIONS)})")
    time_limit_s: float = setting(480.0, 'no section starts after this much time; keep it under '
                                         "the device run's timeout", unit='s', min=1.0,
                                  max=86400.0)

    def __post_init__(self) -> None:
        """Refuse a malformed list as well as an out-of-range field."""
        from deer_ros.ros_io.param_schema import refuse_problems
        more = []
        try:
            fractions = self.budget_fractions
            if not all(0.0 < f <= 1.0 for f in fractions):
                more.append(f'budgets: {self.budgets!r} must be fractions in (0, 1]')
        except ValueError:
            more.append(f'budgets: {self.budgets!r} is not a comma-separated list of numbers')
        unknown = [p for p in self.precision_list if p not in ('fp32', 'bf16', 'fp16')]
        if unknown or 'fp32' not in self.precision_list:
            more.append(f'precisions: {self.precisions!r} must list fp32 and only fp32, bf16, '
                        'fp16')
        bad = [s for s in self.skipped if s not in SECTIONS]
        if bad:
            more.append(f"skip: unknown section(s) {', '.join(bad)}; known: "
                        f"{', '.join(SECTIONS)}")
        refuse_problems(self, type(self).__name__, more)

    @property
    def cuda(self) -> bool:
        """The run is on a GPU (sets the automatic step counts)."""
        return self.device.startswith('cuda')

    @property
    def timed_steps(self) -> int:
        """Steps in force (auto resolved)."""
        return self.steps or (30 if self.cuda else 3)

    @property
    def warmup_steps(self) -> int:
        """Warm-up steps in force (auto resolved)."""
        return self.warmup if self.warmup >= 0 else (5 if self.cuda else 1)

    @property
    def fidelity_count(self) -> int:
        """Fidelity frames in force (auto resolved)."""
        return self.fidelity_frames or (32 if self.cuda else 6)

    @property
    def precision_list(self) -> List[str]:
        """The precisions asked for, in order."""
        return _items(self.precisions)

    @property
    def budget_fractions(self) -> List[float]:
        """The node run's budgets as floats."""
        return [float(x) for x in _items(self.budgets)]

    @property
    def skipped(self) -> List[str]:
        """Sections left out."""
        return _items(self.skip)


def _items(text: str) -> List[str]:
    return [x.strip() for x in text.split(',') if x.strip()]


class _Run:
    """Runs sections under the time limit, records each one's time and error, writes files."""

    def __init__(self, cfg: GpuBenchConfig, result: Dict[str, Any],
                 write: Callable[[Dict[str, Any]], None]) -> None:
        self.cfg, self.result, self.write = cfg, result, write
        self.start = time.monotonic()

    def section(self, name: str, fn: Callable[[], Any]) -> None:
        log = self.result['sections']
        elapsed = time.monotonic() - self.start
        if name in self.cfg.skipped:
            log[name] = dict(status='skipped', reason='--skip')
        elif elapsed > self.cfg.time_limit_s:
            log[name] = dict(status='skipped', reason=f'time limit {self.cfg.time_limit_s:g} s '
                                                      f'reached ({elapsed:.0f} s)')
        else:
            t, cpu = time.monotonic(), time.process_time()
            try:
                self.result[name] = fn()
                log[name] = dict(status='ok', seconds=time.monotonic() - t,
                                 cpu_s=time.process_time() - cpu)
            except Exception as exc:   # recorded: the lease's other sections still run
                log[name] = dict(status='error', seconds=time.monotonic() - t,
                                 cpu_s=time.process_time() - cpu,
                                 error=f'{type(exc).__name__}: {exc}',
                                 traceback=traceback.format_exc()[-4000:])
        self.result['total_s'] = time.monotonic() - self.start
        self.write(self.result)


def check_device(device: str) -> Optional[str]:
    """Why `device` cannot run here, or None (asks torch.cuda only for a CUDA device)."""
    if not device.startswith('cuda'):
        return None
    import torch
    if not torch.cuda.is_available():
        return (f'device {device!r} asked for, but torch sees no CUDA device (torch '
                f'{torch.__version__}, CUDA build {torch.version.cuda or "none"}); '
                'use --device cpu for the CPU run')
    return None


def run_gpu(cfg: GpuBenchConfig, write: Callable[[Dict[str, Any]], None] = lambda r: None
            ) -> Dict[str, Any]:
    """Every section; `write(result)` is called after each one (partial results survive)."""
    from deer_ros.bench import exits, fastpath, fidelity, memory_live, node_budgets
    from deer_ros.bench import proportionality as prop
    from deer_ros.bench.gpu_env import gpu_environment, supported_precisions
    problem = check_device(cfg.device)
    if problem:
        raise ValueError(problem)
    threads = set_threads(cfg.threads)
    result: Dict[str, Any] = dict(benchmark='gpu', config=asdict(cfg), sections={})
    run = _Run(cfg, result, write)
    run.section('environment', lambda: gpu_environment(cfg.device, threads, cfg.command))
    support = supported_precisions(cfg.device, cfg.precision_list)
    result['precisions'] = support
    steps, warmup = cfg.timed_steps, cfg.warmup_steps
    common = dict(preset=cfg.preset, overrides=cfg.overrides, device=cfg.device,
                  steps=steps, warmup=warmup, threads=cfg.threads, seed=cfg.seed,
                  image_height=cfg.image_height, image_width=cfg.image_width,
                  command=cfg.command)
    usable = [p for p, why in support.items() if not why]
    rollout = bench_rollout(cfg.preset, cfg.overrides, cfg.seed, cfg.device)   # built once
    images = camera_images(2, cfg.image_height, cfg.image_width, cfg.seed)
    run.section('exits', lambda: {p: exits.run_exits(exits.ExitsConfig(**common, precision=p),
                                                     rollout) for p in usable})
    run.section('proportionality', lambda: prop.run_proportionality(
        prop.ProportionalityConfig(**common, precision='fp32'), rollout))
    rollout.precision = 'fp32'
    run.section('fidelity', lambda: fidelity.run_fidelity(
        rollout, usable, cfg.fidelity_count, cfg.image_height, cfg.image_width, cfg.seed))
    run.section('memory', lambda: memory_live.run_memory_live(rollout, images,
                                                              cfg.memory_frames))
    run.section('node', lambda: node_budgets.run_node_budgets(
        rollout, images, cfg.budget_fractions, steps, warmup, cfg.control_rate_hz))
    run.section('compile', lambda: fastpath.compare_compiled(
        rollout, images, steps, warmup, cfg.compile_mode))
    result['passed'] = all(s['status'] != 'error' for s in result['sections'].values())
    write(result)
    return result
