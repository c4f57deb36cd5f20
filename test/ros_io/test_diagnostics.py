"""diagnostics: levels from recent events, latency percentiles, bytes levels in the message."""
from deer_ros.ros_io.diagnostics import (ERROR, OK, WARN, DiagnosticInputs, EventBook,
                                         LatencyWindow, build_reports)


def test_worst_recent_event_sets_the_level_and_old_events_expire():
    book = EventBook()
    book.note('inputs', 'stale', WARN, 'camera stale', 10.0)
    book.note('control', 'engine', ERROR, 'inference failed', 10.0)
    reports = build_reports('deer_node', 'hw', book, DiagnosticInputs(), 11.0)
    reports = {r.name: r for r in reports}
    assert reports['deer_node: inputs'].level == WARN
    assert reports['deer_node: control'].level == ERROR
    assert reports['deer_node: model'].level == OK
    later = build_reports('deer_node', 'hw', book, DiagnosticInputs(), 20.0)
    assert all(r.level == OK for r in later)
    assert book.counts() == {'inputs/stale': 1, 'control/engine': 1}


def test_latency_window_percentiles():
    window = LatencyWindow(size=100)
    assert window.summary()['samples'] == 0
    for ms in range(1, 201):
        window.add(float(ms))
    stats = window.summary()
    assert stats['samples'] == 100 and stats['max_ms'] == 200.0
    assert 150 <= stats['p50_ms'] <= 151 and 195 <= stats['p95_ms'] <= 196


def test_diagnostic_array_uses_byte_levels():
    from diagnostic_msgs.msg import DiagnosticStatus

    from deer_ros.ros_io.messages import diagnostic_array, stamp_from_seconds
    book = EventBook()
    book.note('model', 'load', ERROR, 'configure failed: x', 1.0)
    inputs = DiagnosticInputs()
    inputs.values['control']['latency_p50_ms'] = 12.5
    msg = diagnostic_array(build_reports('n', 'hw', book, inputs, 1.0), stamp_from_seconds(1.5))
    levels = {s.name: s.level for s in msg.status}
    assert levels['n: model'] == DiagnosticStatus.ERROR == b'\x02'
    control = [s for s in msg.status if s.name == 'n: control'][0]
    assert control.values[0].key == 'latency_p50_ms' and control.values[0].value == '12.500'
    assert msg.header.stamp.sec == 1 and msg.header.stamp.nanosec == 500_000_000
