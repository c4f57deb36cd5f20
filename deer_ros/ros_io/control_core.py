"""What deer_node does each control period, without rclpy: the node only wires it to topics.

Input callbacks (any thread) call add_frame / reject_frame / set_instruction / request_reset /
apply_settings; the control timer calls tick() (one thread at a time), which applies queued
instruction and setting changes, checks staleness, runs the engine on the newest observation and
returns what to publish (core_types.TickOutput). Every decision not to act is noted in the
EventBook with its reason; status() is the one way another thread reads the core's figures.
"""
import threading
from types import MappingProxyType
from typing import Any, Callable, Dict, Optional

import numpy as np

from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.action_mapping import GripperLatch, hold_command, map_action
from deer_ros.ros_io.camera_sync import CameraSync, Frame, Observation
from deer_ros.ros_io.core_types import IDLE, CoreStatus, Engine, TickOutput
from deer_ros.ros_io.diagnostics import ERROR, WARN, EventBook, LatencyWindow, RateWindow
from deer_ros.ros_io.safety import StaleWatchdog
from deer_ros.ros_io.settings import NodeSettings, engine_changes


class ControlCore:
    """Latest-frame-only control loop around an Engine."""

    def __init__(self, engine: Engine, settings: NodeSettings, events: EventBook,
                 latency: Optional[LatencyWindow] = None,
                 decode: Optional[Callable[[Any], np.ndarray]] = None):
        self.engine = engine
        self.decode = decode                     # raw message -> RGB; None: frames are decoded
        self.ticks = RateWindow()
        self.settings = settings
        self.events = events
        self.latency = latency or LatencyWindow()
        self.sync = CameraSync(settings.use_gripper_camera, settings.sync.slop_s,
                               settings.sync.queue_size)
        self.watchdog = StaleWatchdog(settings.safety.stale_image_s)
        self.gripper_latch = GripperLatch()
        self._lock = threading.Lock()            # the pending fields, counts, instruction
        self._step_lock = threading.Lock()       # one tick at a time; close() waits for it
        self._pending_instruction: Optional[str] = None
        self._pending_reset = False
        self._pending_engine: Dict[str, Any] = {}
        self.instruction = ''
        self.default_thresholds: list = []       # used when exit.thresholds is set to []
        self.acting = False                      # the last command sent was a motion
        self.active_since_s: Optional[float] = None
        self.counts = dict(steps=0, actions=0, holds=0, clamped=0, non_finite=0, deadline_missed=0,
                           over_period=0, rejected_frames=0, engine_errors=0, resets=0,
                           out_of_memory=0)

    # ------------------------------------------------------------------ inputs (any thread)
    def add_frame(self, camera: str, frame: Frame, checked: bool = True) -> None:
        """Store a frame ('static' or 'gripper'); unchecked ones count once they decode."""
        self.sync.add(camera, frame, checked)

    def reject_frame(self, camera: str, reason: str, now_s: float) -> None:
        """Count and report a frame that could not be decoded."""
        self._count('rejected_frames')
        self.events.note('inputs', f'bad_{camera}_frame', WARN,
                         f'{camera} camera frame rejected: {reason}', now_s)

    def set_instruction(self, text: str, now_s: float) -> None:
        """Every instruction message starts a new task: the model history resets on the next tick.

        The same text again counts too (an operator or a simulator re-issuing the task for the
        next attempt); the latched topic delivers it once per subscription. Empty stops acting.
        """
        text = text.strip()
        with self._lock:
            self._pending_instruction = text
        if not text:
            self.events.note('inputs', 'instruction', WARN,
                             'empty instruction received: not acting', now_s)

    def request_reset(self) -> None:
        """Clear the model history before the next frame."""
        with self._lock:
            self._pending_reset = True

    def apply_settings(self, settings: NodeSettings, changed: Dict[str, Any]) -> None:
        """Use new (validated) settings; engine fields among `changed` apply on the next frame."""
        with self._lock:
            self.settings = settings
            self._pending_engine.update(engine_changes(changed))
        self.sync.slop_s = settings.sync.slop_s
        self.watchdog.stale_after_s = settings.safety.stale_image_s

    def activate(self, now_s: float) -> None:
        """Start acting on frames received from now on."""
        self.sync.clear()
        self.watchdog.reset()
        self.gripper_latch.reset()
        self.ticks.reset()
        with self._lock:
            self.active_since_s = now_s

    def deactivate(self) -> None:
        """Stop acting; waits for a running tick to finish."""
        with self._step_lock:
            with self._lock:
                self.active_since_s = None
            self.acting = False
            self.ticks.reset()

    def held(self, now_s: float) -> None:
        """A period the stop input held (a hold published, no inference): the loop kept its rate.

        Counted as a tick, or the rate window would span the held period after the release and
        report the control rate as not held for its length (3 s).
        """
        self.ticks.add(now_s)

    def status(self, now_s: float) -> CoreStatus:
        """What diagnostics show, one consistent copy taken under the lock (any thread)."""
        with self._lock:
            return CoreStatus(self.active_since_s is not None, self.sync.status(),
                              self.instruction, MappingProxyType(dict(self.counts)),
                              MappingProxyType(self.latency.summary()), self.ticks.rate(now_s))

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    # ------------------------------------------------------------------ the control period
    def tick(self, now_s: float) -> TickOutput:
        """Decide and compute this period's output (the control timer calls this)."""
        with self._step_lock:
            if self.active_since_s is None:
                return IDLE
            self.ticks.add(now_s)
            self._apply_pending(now_s)
            out = self._decide(now_s)
            if out.kind == 'hold':
                self._count('holds')
            if out.kind != 'idle':
                self.acting = out.kind == 'act'   # the last command sent moved the arm
            return out

    def _apply_pending(self, now_s: float) -> None:
        with self._lock:
            instruction, self._pending_instruction = self._pending_instruction, None
            reset, self._pending_reset = self._pending_reset, False
            changes, self._pending_engine = self._pending_engine, {}
        if changes.get('thresholds') == []:
            changes['thresholds'] = list(self.default_thresholds)
        if changes:
            try:
                self.engine.update_config(**changes)
            except ValueError as exc:
                self.events.note('control', 'config', ERROR, f'engine rejected {changes}: {exc}',
                                 now_s)
        if instruction is not None:
            with self._lock:
                self.instruction = instruction
            reset = bool(instruction)
        if reset and self.instruction:
            self.engine.reset(self.instruction)
            self.gripper_latch.reset()
            self._count('resets')

    def _hold_once(self, reason: str) -> TickOutput:
        """A hold when the previous output moved the arm, else nothing."""
        if self.acting:
            return self._hold(reason)
        return TickOutput('idle', reason)

    def _hold(self, reason: str) -> TickOutput:
        return TickOutput('hold', reason, hold_command(reason),
                          publish_commands=not self.settings.dry_run)

    def _decide(self, now_s: float) -> TickOutput:
        if not self.instruction:
            self.events.note('inputs', 'instruction', WARN, 'no instruction: not acting '
                             '(publish a std_msgs/String on instruction)', now_s)
            return self._hold_once('no_instruction')
        self.events.clear('inputs', 'instruction')
        observation = self.sync.take()       # decoded first: only usable frames are fresh
        if observation is not None:
            observation = self._decoded(observation, now_s)
        last = self.sync.latest_received_s()
        stale, hold_now = self.watchdog.check(now_s, last)
        if last is None:
            waited = now_s - (self.active_since_s or now_s)
            level = ERROR if waited > self.settings.safety.stale_image_s else WARN
            missing = self.sync.missing()
            self.events.note('inputs', 'no_frames', level, 'no frames from the '
                             + ' and '.join(missing) + ' camera'
                             + (f' (of {len(self.sync.cameras)})' if self.sync.use_gripper
                                else ''), now_s)
            return IDLE
        if stale:
            return self._stale(now_s, last, hold_now)
        self.events.clear('control', 'holding')
        if observation is None:
            if self.sync.use_gripper and self.sync.has_new():
                self.events.note('inputs', 'sync', WARN, 'no static/gripper pair within '
                                 f'sync.slop_s {self.sync.slop_s:g} s', now_s)
            return IDLE
        return self._infer(observation, now_s)

    def _stale(self, now_s: float, last: float, hold_now: bool) -> TickOutput:
        """Frames stopped (stale) or keep coming with one stamp (frozen): one hold, a WARN."""
        after = self.watchdog.stale_after_s
        frozen = self.sync.frozen(now_s, after)
        if frozen:
            reason = 'frozen_camera'
            self.events.note('inputs', 'stale', WARN, ' and '.join(frozen) + ' camera frozen: '
                             f'frames arrive but the stamp has not advanced for '
                             f'{now_s - last:.2f} s (> safety.stale_image_s {after:g} s)', now_s)
        else:
            reason = 'stale_camera'
            cameras = ' and '.join(self.sync.stale(now_s, after)) or 'camera'
            self.events.note('inputs', 'stale', WARN,
                             f'{cameras} camera stale: last usable frame {now_s - last:.2f} s '
                             f'ago (> safety.stale_image_s {after:g} s)', now_s)
        self.events.note('control', 'holding', WARN, f'holding ({reason}): no new observation '
                         f'for {now_s - last:.2f} s', now_s)
        return self._hold(reason) if hold_now else IDLE

    def _decoded(self, observation: Observation, now_s: float) -> Optional[Observation]:
        """Decode the taken frames (only these are ever decoded); None if one is rejected."""
        if self.decode is None:
            return observation
        frames = []
        for camera, frame in (('static', observation.static), ('gripper', observation.gripper)):
            if frame is None or isinstance(frame.image, np.ndarray):
                frames.append(frame)
                continue
            try:
                frames.append(frame.decoded(self.decode(frame.image)))
            except ValueError as exc:
                self.reject_frame(camera, str(exc), now_s)
                return None
            self.sync.confirm(camera, frame)
        return Observation(frames[0], frames[1])

    def _infer(self, observation: Observation, now_s: float) -> TickOutput:
        gripper = observation.gripper.image if observation.gripper is not None else None
        try:
            record = self.engine.step(observation.static.image, gripper,
                                      t_received=observation.arrived_s)
        except Exception as exc:   # the model failing must not take the node down
            self._count('engine_errors')
            self.events.note('control', 'engine', ERROR, f'inference failed: {exc!r}', now_s)
            return self._hold_once('inference_failed')
        settings = self.settings
        if record.memory_action == 'oom_shed':
            self._count('out_of_memory')
            self.events.note('model', 'out_of_memory', WARN,
                             f'device out of memory: shed layers, now up to exit '
                             f'{record.resident_exit} (retried the frame)', now_s)
        command = map_action(record.action, settings)
        if command.hold:
            self._count('non_finite')
            self.events.note('control', 'non_finite', WARN,
                             f'{command.reasons[0]}: published a hold instead', now_s)
        elif command.clamped:
            self._count('clamped')
            self.events.note('control', 'clamped', WARN,
                             'action clamped: ' + '; '.join(command.reasons), now_s)
        self._note_timing(record, settings, now_s)
        self._count('steps')
        kind = 'hold' if command.hold else 'act'
        if kind == 'act':
            self._count('actions')
        return TickOutput(kind, command.hold_reason, command, record,
                          observation.static.stamp_s, self.gripper_latch.update(command),
                          publish_commands=not settings.dry_run,
                          stamp=observation.static.stamp)

    def _note_timing(self, record: StepRecord, settings: NodeSettings, now_s: float) -> None:
        self.latency.add(record.latency_ms)
        period_ms = 1000.0 * settings.control_period_s
        if record.latency_ms > period_ms:
            self._count('over_period')
            self.events.note('control', 'over_period', WARN,
                             f'latency {record.latency_ms:.1f} ms exceeds the control period '
                             f'{period_ms:.1f} ms', now_s)
        if record.deadline_missed:
            self._count('deadline_missed')
            self.events.note('control', 'deadline', WARN,
                             f'deadline missed: {record.latency_ms:.1f} ms > '
                             f'{settings.budget.latency_ms:g} ms', now_s)
