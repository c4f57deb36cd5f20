"""Live GPU-memory budgets: exits shed and reload while frames run (part of `deer-ros bench gpu`).

The InferenceEngine runs policy 'full' (every frame goes to the deepest resident exit) through
phases: baseline; `budget_gpu_memory_mb` lowered live (shed); raised again (reload, one exit at
a time after `memory_grow_patience` frames); a competing allocation under `memory_reserve_mb`
(shed); the competitor gone (reload); on CUDA a real out-of-memory (degrade).

Memory readings: on a GPU the node's own NVML source, and the competitor is another process
holding device memory. A CPU has no device memory: `ResidentBytesSource` reads the parameter bytes
the rollout keeps on its device (what shedding changes) plus the competitor's scheduled bytes.
Either run is recorded; on a CPU the recording is then replayed through TraceMemorySource on the
same rollout, and the replay must take the same decisions frame by frame.
"""
import dataclasses
import subprocess
import sys
from typing import Any, Dict, List, Optional

from deer_ros.telemetry import (MemorySample, MemorySource, RecordingMemorySource, Telemetry,
                                TraceMemorySource, default_memory_source)

_MB = 1024.0 * 1024.0
PATIENCE = 2            # frames of headroom before each reload (memory_grow_patience)
COMPETITOR = ('import sys, torch\n'
              'x = torch.ones(int(float(sys.argv[2]) * 2**20), dtype=torch.uint8,\n'
              '               device=f"cuda:{sys.argv[1]}")\n'
              'torch.cuda.synchronize()\n'
              'print("ready", flush=True)\n'
              'sys.stdin.read()\n')


class ResidentBytesSource:
    """CPU stand-in for NVML: the rollout's on-device parameter bytes plus a competitor's."""

    def __init__(self, rollout: Any, total_mb: float) -> None:
        self.rollout, self.total_mb, self.competitor_mb = rollout, float(total_mb), 0.0

    def sample(self) -> MemorySample:
        """Process = parameters on the device; used = that plus the competitor's bytes."""
        own = self.rollout.device_parameter_bytes() / _MB
        used = own + self.competitor_mb
        return MemorySample(True, process_mb=own, device_used_mb=used,
                            device_free_mb=self.total_mb - used, device_total_mb=self.total_mb,
                            allocated_mb=own, reason='cpu: parameter bytes on the device')


class _Competitor:
    """Another process holding `mb` of device memory (CUDA), or scheduled bytes (CPU)."""

    def __init__(self, rollout: Any, source: Any, mb: float) -> None:
        self.source, self.proc = source, None
        if rollout.device.type == 'cuda':
            self.proc = subprocess.Popen(
                [sys.executable, '-c', COMPETITOR, str(rollout.device.index or 0), str(mb)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if self.proc.stdout.readline().strip() != 'ready':
                raise RuntimeError(f'competing allocation of {mb:.0f} MB failed to start')
        else:
            source.competitor_mb = mb

    def stop(self) -> None:
        """Free the competitor's memory."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        else:
            self.source.competitor_mb = 0.0


def _plan(rollout: Any, base: MemorySample, frames: int) -> Dict[str, Any]:
    """Budgets and competitor size from the baseline reading and the layers' bytes."""
    exits = [e + 1 for e in rollout.exit_layers]
    layer_mb = sum(rollout.layer_parameter_bytes()) / _MB / rollout.num_layers
    upper_mb = (exits[-1] - exits[len(exits) // 2]) * layer_mb   # the deeper half's layers
    reload_frames = (len(exits) - len(exits) // 2 + 1) * PATIENCE + 1     # one exit a time
    return dict(layer_mb=layer_mb, frames=max(frames, reload_frames),
                budget_low_mb=base.process_mb - upper_mb + 0.5 * layer_mb,
                budget_high_mb=base.process_mb + 2.0 * layer_mb,
                competitor_mb=2.0 * upper_mb,
                reserve_mb=base.device_free_mb - upper_mb)


def _phases(plan: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Shedding acts on the first frame; reloading needs PATIENCE frames per exit."""
    n, short = plan['frames'], min(plan['frames'], 3)
    return [dict(name='baseline', frames=short, config={}),
            dict(name='budget lowered', frames=short,
                 config=dict(budget_gpu_memory_mb=plan['budget_low_mb'])),
            dict(name='budget raised', frames=n,
                 config=dict(budget_gpu_memory_mb=plan['budget_high_mb'])),
            dict(name='competitor', frames=short, competitor=True,
                 config=dict(budget_gpu_memory_mb=0.0, memory_reserve_mb=plan['reserve_mb'])),
            dict(name='competitor gone', frames=n, config={})]


def _engine(rollout: Any, source: MemorySource, plan: Dict[str, Any]) -> Any:
    from deer_ros.policies.config import EngineConfig
    from deer_ros.policies.engine import InferenceEngine
    from deer_ros.bench.models import INSTRUCTION
    rollout.set_resident_exit(len(rollout.exit_layers) - 1)
    engine = InferenceEngine(rollout, EngineConfig(
        policy='full', memory_grow_patience=PATIENCE, layer_memory_mb=plan['layer_mb'],
        memory_hysteresis_mb=0.5 * plan['layer_mb']), Telemetry(memory=source))
    engine.reset(INSTRUCTION)
    return engine


def _run_phases(rollout: Any, source: Any, inner: Any, plan: Dict[str, Any],
                images: List[Any]) -> List[Dict[str, Any]]:
    """Frames of every phase; `source` feeds the engine, `inner` gives each row's reading.

    The rows read `inner` after each frame, apart from the engine's (recorded) samples, so a
    phase without a budget (no samples) still shows the device's memory.
    """
    engine = _engine(rollout, source, plan)
    rows = []
    for phase in _phases(plan):
        engine.update_config(**phase['config'])
        competitor = _Competitor(rollout, inner, plan['competitor_mb']) \
            if phase.get('competitor') else None
        try:
            for _ in range(phase['frames']):
                rec = engine.step(images[0], images[1])
                now = inner.sample()
                rows.append(dict(phase=phase['name'], resident_exit=rec.resident_exit,
                                 action=rec.memory_action, process_mb=now.process_mb,
                                 device_used_mb=now.device_used_mb,
                                 device_free_mb=now.device_free_mb, latency_ms=rec.latency_ms))
        finally:
            if competitor is not None:
                competitor.stop()
    return rows


def _warm(rollout: Any, images: List[Any]) -> None:
    """One full frame, so that the allocator holds a frame's activations before planning."""
    from deer_ros.bench.models import INSTRUCTION
    rollout.reset(INSTRUCTION)
    frame = rollout.encode(images[0], images[1])
    rollout.run_layers(frame, 0, rollout.exit_layers[-1] + 1)
    rollout.candidate(frame, rollout.exit_layers[-1])
    rollout.synchronize()


def run_memory_live(rollout: Any, images: List[Any], frames: int) -> Dict[str, Any]:
    """All phases (plus OOM on CUDA); returns frames, plan, verdicts and the recorded trace."""
    cuda = rollout.device.type == 'cuda'
    rollout.set_resident_exit(len(rollout.exit_layers) - 1)
    if cuda:
        inner: Any = default_memory_source(rollout.device.index or 0)
        if not inner.sample().active:
            return dict(skipped=f'no NVML on this GPU machine: {inner.sample().reason}')
    else:
        inner = ResidentBytesSource(rollout, 4.0 * rollout.device_parameter_bytes() / _MB)
    _warm(rollout, images)
    plan = _plan(rollout, inner.sample(), frames)
    source = RecordingMemorySource(inner)
    rows = _run_phases(rollout, source, inner, plan, images)
    out: Dict[str, Any] = dict(source='NVML' if cuda else 'parameter bytes (CPU)', plan=plan,
                               frames=rows, trace=[dataclasses.asdict(s) for s in source.samples])
    if not cuda:      # replay the recording: the same decisions, frame by frame
        replay = RecordingMemorySource(TraceMemorySource(source.samples))
        again = _run_phases(rollout, replay, ResidentBytesSource(rollout, 0.0), plan, images)
        out['replay_matches'] = [(r['resident_exit'], r['action']) for r in again] == \
            [(r['resident_exit'], r['action']) for r in rows]
    else:
        out['oom'] = _oom_degrade(rollout, images, plan)
    out['verdicts'] = _verdicts(rows, len(rollout.exit_layers) - 1, cuda)
    for key in ('replay_matches',):
        if key in out:
            out['verdicts'][key] = out[key]
    if 'oom' in out:
        out['verdicts']['oom_degrades'] = out['oom']['degraded']
    return out


def _oom_degrade(rollout: Any, images: List[Any], plan: Dict[str, Any]) -> Dict[str, Any]:
    """Fill the GPU, then step: the engine must shed an exit and answer (CUDA only)."""
    import torch
    engine = _engine(rollout, None, plan)
    dev = rollout.device
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(dev)
    filler: Optional[torch.Tensor] = torch.empty(max(0, free - 2 * 2**20), dtype=torch.uint8,
                                                 device=dev)
    try:
        rec = engine.step(images[0], images[1])
        return dict(filled_mb=free / _MB, memory_action=rec.memory_action,
                    resident_exit=rec.resident_exit, degraded=rec.memory_action == 'oom_shed')
    except Exception as exc:     # reported, not raised: the report still gets written
        return dict(filled_mb=free / _MB, degraded=False, error=f'{type(exc).__name__}: {exc}')
    finally:
        del filler
        torch.cuda.empty_cache()
        rollout.set_resident_exit(len(rollout.exit_layers) - 1)


def _verdicts(rows: List[Dict[str, Any]], last: int, cuda: bool) -> Dict[str, bool]:
    def phase(name: str) -> List[Dict[str, Any]]:
        return [r for r in rows if r['phase'] == name]
    out = {'budget_sheds': min(r['resident_exit'] for r in phase('budget lowered')) < last,
           'budget_reloads': phase('budget raised')[-1]['resident_exit'] == last,
           'competitor_sheds': min(r['resident_exit'] for r in phase('competitor')) < last,
           'competitor_gone_reloads': phase('competitor gone')[-1]['resident_exit'] == last}
    if cuda:
        low = min(r['device_used_mb'] for r in phase('budget lowered'))
        out['nvml_used_falls'] = low < phase('baseline')[-1]['device_used_mb']
    return out
