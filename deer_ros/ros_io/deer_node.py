"""deer_node: camera frames + an instruction in, 7-DoF end-effector actions out.

A managed (lifecycle) ROS 2 node running early-exit / layer-skipping VLA inference.

Transitions (what each guarantees):
- configure: loads the model, tokenizer and thresholds and creates the camera subscriptions; on
  any failure logs the reason, reports it on /diagnostics (ERROR) and stays unconfigured.
- activate: starts the control-rate timer; actions flow from the next fresh observation.
- deactivate: stops the timer, waits for a running inference, publishes one hold; no motion
  command is published after that hold (command_output.CommandGate orders every publish).
- cleanup: drops the subscriptions and the model and frees cached GPU memory.
- shutdown (also on SIGINT / SIGTERM): publishes a final hold when active, then exits.
- `~/hold` (std_srvs/SetBool) and `hold` (std_msgs/Bool): true latches a hold (published at
  once, then every period) until false; lifecycle transitions do not clear it.

The node only wires ROS to the pure pieces (settings, image_codec, control_core, messages).
Why one module of ~330 lines: it is the one lifecycle class, and each method is a transition or
a callback that hands its message to a pure piece; splitting the class would scatter the
transition guarantees above over files while moving no logic out of ROS.
"""
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from deer_ros.ros_io import messages
from deer_ros.ros_io.camera_sync import Frame
from deer_ros.ros_io.command_output import COMMAND_QOS, CommandOutput  # noqa: F401 (API)
from deer_ros.ros_io.control_core import ControlCore
from deer_ros.ros_io.diagnostics import ERROR, WARN, EventBook, LatencyWindow
from deer_ros.ros_io.image_codec import ImageDecoder, check_compressed, decode_raw_check
from deer_ros.ros_io.instruction import SeenMessages, instruction_reason, message_key, shorten
from deer_ros.ros_io.instruction_input import INSTRUCTION_QOS, InstructionInput  # noqa: F401
from deer_ros.ros_io.node_runtime import run_node
from deer_ros.ros_io.node_status import diagnostic_reports
from deer_ros.ros_io.node_time import ClockWatch, NodeTime
from deer_ros.ros_io.params import (CheckedParameters, check_changes, declare_all,
                                    node_overrides_review)
from deer_ros.ros_io.robot_state_input import attach_robot_state
from deer_ros.ros_io.run_action import attach_run_action
from deer_ros.policies.record import StepRecord
from deer_ros.ros_io.settings import NodeSettings, model_reason, validate

if TYPE_CHECKING:   # model_loader imports torch: loaded lazily, at configure
    from deer_ros.ros_io.model_loader import LoadedModel

NODE_NAME = 'deer_node'
Loader = Callable[[NodeSettings], 'LoadedModel']


def _default_loader(settings: NodeSettings) -> 'LoadedModel':
    from deer_ros.ros_io.model_loader import load
    return load(settings)


class DeerNode(CheckedParameters, LifecycleNode):
    """Managed node: cameras + instruction in, actions + telemetry + diagnostics out.

    global_args: the command line rclpy.init parsed (None: sys.argv), read to tell the node's
    own params-file sections from shared `/**` ones (deer_ros.ros_io.param_check).
    """

    def __init__(self, node_name: str = NODE_NAME, *, loader: Optional[Loader] = None,
                 clock: Optional[Callable[[], float]] = None,
                 global_args: Optional[List[str]] = None, **kwargs: Any):
        super().__init__(node_name, **kwargs)
        # The one clock of arrivals, ticks and watchdogs: sim time with use_sim_time (node_time)
        self.monotonic = clock or NodeTime(self.get_clock())
        self.clock_watch = ClockWatch()
        self._loader = loader or _default_loader
        self.events = EventBook()
        self.latency = LatencyWindow()
        self.decoder = ImageDecoder()
        self.loaded: Optional['LoadedModel'] = None
        self.core: Optional[ControlCore] = None
        self.model_error = ''
        self.instruction = ''
        self.instruction_rejected = ''          # why the last instruction was not accepted
        self.instructions_received = 0
        self._instruction_copies = SeenMessages()
        self.last_record: Optional[StepRecord] = None
        self._camera_subs: List[Any] = []
        self._control_timer: Any = None
        self.settings = NodeSettings()
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.settings = declare_all(self)
        self.parameter_refusal = self._review_overrides(global_args, kwargs)
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._control_group = MutuallyExclusiveCallbackGroup()
        self._status_group = MutuallyExclusiveCallbackGroup()
        self._stop_group = MutuallyExclusiveCallbackGroup()
        self._create_interfaces()
        if self.settings.autostart:
            self._autostart_timer = self.create_timer(
                0.0, self._autostart, callback_group=self._control_group)
        self.get_logger().info(
            f'{self.get_name()} ready (unconfigured); image decoder: {self.decoder.backend}'
            + ('; autostart: configure + activate' if self.settings.autostart else
               '; waiting for configure (ros2 lifecycle set ... configure)'))

    # ------------------------------------------------------------------ wiring
    def _create_interfaces(self) -> None:
        self.output = CommandOutput(self)   # action, action/twist, action/gripper, ...
        self.pub_diagnostics = self.create_publisher(
            messages.DiagnosticArray, '/diagnostics', 10)
        self.instruction_input = InstructionInput(   # plain and latched publishers
            self, self._on_instruction, self._input_group)
        self.create_service(Trigger, '~/reset', self._on_reset, callback_group=self._input_group)
        self.output.create_stop_input(self._stop_group)   # ~/hold service, hold topic
        self.run = attach_run_action(self)                 # ~/run action (its own group)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=self._status_group,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))   # also when paused

    def _create_camera_subscriptions(self) -> None:
        cameras = ['static'] + (['gripper'] if self.settings.use_gripper_camera else [])
        compressed = self.settings.image_transport == 'compressed'
        for camera in cameras:
            topic = f'camera/{camera}/image_raw'
            if compressed:   # as image_transport: the base name resolved (remaps), then suffix
                topic = self.resolve_topic_name(topic) + '/compressed'
            self._camera_subs.append(self.create_subscription(
                CompressedImage if compressed else Image, topic,
                lambda msg, cam=camera: self._on_image(cam, msg), qos_profile_sensor_data,
                callback_group=self._input_group))

    def _autostart(self) -> None:
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ------------------------------------------------------------------ inputs
    def _on_image(self, camera: str, msg: Any) -> None:
        """Store the raw message only (newest wins): the control tick decodes what it uses."""
        now = self.monotonic()
        core = self.core
        if core is None:
            return
        raw = hasattr(msg, 'encoding')
        try:     # cheap checks; pixels untouched (a compressed frame counts once it decodes)
            (decode_raw_check if raw else check_compressed)(msg)
        except ValueError as exc:
            core.reject_frame(camera, str(exc), now)
            self.get_logger().warning(f'{camera} camera frame rejected: {exc}',
                                      throttle_duration_sec=5.0)
            return
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if stamp == (0, 0):   # no camera stamp: ROS time of receipt (the node clock)
            now_msg = self.get_clock().now().to_msg()
            stamp = (now_msg.sec, now_msg.nanosec)
        core.add_frame(camera, Frame(msg, stamp[0] + stamp[1] * 1e-9, now, stamp,
                                     time.monotonic()), checked=raw)

    def _on_instruction(self, msg: String, info: Any) -> None:
        key = message_key(info)     # two arguments: rclpy passes its MessageInfo
        if key is not None and self._instruction_copies.seen(key):
            return      # the same message through the other subscription
        self.instructions_received += 1
        if self.run.owns_instruction:
            self.get_logger().warning(f'instruction {shorten(msg.data.strip())!r} ignored: a '
                                      '~/run goal is running (cancel it first)',
                                      throttle_duration_sec=2.0)
            return
        text = msg.data.strip()
        self.instruction_rejected = instruction_reason(text, self.settings.instruction.max_chars)
        if self.instruction_rejected:
            self.get_logger().warning(f'{self.instruction_rejected}: {shorten(text)!r}')
            text = ''
        if text != self.instruction:
            self.get_logger().info(f'instruction: {shorten(text)!r}' if text else
                                   'empty instruction: stop acting')
        self.use_instruction(text)
        if self.core is None and not text:
            self.events.note('inputs', 'instruction', WARN, 'empty instruction received',
                             self.monotonic())

    def use_instruction(self, text: str) -> None:
        """Act on `text` from the next tick ('' = stop acting): the topic's and ~/run's way."""
        self.instruction = text
        if self.core is not None:
            self.core.set_instruction(text, self.monotonic())

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        if self.core is None:
            response.success, response.message = False, 'not configured'
        else:
            self.core.request_reset()
            response.success = True
            response.message = 'model history cleared before the next frame'
        return response

    # ------------------------------------------------------------------ parameters
    def _review_overrides(self, global_args: Optional[List[str]], kwargs: Any) -> str:
        """Warn about what only shared sections gave; the refusal ('' if none), logged now."""
        review = node_overrides_review(self, global_args, kwargs.get('cli_args'),
                                       kwargs.get('use_global_arguments', True))
        for warning in review.warnings:
            self.get_logger().warning(warning)
        if review.refused:
            self.get_logger().error(f'will not configure: {review.reason}. Fix the params file '
                                    'or command line and restart the node.')
        return review.reason

    def _validate_parameters(self, params: List[Parameter]) -> Any:
        result, candidate, _ = check_changes(self.settings, params)
        if result.successful and self.loaded is not None:
            reason = model_reason(candidate, self.loaded.num_exits)
            if reason:
                result.successful, result.reason = False, reason
        if not result.successful:
            self.get_logger().warning(f'parameter change rejected: {result.reason}')
        return result

    def _apply_parameters(self, params: List[Parameter]) -> None:
        _, candidate, changes = check_changes(self.settings, params)
        if not changes:
            return
        old_rate = self.settings.control_rate_hz
        self.settings = candidate
        if self.core is not None:
            self.core.apply_settings(candidate, changes)
        if self._control_timer is not None and candidate.control_rate_hz != old_rate:
            self._control_timer.timer_period_ns = int(1e9 / candidate.control_rate_hz)
        if self.loaded is not None:
            self.get_logger().info('parameters updated (next frame): ' + ', '.join(
                f'{k}={v}' for k, v in changes.items()))

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load model, tokenizer and thresholds; stay unconfigured (with the reason) on failure."""
        reasons = [self.parameter_refusal] if self.parameter_refusal else []
        reasons += validate(self.settings)
        try:
            if reasons:
                raise ValueError('; '.join(reasons))
            started = time.monotonic()
            self.loaded = self._loader(self.settings)
        except Exception as exc:   # any loader failure must leave the node unconfigured
            self.model_error = f'configure failed: {exc}'
            self.loaded = None
            self.get_logger().error(self.model_error)
            self.events.note('model', 'load', ERROR, self.model_error, self.monotonic())
            return TransitionCallbackReturn.FAILURE
        self.model_error = ''
        self.events.clear('model', 'load')
        engine = attach_robot_state(self, self.loaded.engine, self.settings.robot_state,
                                    self._input_group)
        self.core = ControlCore(engine, self.settings, self.events, self.latency,
                                decode=self.decoder.decode)
        self.core.default_thresholds = list(getattr(
            getattr(self.loaded.engine, 'config', None), 'thresholds', []))
        if self.instruction:
            self.core.set_instruction(self.instruction, self.monotonic())
        self._create_camera_subscriptions()
        self.get_logger().info(
            f'configured in {time.monotonic() - started:.1f} s: {self.loaded.description}, '
            f'{self.loaded.num_exits} exits, {self.loaded.total_layers} layers on '
            f'{self.loaded.device}; policy {self.settings.exit.policy}')
        for warning in self.loaded.warnings:
            self.get_logger().warning(warning)
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the control-rate timer."""
        self.core.activate(self.monotonic())
        self.output.active = True
        self.output.gate.release('lifecycle')
        self._control_timer = self.create_timer(
            self.settings.control_period_s, self._on_control_tick,
            callback_group=self._control_group)
        self.get_logger().info(f'active: acting at {self.settings.control_rate_hz:g} Hz'
                               + (' (dry run: no commands)' if self.settings.dry_run else ''))
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop acting: wait for a running inference, then one hold; no motion after it."""
        self._stop_acting('deactivate')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop subscriptions and the model; free cached GPU memory."""
        self._release()
        self.get_logger().info('cleaned up: model unloaded')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Final hold when active, then release everything."""
        if self._control_timer is not None:
            self._stop_acting('shutdown')
        self._release()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def hold_for_shutdown(self) -> None:
        """SIGINT/SIGTERM: the final hold at once, before waiting for a running inference."""
        if self._control_timer is not None:
            self.output.engage('lifecycle', 'shutdown')
        self.run.on_stop_acting('shutdown')   # while the executor can still send the result

    def wait_for_acks(self, timeout_s: float = 1.0) -> bool:
        """Before exit: wait until the command subscribers acknowledged the final hold."""
        return self.output.wait_for_acks(timeout_s)

    def _stop_acting(self, reason: str) -> None:
        if self._control_timer is not None:
            self.destroy_timer(self._control_timer)
            self._control_timer = None
        if self.core is not None:
            self.core.deactivate()        # waits for a running tick
        if self.output.gate.reason('lifecycle') != reason:
            self.output.engage('lifecycle', reason)
        self.output.active = False
        self.run.on_stop_acting(reason)
        self.get_logger().info(f'{reason}: published a hold, not acting')

    def _release(self) -> None:
        for sub in self._camera_subs:
            self.destroy_subscription(sub)
        self._camera_subs = []
        core, self.core = self.core, None   # a tick in flight keeps its own reference
        if core is not None:
            core.deactivate()                # and is waited for before the model goes
        if self.loaded is not None:
            self.loaded.close()
        self.loaded = None

    # ------------------------------------------------------------------ outputs
    def _on_control_tick(self) -> None:
        core, output = self.core, self.output   # _release may clear self.core meanwhile
        if core is None:
            return
        self.run.on_tick(self.monotonic())       # a ~/run goal: hold input, time limit
        if output.repeat_hold('stop'):          # latched stop: a hold each period, no inference
            now = self.monotonic()
            core.held(now)
            self.events.note('control', 'stop', WARN, 'hold engaged by the stop input '
                             '(~/hold or hold topic): not acting', now)
            return
        ticket = output.gate.ticket()            # before computing: a hold since voids it
        out = core.tick(self.monotonic())
        if out.kind == 'idle' or not output.publish_tick(ticket, out, core, self.loaded,
                                                         self.settings):
            return
        self.run.on_published(out, self.monotonic())
        if out.kind == 'hold':
            self.get_logger().info(f'hold: {out.reason}', throttle_duration_sec=2.0)
        elif out.record.latency_ms > 1000.0 * self.settings.control_period_s:
            self.get_logger().warning(
                f'latency {out.record.latency_ms:.1f} ms exceeds the control period '
                f'{1000.0 * self.settings.control_period_s:.1f} ms', throttle_duration_sec=5.0)

    def _publish_diagnostics(self) -> None:
        now = self.monotonic()
        self._check_clock(now)
        reports = diagnostic_reports(self, now)
        self.pub_diagnostics.publish(messages.diagnostic_array(
            reports, self.get_clock().now().to_msg()))

    def _check_clock(self, now: float) -> None:
        """WARN (and log once) while sim time stands still; diagnostics keep their steady 1 Hz."""
        message, changed = self.clock_watch.check(getattr(self.monotonic, 'sim', False), now,
                                                  time.monotonic())
        if message:
            self.events.note('control', 'clock', WARN, message, now)
        else:
            self.events.clear('control', 'clock')
        if changed and message:
            self.get_logger().warning(message)
        elif changed:
            self.get_logger().info('sim time advances again')


def main(args: Optional[List[str]] = None, loader: Optional[Loader] = None) -> int:
    """Run deer_node until SIGINT / SIGTERM, then publish a final hold and shut down (exit 0)."""
    def deer_node() -> DeerNode:
        return DeerNode(loader=loader, global_args=args)
    return run_node(deer_node, args)


if __name__ == '__main__':
    sys.exit(main())
