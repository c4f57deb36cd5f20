"""control_core without ROS: instruction/reset/staleness/NaN/dry-run decisions, real engine."""
import numpy as np

from deer_ros.ros_io.camera_sync import Frame
from deer_ros.ros_io.control_core import ControlCore
from deer_ros.ros_io.diagnostics import EventBook
from deer_ros.ros_io.settings import from_flat
from ros_io_helpers import example_loader, rgb


def make(flat=None):
    models = []
    settings = from_flat(flat or {})
    loaded = example_loader(models)(settings)
    core = ControlCore(loaded.engine, settings, EventBook())
    core.activate(0.0)
    return core, models[0]


def frame(t):
    return Frame(rgb(int(t * 10)), t, t)


def messages(core, now):
    return [e.message for c in ('inputs', 'control') for e in core.events.active(c, now, 2.0)]


def test_no_instruction_means_no_action_and_a_reason():
    core, _ = make()
    core.add_frame('static', frame(1.0))
    out = core.tick(1.0)
    assert out.kind == 'idle'
    assert any('no instruction' in m for m in messages(core, 1.0))


def test_instruction_then_frame_acts_once_per_new_frame():
    core, model = make()
    core.set_instruction('open the drawer', 0.9)
    core.add_frame('static', frame(1.0))
    out = core.tick(1.0)
    assert out.kind == 'act' and out.stamp_s == 1.0
    assert out.record.layers_executed > 0 and out.gripper in (1.0, -1.0)
    assert model.instruction == 'open the drawer'
    assert core.tick(1.05).kind == 'idle'          # same frame: no second action


def test_every_instruction_resets_history_and_empty_stops_with_one_hold():
    core, model = make()
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    core.tick(1.0)
    assert core.counts['resets'] == 1
    core.set_instruction('b', 1.0)
    core.add_frame('static', frame(1.1))
    core.tick(1.1)
    assert core.counts['resets'] == 2 and model.instruction == 'b'
    core.set_instruction('b', 1.15)                 # the same task re-issued: a new attempt
    core.add_frame('static', frame(1.15))
    core.tick(1.15)
    assert core.counts['resets'] == 3
    core.set_instruction('  ', 1.2)
    core.add_frame('static', frame(1.2))
    out = core.tick(1.2)
    assert out.kind == 'hold' and out.command.hold
    assert core.tick(1.3).kind == 'idle'
    assert any('instruction' in m for m in messages(core, 1.3))


def test_stale_camera_holds_once_then_nothing_until_frames_return():
    core, _ = make({'safety.stale_image_s': 0.5})
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    assert core.tick(1.0).kind == 'act'
    out = core.tick(1.6)
    assert out.kind == 'hold' and out.reason == 'stale_camera'
    assert core.tick(1.7).kind == 'idle'
    assert any('static camera stale: last usable frame 0.70 s ago' in m
               for m in messages(core, 1.7))
    core.add_frame('static', frame(1.8))
    assert core.tick(1.8).kind == 'act'


def test_nan_from_the_model_never_leaves_as_motion():
    core, model = make()
    core.set_instruction('a', 0.0)
    model.poison = True
    core.add_frame('static', frame(1.0))
    out = core.tick(1.0)
    assert out.kind == 'hold' and out.command.hold
    assert np.all(np.isfinite(out.command.as_array()))
    assert core.counts['non_finite'] == 1
    assert any('non-finite' in m for m in messages(core, 1.0))


def test_dry_run_computes_but_marks_commands_unpublished():
    core, _ = make({'dry_run': True})
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    out = core.tick(1.0)
    assert out.kind == 'act' and out.record is not None and not out.publish_commands


def test_live_engine_change_applies_on_the_next_frame():
    core, _ = make()
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    assert core.tick(1.0).record.policy == 'deer'
    new = from_flat({'exit.policy': 'full'}, base=core.settings)
    core.apply_settings(new, {'exit.policy': 'full'})
    core.add_frame('static', frame(1.1))
    record = core.tick(1.1).record
    assert record.policy == 'full' and record.stop_reason == 'full'


def test_inference_error_is_reported_and_not_fatal():
    core, model = make()
    core.set_instruction('a', 0.0)
    core.engine.step = lambda *a, **k: (_ for _ in ()).throw(RuntimeError('boom'))
    core.add_frame('static', frame(1.0))
    assert core.tick(1.0).kind == 'idle'
    assert core.counts['engine_errors'] == 1


def test_empty_instruction_after_an_idle_period_still_holds():
    core, _ = make()
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    assert core.tick(1.0).kind == 'act'
    assert core.tick(1.05).kind == 'idle'          # no new frame this period
    core.set_instruction('', 1.1)
    assert core.tick(1.1).kind == 'hold'


def test_device_out_of_memory_degrades_with_a_warning_and_keeps_acting():
    core, model = make({'exit.policy': 'full'})
    run_layers = model.run_layers

    def little_memory(frame, start, stop, skip=()):
        if model.resident_exit > 2:
            raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')
        return run_layers(frame, start, stop, skip)

    model.run_layers = little_memory
    core.set_instruction('a', 0.0)
    core.add_frame('static', frame(1.0))
    out = core.tick(1.0)
    assert out.kind == 'act' and out.record.exit_index == 2
    assert core.counts['out_of_memory'] == 1 and core.counts['engine_errors'] == 0
    assert any('out of memory' in e.message for e in core.events.active('model', 1.0, 2.0))
