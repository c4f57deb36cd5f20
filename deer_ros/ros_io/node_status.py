"""The figures deer_node shows on /diagnostics, gathered from the node's state (no rclpy)."""
from typing import Any, List

from deer_ros.ros_io.diagnostics import ERROR, WARN, DiagnosticInputs, StatusReport, \
    build_reports
from deer_ros.ros_io.instruction import shorten

MEMORY_PRESSURE = 0.95   # WARN when GPU memory used exceeds this fraction of the budget


def diagnostic_reports(node: Any, now_s: float) -> List[StatusReport]:
    """The model / inputs / control statuses for a DeerNode (duck-typed: tests pass fakes)."""
    settings, core, loaded, events = node.settings, node.core, node.loaded, node.events
    inputs = DiagnosticInputs()
    model = inputs.values['model']
    model['state'] = 'configured' if loaded is not None else 'unconfigured'
    model['preset'] = settings.model.preset
    model['checkpoint'] = settings.model.checkpoint or '(none: random weights)'
    model['device'] = getattr(loaded, 'device', settings.model.device)
    ok = {'model': 'unconfigured: call configure', 'inputs': 'not active',
          'control': 'not active'}
    if node.model_error:
        events.note('model', 'load', ERROR, node.model_error, now_s)
    if loaded is not None:
        ok['model'] = f'loaded {loaded.description}'
        model['num_exits'] = loaded.num_exits
        model['total_layers'] = loaded.total_layers
        for i, warning in enumerate(loaded.warnings):
            events.note('model', f'warning{i}', WARN, warning, now_s)
    record = node.last_record
    if record is not None:
        model['gpu_memory_used_mb'] = float(record.gpu_memory_used_mb)
        model['max_resident_exit'] = int(record.resident_exit)
        budget = settings.budget.gpu_memory_mb
        if budget > 0 and record.gpu_memory_used_mb > MEMORY_PRESSURE * budget:
            events.note('model', 'memory', WARN,
                        f'GPU memory pressure: {record.gpu_memory_used_mb:.0f} MB of '
                        f'{budget:.0f} MB budget', now_s)
    model['gpu_memory_budget_mb'] = settings.budget.gpu_memory_mb
    if record is not None:
        _budget(inputs.values['control'], record, events, now_s)
    if node.instruction_rejected:
        events.note('inputs', 'instruction_rejected', WARN, node.instruction_rejected, now_s)
    if core is not None:
        active = core.active_since_s is not None
        ok['inputs'] = 'frames and instruction ok' if active else 'inactive: call activate'
        ok['control'] = ('acting' + (' (dry run: no commands)' if settings.dry_run else '')
                         if active else 'inactive: call activate')
        _inputs(inputs.values['inputs'], core, node, now_s)
        _control(inputs.values['control'], core, node)
    return build_reports(node.get_name(), f'deer_node/{settings.model.preset}', events,
                         inputs, now_s, window_s=2.0, ok_messages=ok)


def _inputs(values: dict, core: Any, node: Any, now_s: float) -> None:
    sync = core.sync
    values['static_frames'] = sync.received['static']
    if sync.use_gripper:
        values['gripper_frames'] = sync.received['gripper']
    values['dropped_frames'] = sync.dropped
    values['rejected_frames'] = core.counts['rejected_frames']
    last = sync.latest_received_s()
    values['last_frame_age_s'] = (now_s - last) if last is not None else 'never'
    values['instruction'] = shorten(core.instruction) or '(none)'
    values['instructions_received'] = node.instructions_received
    values['image_decoder'] = node.decoder.backend
    values['image_transport'] = node.settings.image_transport


def _control(values: dict, core: Any, node: Any) -> None:
    stats = core.latency.summary()
    values['control_rate_hz'] = node.settings.control_rate_hz
    values['latency_p50_ms'] = stats['p50_ms']
    values['latency_p95_ms'] = stats['p95_ms']
    values['latency_max_ms'] = stats['max_ms']
    for key in ('actions', 'holds', 'clamped', 'non_finite', 'deadline_missed', 'over_period',
                'engine_errors', 'resets'):
        values[key] = core.counts[key]
    record = node.last_record
    if record is not None:
        values['exit_policy'] = record.policy
        values['avg_gflops'] = float(record.avg_gflops)
        values['threshold_scale'] = float(record.threshold_scale)
    values['dry_run'] = node.settings.dry_run


def _budget(values: dict, record: Any, events: Any, now_s: float) -> None:
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
