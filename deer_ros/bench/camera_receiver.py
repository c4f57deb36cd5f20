"""A bare rclpy subscriber to deer_node's two camera topics: what the transport alone delivers.

Run beside a camera publisher (test/ros_io/test_node_fast_cameras.py does) to tell the
transport's limit from deer_node's: it subscribes like the node (sensor-data QoS, one executor)
and does nothing but count. On SIGINT it prints one JSON line: frames per camera, pairs (both
cameras' frames with one stamp; `slop_pairs`: static frames with a gripper frame within 0.05 s,
deer_node's `received_pairs` with the default sync.slop_s) and the largest static-camera gap.

    python -m deer_ros.bench.camera_receiver [compressed] --ros-args -r __ns:=/fast
"""
import bisect
import json
import signal
import sys
import time
from typing import Dict, List, Optional


SLOP_S = 0.05


def main(args: Optional[List[str]] = None) -> int:
    """Count camera/{static,gripper}/image_raw[/compressed] until SIGINT; print JSON counts."""
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image
    args = sys.argv if args is None else args
    own = args[1:args.index('--ros-args')] if '--ros-args' in args else args[1:]
    compressed = 'compressed' in own
    rclpy.init(args=args)
    node = Node('camera_receiver')
    counts: Dict[str, int] = {'static': 0, 'gripper': 0}
    stamps: Dict[str, set] = {'static': set(), 'gripper': set()}
    arrivals: List[float] = []

    def on_image(camera: str, msg: 'Image | CompressedImage') -> None:
        counts[camera] += 1
        stamps[camera].add((msg.header.stamp.sec, msg.header.stamp.nanosec))
        if camera == 'static':
            arrivals.append(time.monotonic())

    for camera in counts:
        node.create_subscription(
            CompressedImage if compressed else Image,
            f'camera/{camera}/image_raw' + ('/compressed' if compressed else ''),
            lambda msg, cam=camera: on_image(cam, msg), qos_profile_sensor_data)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    started = time.monotonic()
    while not stop:
        rclpy.spin_once(node, timeout_sec=0.05)
    seconds = time.monotonic() - started
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    grippers = sorted(s + n * 1e-9 for s, n in stamps['gripper'])
    slop_pairs = sum(1 for s, n in stamps['static']
                     if _nearest(grippers, s + n * 1e-9) <= SLOP_S)
    print(json.dumps(dict(seconds=seconds, frames=counts,
                          pairs=len(stamps['static'] & stamps['gripper']),
                          slop_pairs=slop_pairs, max_gap_s=max(gaps, default=0.0))), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _nearest(sorted_values: List[float], value: float) -> float:
    """Distance from value to the nearest of sorted_values (inf when empty)."""
    i = bisect.bisect_left(sorted_values, value)
    near = sorted_values[max(0, i - 1):i + 1]
    return min((abs(v - value) for v in near), default=float('inf'))


if __name__ == '__main__':
    sys.exit(main())
