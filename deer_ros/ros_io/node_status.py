"""The figures deer_node shows on /diagnostics, built from frozen copies of its state (no rclpy).

The diagnostics timer runs on its own thread. It reads the core only through
ControlCore.status() (a CoreStatus copied under the core's lock) and the node through
node_facts() (the node's own fields, copied once); every report is built from those two.
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.core_types import CoreStatus
from deer_ros.ros_io.diagnostics import ERROR, WARN, DiagnosticInputs, EventBook, StatusReport, \
    build_reports
from deer_ros.ros_io.instruction import shorten
from deer_ros.ros_io.settings import NodeSettings

if TYPE_CHECKING:   # the loader's module imports the engine; the node module does it lazily
    from deer_ros.ros_io.model_loader import LoadedModel

MEMORY_PRESSURE = 0.95   # WARN when GPU memory used exceeds this fraction of the budget
RATE_TOLERANCE = 0.95    # WARN when the control loop ticks slower than this x control_rate_hz


@dataclass(frozen=True)
class NodeFacts:
    """The node's own fields that diagnostics show, read once per report."""

    name: str                            # fully qualified (/arm1/deer_node): one per arm
    settings: NodeSettings
    loaded: Optional['LoadedModel']      # None: unconfigured
    model_error: str                     # why configure failed ('' when it did not)
    instruction_rejected: str            # why the last instruction was refused ('' accepted)
    instructions_received: int
    last_record: Optional[StepRecord]    # the last published step's record
    image_decoder: str                   # ImageDecoder.backend
    stop_reason: str                     # the latched stop's hold reason ('' released)


def node_facts(node: Any) -> NodeFacts:
    """A DeerNode's facts (duck-typed here only: tests pass a namespace)."""
    return NodeFacts(node.get_fully_qualified_name(), node.settings, node.loaded, node.model_error,
                     node.instruction_rejected, node.instructions_received, node.last_record,
                     node.decoder.backend, node.output.gate.reason('stop'))


def diagnostic_reports(node: Any, now_s: float) -> List[StatusReport]:
    """The model / inputs / control statuses of a DeerNode now."""
    core = node.core
    return status_reports(node_facts(node), core.status(now_s) if core is not None else None,
                          node.events, now_s)


def status_reports(facts: NodeFacts, core: Optional[CoreStatus], events: EventBook,
                   now_s: float) -> List[StatusReport]:
    """The three statuses from the node's facts and the core's status (None: no core)."""
    settings, loaded, record = facts.settings, facts.loaded, facts.last_record
    inputs = DiagnosticInputs()
    model = inputs.values['model']
    model['state'] = 'configured' if loaded is not None else 'unconfigured'
    model['preset'] = settings.model.preset
    model['checkpoint'] = settings.model.checkpoint or '(none: random weights)'
    model['device'] = loaded.device if loaded is not None else settings.model.device
    ok = {'model': 'unconfigured: call configure', 'inputs': 'not active',
          'control': 'not active'}
    if facts.model_error:
        events.note('model', 'load', ERROR, facts.model_error, now_s)
    if loaded is not None:
        ok['model'] = f'loaded {loaded.description}'
        model['num_exits'] = loaded.num_exits
        model['total_layers'] = loaded.total_layers
        for i, warning in enumerate(loaded.warnings):
            events.note('model', f'warning{i}', WARN, warning, now_s)
    if record is not None:
        _memory(model, record, settings, events, now_s)
    model['gpu_memory_budget_mb'] = settings.budget.gpu_memory_mb
    if record is not None:
        _budget(inputs.values['control'], record, events, now_s)
    if facts.instruction_rejected:
        events.note('inputs', 'instruction_rejected', WARN, facts.instruction_rejected, now_s)
    if core is not None:
        ok['inputs'] = 'frames and instruction ok' if core.active else 'inactive: call activate'
        ok['control'] = ('acting' + (' (dry run: no commands)' if settings.dry_run else '')
                         if core.active else 'inactive: call activate')
        _inputs(inputs.values['inputs'], core, facts, now_s)
        _control(inputs.values['control'], core, facts)
        _rate(inputs.values['control'], core, facts, events, now_s)
    _stop(inputs.values['control'], facts, events, now_s)
    return build_reports(facts.name, f'{facts.name}/{settings.model.preset}', events, inputs,
                         now_s, window_s=2.0, ok_messages=ok)


def _memory(values: Dict[str, object], record: StepRecord, settings: NodeSettings,
            events: EventBook, now_s: float) -> None:
    values['gpu_memory_used_mb'] = float(record.gpu_memory_used_mb)
    values['max_resident_exit'] = int(record.resident_exit)
    budget = settings.budget.gpu_memory_mb
    if budget > 0 and record.gpu_memory_used_mb > MEMORY_PRESSURE * budget:
        events.note('model', 'memory', WARN, f'GPU memory pressure: '
                    f'{record.gpu_memory_used_mb:.0f} MB of {budget:.0f} MB budget', now_s)


def _inputs(values: Dict[str, object], core: CoreStatus, facts: NodeFacts,
            now_s: float) -> None:
    frames = core.frames
    values['static_frames'] = frames.received['static']
    if 'gripper' in frames.cameras:
        values['gripper_frames'] = frames.received['gripper']
        values['received_pairs'] = frames.pairs      # what the node can act on at most
    values['dropped_frames'] = frames.dropped
    values['rejected_frames'] = core.counts['rejected_frames']
    last = frames.latest_received_s
    values['last_frame_age_s'] = (now_s - last) if last is not None else 'never'
    values['instruction'] = shorten(core.instruction) or '(none)'
    values['instructions_received'] = facts.instructions_received
    values['image_decoder'] = facts.image_decoder
    values['image_transport'] = facts.settings.image_transport


def _control(values: Dict[str, object], core: CoreStatus, facts: NodeFacts) -> None:
    values['control_rate_hz'] = facts.settings.control_rate_hz
    values['latency_p50_ms'] = core.latency['p50_ms']
    values['latency_p95_ms'] = core.latency['p95_ms']
    values['latency_max_ms'] = core.latency['max_ms']
    for key in ('actions', 'holds', 'clamped', 'non_finite', 'deadline_missed', 'over_period',
                'engine_errors', 'resets'):
        values[key] = core.counts[key]
    record = facts.last_record
    if record is not None:
        values['exit_policy'] = record.policy
        values['avg_gflops'] = float(record.avg_gflops)
        values['threshold_scale'] = float(record.threshold_scale)
    values['dry_run'] = facts.settings.dry_run


def _budget(values: Dict[str, object], record: StepRecord, events: EventBook,
            now_s: float) -> None:
    """Compute budget figures; WARN while the controller sits at a bound of its scale."""
    values['full_gflops'] = float(record.full_gflops)
    values['avg_fraction'] = float(record.avg_fraction)
    values['budget_avg_gflops'] = float(record.budget_avg_gflops)
    values['budget_avg_fraction'] = float(record.budget_avg_fraction)
    values['controller_saturated'] = bool(record.controller_saturated)
    if record.controller_saturated:
        events.note('control', 'budget', WARN,
                    f'compute budget not met: controller saturated at threshold_scale '
                    f'{record.threshold_scale:.4g}; average {record.avg_gflops:.5g} GMAC '
                    f'({100 * record.avg_fraction:.1f}% of full) vs target '
                    f'{record.budget_avg_gflops:.5g} GMAC'
                    + (f' ({100 * record.budget_avg_fraction:.1f}%)'
                       if record.budget_avg_fraction > 0 else ''), now_s)


def _rate(values: Dict[str, object], core: CoreStatus, facts: NodeFacts, events: EventBook,
          now_s: float) -> None:
    """WARN, with the numbers, when the control loop does not hold its rate."""
    rate, setting = core.rate_hz, facts.settings.control_rate_hz
    if rate is None or facts.stop_reason:
        return
    values['achieved_rate_hz'] = rate
    if rate < RATE_TOLERANCE * setting:
        events.note('control', 'rate', WARN,
                    f'control rate not held: {rate:.2f} Hz of control_rate_hz {setting:g} '
                    f'(latency p50 {core.latency["p50_ms"]:.0f} ms, p95 '
                    f'{core.latency["p95_ms"]:.0f} ms, period {1000.0 / setting:.0f} ms)', now_s)


def _stop(values: Dict[str, object], facts: NodeFacts, events: EventBook, now_s: float) -> None:
    values['stop_engaged'] = bool(facts.stop_reason)
    if facts.stop_reason:
        events.note('control', 'stop', WARN, 'hold engaged by the stop input (~/hold or '
                    'hold topic): not acting until released', now_s)
