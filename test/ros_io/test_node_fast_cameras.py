"""Cameras at 10x the control rate (the normal case on a robot) must not slow the control loop.

deer_node runs as its own process (the real executable, tiny preset on the CPU: CPU-bound
inference, as on a robot without a GPU) at 3 Hz; two 640x480 rgb8 cameras publish pairs at
30 Hz from this process (what one Python publisher sustains on 2 busy cores). The node
stores raw messages only and decodes the pair it uses, so the action rate holds within 5 % and
the action latency (camera stamp to action received) stays under two control periods.

Counted where it matters: frames *received* by the node (its `inputs` diagnostic: frames per
camera and pairs within sync.slop_s) beside frames sent, and, as the transport's own limit, what
a bare rclpy subscriber process (deer_ros.bench.camera_receiver) receives from the same stream.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from deer_ros.msg import ActionCommand
from deer_ros.ros_io.deer_node import COMMAND_QOS
from ros_io_helpers import image_msg, operator

pytestmark = pytest.mark.ros
ROOT = pathlib.Path(__file__).resolve().parents[2]
# DEER_FAST_CAMERAS="5,50" runs the case (5 Hz control, 50 Hz pairs) instead
CONTROL_HZ, CAMERA_HZ = (float(v) for v in os.environ.get('DEER_FAST_CAMERAS', '3,30').split(','))
# the remedies, measured the same way: DEER_FAST_CAMERAS_TRANSPORT=compressed (JPEG, quality 90),
# DEER_FAST_CAMERAS_SIZE=224x224 (a camera driver resizing to what the model reads)
TRANSPORT = os.environ.get('DEER_FAST_CAMERAS_TRANSPORT', 'raw')
WIDTH, HEIGHT = (int(v) for v in os.environ.get('DEER_FAST_CAMERAS_SIZE', '640x480').split('x'))


def start(module, *args, own_args=()):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen([sys.executable, '-m', module, *own_args, '--ros-args', *args,
                             '-r', '__ns:=/fast'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


class PairPublisher:
    """Two cameras publishing a 640x480 rgb8 pair every 1 / CAMERA_HZ s, on their own clock."""

    def __init__(self, graph):
        self.graph = graph
        self.node = graph.node('fast_cameras', namespace='/fast')
        compressed = TRANSPORT == 'compressed'
        self.cams = [self.node.create_publisher(
            CompressedImage if compressed else Image,
            f'camera/{c}/image_raw' + ('/compressed' if compressed else ''),
            qos_profile_sensor_data) for c in ('static', 'gripper')]
        noise = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        frame = cv2.GaussianBlur(noise, (0, 0), 3.0)       # camera-like: JPEG ~12x smaller
        self.msg = (CompressedImage(format='jpeg', data=cv2.imencode(
            '.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()) if compressed
            else image_msg(frame, time.time()))
        print(f'{TRANSPORT} {WIDTH}x{HEIGHT}: {len(self.msg.data) / 1e3:.0f} kB per frame')
        self.times = []

    def run(self, proc, seconds, ready=lambda: True, timeout_s=60.0):
        """Publish until ready() (at most timeout_s), then for `seconds`: the window (t0, t1)."""
        period, start_s, end, window = 1.0 / CAMERA_HZ, time.monotonic(), None, None
        sent = 0
        while end is None or time.monotonic() < end:
            assert proc.poll() is None and time.monotonic() - start_s < timeout_s + seconds, \
                'the other process died or never got ready'
            if end is None and ready():
                end = time.monotonic() + seconds
                window = (time.monotonic(), len(self.times))
            now = time.time()
            self.msg.header.stamp.sec, self.msg.header.stamp.nanosec = \
                int(now), int(now % 1 * 1e9)
            for cam in self.cams:
                cam.publish(self.msg)
            sent += 1
            self.times.append(time.monotonic())
            # a camera keeps its own clock: the next pair is due at start + n * period
            self.graph.spin_for(max(0.0, start_s + sent * period - time.monotonic()))
        elapsed = time.monotonic() - window[0]
        gaps = np.diff(self.times[window[1]:])
        print(f'sent {(len(self.times) - window[1]) / elapsed:.1f} pairs/s; camera publish '
              f'gaps: max {gaps.max() * 1e3:.0f} ms, '
              f'{int((gaps > 1.0 / CONTROL_HZ).sum())} over a control period')
        return window[0], (len(self.times) - window[1]) / elapsed


def inputs_values(arrays, since):
    """(receipt time, {key: value}) of deer_node's `inputs` status received after `since`."""
    return [(t, {v.key: v.value for v in s.values}) for t, a in arrays if t >= since
            for s in a.status if s.name == '/fast/deer_node: inputs']


def run_fast_cameras(graph, seconds):
    """Actions and the node's received-frame counts over `seconds` after the first action."""
    proc = start('deer_ros.ros_io.deer_node', '-p', 'model.device:=cpu', '-p',
                 'autostart:=true', '-p', f'control_rate_hz:={CONTROL_HZ}', '-p',
                 'use_gripper_camera:=true', '-p', f'image_transport:={TRANSPORT}')
    received, arrays = [], []
    try:
        cameras = PairPublisher(graph)
        cameras.node.create_subscription(ActionCommand, 'action',
                                         lambda a: received.append((time.time(), a)),
                                         COMMAND_QOS)
        cameras.node.create_subscription(DiagnosticArray, '/diagnostics',
                                         lambda a: arrays.append((time.monotonic(), a)), 50)
        operator(graph, 'open the drawer', namespace='/fast')
        try:
            t0, camera_hz = cameras.run(proc, seconds, ready=lambda: bool(received))
        except AssertionError as exc:   # say what the node saw
            last = [s for _, a in arrays[-1:] for s in a.status]
            raise AssertionError(f'{exc}; deer_node said: ' + '; '.join(
                f'{s.name}: {s.message} {[(v.key, v.value) for v in s.values]}'
                for s in last)) from None
        received[:] = [(t, a) for t, a in received if t >= time.time() - seconds]
    finally:
        output = stop(proc)
    counts = inputs_values(arrays, t0)
    (first_t, first), (last_t, last) = counts[0], counts[-1]
    span = last_t - first_t

    def rate(key):
        return (int(last[key]) - int(first[key])) / span
    node_rx = dict(static=rate('static_frames'), gripper=rate('gripper_frames'),
                   pairs=rate('received_pairs'))
    print(f'node received over {span:.1f} s: static {node_rx["static"]:.1f} Hz, gripper '
          f'{node_rx["gripper"]:.1f} Hz, pairs {node_rx["pairs"]:.1f}/s '
          f'(sent {camera_hz:.1f} pairs/s)')
    actions = [(t, a) for t, a in received if not a.hold]
    holds = [a.hold_reason for _, a in received if a.hold]
    print(f'holds in the window: {len(holds)} {sorted(set(holds))}')
    times = [t for t, _ in actions]
    latencies = [t - (a.header.stamp.sec + 1e-9 * a.header.stamp.nanosec) for t, a in actions]
    return times, latencies, camera_hz, node_rx, output


def check_rate_and_latency(graph, seconds):
    times, latencies, camera_hz, node_rx, output = run_fast_cameras(graph, seconds)
    assert len(times) > 2, output
    rate = (len(times) - 1) / (times[-1] - times[0])
    p95 = float(np.percentile(latencies, 95))
    print(f'cameras {camera_hz:.1f} Hz pairs sent, {node_rx["pairs"]:.1f} received; actions '
          f'{rate:.2f} Hz (control {CONTROL_HZ:g}), latency p50 '
          f'{np.median(latencies) * 1e3:.0f} ms p95 {p95 * 1e3:.0f} ms')
    print('intervals ms', [round((b - a) * 1e3) for a, b in zip(times, times[1:])])
    assert camera_hz > 0.8 * CAMERA_HZ, f'this test only published {camera_hz:.1f} Hz pairs'
    assert rate >= 0.95 * CONTROL_HZ, f'action rate {rate:.2f} Hz at {CONTROL_HZ:g} Hz control'
    assert p95 < 2.0 / CONTROL_HZ, f'latency p95 {p95 * 1e3:.0f} ms > two control periods'


@pytest.mark.slow
def test_cameras_at_10x_the_control_rate_keep_rate_and_latency(ros_graph):
    """Slow-marked: on 2 cores shared with other work it held 2.4-2.9 Hz of 3 (ticks with no
    static/gripper pair: gripper frames lost between the processes); see the report of #12."""
    check_rate_and_latency(ros_graph, 12.0)


@pytest.mark.slow
def test_cameras_at_10x_the_control_rate_for_60_s(ros_graph):
    check_rate_and_latency(ros_graph, 60.0)


@pytest.mark.slow
def test_a_bare_subscriber_process_receives_what_the_transport_delivers(ros_graph):
    """The transport's limit, without deer_node: a bare rclpy subscriber process counting."""
    proc = start('deer_ros.bench.camera_receiver', own_args=[TRANSPORT])
    cameras = PairPublisher(ros_graph)
    try:
        _, camera_hz = cameras.run(proc, 12.0, ready=lambda: all(
            c.get_subscription_count() for c in cameras.cams))
    finally:
        output = stop(proc)
    result = json.loads(output.strip().splitlines()[-1])
    print(f'bare subscriber: {result["pairs"] / 12.0:.1f} pairs/s ('
          f'{result["slop_pairs"] / 12.0:.1f} within 0.05 s) of {camera_hz:.1f} sent; static '
          f'{result["frames"]["static"] / 12.0:.1f} Hz, gripper '
          f'{result["frames"]["gripper"] / 12.0:.1f} Hz, largest static gap '
          f'{result["max_gap_s"] * 1e3:.0f} ms')
    assert result['frames']['static'] > 0
