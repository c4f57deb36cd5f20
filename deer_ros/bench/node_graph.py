"""Benchmark 3b: deer_node end to end on a real rclpy graph (Fast DDS), one process.

A camera publisher sends pairs of 640x480 rgb8 images (same stamp) to a DeerNode whose timings
are read by a subclass (no change to the node): arrival of each image (callback entry), when the
decoded frame was queued, the control tick's start and the end of publishing. Per action:

* arrival_to_publish = publish done - arrival of the newer image of the pair;
* model = the engine's vision + LLM + head time (StepRecord);
* timer_wait = tick start - the newer frame queued (the latest-frame control timer's phase, at
  most one control period; a design choice, not work);
* overhead = arrival_to_publish - model - timer_wait (decode, sync, policy, mapping, publish).

Pairs are sent one at a time (the next after the action arrives), so frames never queue.
"""
import os
import threading
import time
from typing import Any, Dict, List, Optional

from deer_ros.bench.node_stages import image_message
from deer_ros.bench.timing import summarize

NAMESPACE = 'deer_bench'


def _bench_node_class() -> type:
    from deer_ros.ros_io.deer_node import DeerNode

    class TimedDeerNode(DeerNode):
        """DeerNode that records when each stage of the per-frame path happened."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.arrivals: Dict[tuple, float] = {}
            self.queued: Dict[tuple, float] = {}
            self.actions: List[Dict[str, Any]] = []
            self._tick_start = 0.0
            self._times_lock = threading.Lock()
            super().__init__(*args, **kwargs)

        def _on_image(self, camera: str, msg: Any) -> None:
            arrival = time.monotonic()
            super()._on_image(camera, msg)
            key = (camera, msg.header.stamp.sec, msg.header.stamp.nanosec)
            with self._times_lock:
                self.arrivals[key] = arrival
                self.queued[key] = time.monotonic()

        def _on_control_tick(self) -> None:
            self._tick_start = time.monotonic()
            super()._on_control_tick()

        def _create_interfaces(self) -> None:
            super()._create_interfaces()
            publish = self.output._publish_command

            def timed(command: Any, stamp: Any, record: Any, gripper: Optional[float]) -> None:
                publish(command, stamp, record, gripper)
                if record is not None:
                    self._note_action(stamp, record)
            self.output._publish_command = timed

        def _note_action(self, stamp: Any, record: Any) -> None:
            done = time.monotonic()
            keys = [(cam, stamp.sec, stamp.nanosec) for cam in ('static', 'gripper')]
            with self._times_lock:
                arrival = max(self.arrivals.get(k, float('nan')) for k in keys)
                queued = max(self.queued.get(k, float('nan')) for k in keys)
            self.actions.append(dict(arrival=arrival, queued=queued, tick=self._tick_start,
                                     done=done, record=record))

    return TimedDeerNode


def run_graph(loader: Any, images: List[Any], frames: int, warmup: int,
              control_rate_hz: float = 100.0, timeout_s: float = 5.0) -> Dict[str, Any]:
    """Send `warmup + frames` image pairs through a DeerNode; timings of the last `frames`."""
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from deer_ros.msg import ActionCommand
    from deer_ros.ros_io.deer_node import COMMAND_QOS, INSTRUCTION_QOS
    from deer_ros.ros_io.executor import JoiningExecutor
    from deer_ros.ros_io.node_runtime import ExecutorThread
    context = Context()
    domain = int(os.environ.get('ROS_DOMAIN_ID', 150 + os.getpid() % 80))
    rclpy.init(context=context, domain_id=domain)
    params = {'autostart': True, 'control_rate_hz': float(control_rate_hz),
              'use_gripper_camera': True}
    node = _bench_node_class()(context=context, namespace=NAMESPACE, loader=loader,
                               parameter_overrides=[Parameter(k, value=v)
                                                    for k, v in params.items()])
    node_exec = JoiningExecutor(num_threads=4, context=context)   # deer_node's own executor
    node_exec.add_node(node)
    spinner = ExecutorThread(node_exec).start()
    from rclpy.node import Node
    peer = Node('deer_bench_camera', namespace=NAMESPACE, context=context)
    peer_exec = SingleThreadedExecutor(context=context)
    peer_exec.add_node(peer)
    cams = [peer.create_publisher(Image, f'camera/{c}/image_raw', qos_profile_sensor_data)
            for c in ('static', 'gripper')]
    received: List[float] = []
    actions = peer.create_subscription(ActionCommand, 'action',
                                       lambda msg: received.append(time.monotonic()), COMMAND_QOS)
    instruction = peer.create_publisher(String, 'instruction', INSTRUCTION_QOS)
    sent: List[float] = []
    try:
        # The action publisher must have matched too: an answer to frame 0 sent before that is
        # lost (reliable but volatile), and re-sending the same frame gets no second answer.
        _spin_until(peer_exec, lambda: all(p.get_subscription_count() for p in cams)
                    and node.core is not None and actions.get_publisher_count() > 0,
                    timeout_s, 'deer_node configured + matched both ways')
        instruction.publish(String(data='push the red block to the left'))
        for i in range(warmup + frames):
            before = len(received)
            msgs = [image_message(img, 1000.0 + 0.1 * i) for img in images]
            try:
                t_send = _send_until_answered(peer_exec, cams, msgs,
                                              lambda: len(received) > before, timeout_s,
                                              f'action for frame {i}')
            except TimeoutError as exc:   # say where the frame stopped
                core = node.core
                state = core.status(time.monotonic()) if core is not None else None
                raise TimeoutError(f'{exc}; deer_node: {state}, {len(node.actions)} actions '
                                   f'published, {len(received)} received') from None
            sent.append(t_send)
            time.sleep(0.005)
    finally:
        spinner.stop(timeout_s=5.0)
        peer_exec.shutdown()
        peer.destroy_node()
        node.destroy_node()
        context.try_shutdown()
    actions = node.actions[-frames:]
    rows = [_row(a) for a in actions]
    roundtrip = [(r - s) * 1e3 for s, r in zip(sent[-frames:], received[-frames:])]
    keys = ('arrival_to_publish_ms', 'model_ms', 'timer_wait_ms', 'overhead_ms',
            'overhead_with_wait_ms')
    out = {k: summarize([r[k] for r in rows]).to_dict() for k in keys}
    out['send_to_receive_ms'] = summarize(roundtrip).to_dict()
    out['frames'] = len(rows)
    out['control_rate_hz'] = control_rate_hz
    return out


def _row(action: Dict[str, Any]) -> Dict[str, float]:
    rec = action['record']
    model = rec.vision_ms + rec.llm_ms + rec.head_ms
    total = (action['done'] - action['arrival']) * 1e3
    wait = max(0.0, (action['tick'] - action['queued']) * 1e3)
    return dict(arrival_to_publish_ms=total, model_ms=model, timer_wait_ms=wait,
                overhead_ms=total - model - wait, overhead_with_wait_ms=total - model)


def _send_until_answered(executor: Any, publishers: List[Any], msgs: List[Any], answered: Any,
                         timeout_s: float, what: str) -> float:
    """Publish the image pair until answered; return the time of the last send.

    Best-effort (sensor-data) QoS may drop the first pair right after discovery, so the pair is
    re-sent every 0.25 s, as a streaming camera would.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        t_send = time.monotonic()
        for pub, msg in zip(publishers, msgs):
            pub.publish(msg)
        try:
            _spin_until(executor, answered, min(0.25, max(0.0, deadline - t_send)), what)
            return t_send
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f'timed out after {timeout_s:.1f} s waiting for {what}')


def _spin_until(executor: Any, predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f'timed out after {timeout_s:.1f} s waiting for {what}')
        executor.spin_once(timeout_sec=0.01)
