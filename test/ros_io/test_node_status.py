"""deer_node's /diagnostics figures, built from the core's status snapshot and the node's facts."""
import dataclasses
import threading
import time
from types import SimpleNamespace

import pytest

from deer_ros.ros_io.camera_sync import Frame
from deer_ros.ros_io.command_gate import CommandGate
from deer_ros.ros_io.control_core import ControlCore
from deer_ros.ros_io.diagnostics import WARN, EventBook
from deer_ros.ros_io.image_codec import ImageDecoder
from deer_ros.ros_io.node_status import diagnostic_reports
from deer_ros.ros_io.settings import from_flat
from ros_io_helpers import example_loader, rgb

TIMING_KEYS = {'latency_p50_ms', 'latency_p95_ms', 'latency_max_ms', 'avg_gflops',
               'gpu_memory_used_mb', 'achieved_rate_hz'}


def acting_node(ticks=3):
    """A node's diagnostics-facing state after `ticks` acted frames (a real core and engine).

    Receipt times are on the monotonic clock (the engine measures latency from them), a second
    in the past; the node's status is then asked for at the returned time.
    """
    settings = from_flat({'use_gripper_camera': True, 'control_rate_hz': 0.5})
    loaded = example_loader()(settings)
    events = EventBook()
    core = ControlCore(loaded.engine, settings, events)
    start = time.monotonic() - 1.0
    core.activate(start)
    core.set_instruction('open the drawer', start)
    record = None
    for i in range(ticks):
        t = start + 0.25 * i
        core.add_frame('static', Frame(rgb(i), t, t))
        core.add_frame('gripper', Frame(rgb(i + 10), t, t))
        out = core.tick(t)
        record = out.record if out.record is not None else record
    core.reject_frame('static', 'bad encoding', t)
    gate = CommandGate()
    gate.release('lifecycle')
    return SimpleNamespace(
        settings=settings, core=core, loaded=loaded, events=events, model_error='',
        instruction_rejected='', instructions_received=1, last_record=record,
        decoder=ImageDecoder(), output=SimpleNamespace(gate=gate),
        get_fully_qualified_name=lambda: '/deer_node'), t + 0.125


def plain(reports):
    """{status name: (level, message, {key: value})}; timing-dependent values masked."""
    return {r.name: (r.level, r.message,
                     {k: ('*' if k in TIMING_KEYS else v) for k, v in r.values})
            for r in reports}


def test_reports_show_the_cores_counts_and_the_nodes_facts():
    node, now = acting_node()
    reports = plain(diagnostic_reports(node, now))
    level, message, inputs = reports['/deer_node: inputs']
    assert level == WARN and 'static camera frame rejected: bad encoding' in message
    assert list(inputs) == ['static_frames', 'gripper_frames', 'received_pairs',
                            'dropped_frames', 'rejected_frames', 'last_frame_age_s',
                            'instruction', 'instructions_received', 'image_decoder',
                            'image_transport']
    assert (inputs['static_frames'], inputs['gripper_frames'], inputs['received_pairs'],
            inputs['rejected_frames']) == ('3', '3', '3', '1')
    assert inputs['last_frame_age_s'] == '0.125' and inputs['instruction'] == 'open the drawer'
    assert inputs['image_decoder'] == node.decoder.backend
    _, message, control = reports['/deer_node: control']
    assert message == 'acting'
    assert list(control) == ['full_gflops', 'avg_fraction', 'budget_avg_gflops',
                             'budget_avg_fraction', 'controller_saturated', 'control_rate_hz',
                             'latency_p50_ms', 'latency_p95_ms', 'latency_max_ms', 'actions',
                             'holds', 'clamped', 'non_finite', 'deadline_missed', 'over_period',
                             'engine_errors', 'resets', 'exit_policy', 'avg_gflops',
                             'threshold_scale', 'dry_run', 'stop_engaged']
    assert (control['actions'], control['holds'], control['resets']) == ('3', '0', '1')
    _, message, model = reports['/deer_node: model']
    assert message.startswith('uncalibrated: exit.thresholds empty')   # loaded.warnings
    assert list(model) == ['state', 'preset', 'checkpoint', 'device', 'num_exits',
                           'total_layers', 'gpu_memory_used_mb', 'max_resident_exit',
                           'gpu_memory_budget_mb']


def test_unconfigured_node_reports_without_a_core():
    node, now = acting_node()
    node.core, node.loaded, node.last_record = None, None, None
    reports = plain(diagnostic_reports(node, now + 10.0))   # the rejected frame's WARN is over
    assert reports['/deer_node: inputs'][1] == 'not active'
    assert reports['/deer_node: model'][2]['state'] == 'unconfigured'
    assert list(reports['/deer_node: control'][2]) == ['stop_engaged']


def test_core_status_is_a_frozen_copy_taken_under_the_cores_lock():
    node, now = acting_node()
    status = node.core.status(now)
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.instruction = 'other'
    with pytest.raises(TypeError):
        status.counts['actions'] = 0                 # read-only mappings, not the live dicts
    node.core.reject_frame('static', 'again', now)
    node.core.add_frame('static', Frame(rgb(50), now, now))
    assert status.counts['rejected_frames'] == 1 and status.frames.received['static'] == 3
    assert node.core.status(now).counts['rejected_frames'] == 2
    taken = []
    with node.core._lock:                            # a writer inside the lock: status waits
        reader = threading.Thread(target=lambda: taken.append(node.core.status(now)))
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and not taken
    reader.join(5.0)
    assert taken and taken[0].frames.received['static'] == 4


def test_reports_read_the_core_only_through_its_status():
    node, now = acting_node()
    expected = plain(diagnostic_reports(node, now))
    status = node.core.status(now)
    node.core = SimpleNamespace(status=lambda now_s: status)   # no counters, queues, engine
    assert plain(diagnostic_reports(node, now)) == expected
