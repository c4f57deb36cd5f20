"""Frames that are valid ROS messages but unusable: rejected with the reason, and never fresh.

A camera that only delivers rejected frames (zero height or width, empty or truncated JPEG data)
has stopped delivering usable ones: after safety.stale_image_s the node holds, as for a camera
that stopped, and the diagnostic names the camera and why its frames were refused.
"""
import time

import cv2
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from deer_ros.ros_io.messages import stamp_from_seconds
from ros_io_helpers import image_msg, operator, outputs, rgb, wait_for_diagnostic

pytestmark = pytest.mark.ros


def jpeg(seed: int) -> bytes:
    """A camera-like (smooth) 64x64 JPEG."""
    image = cv2.GaussianBlur(rgb(seed, 64), (0, 0), 2.0)
    return cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def truncated_jpeg(seed: int) -> bytes:
    """Cut in transit, end marker re-appended: cv2 decodes it with only a stderr warning."""
    data = jpeg(seed)
    return data[:len(data) // 2] + b'\xff\xd9'


def compressed(data: bytes) -> CompressedImage:
    msg = CompressedImage(format='jpeg', data=data)
    msg.header.stamp = stamp_from_seconds(time.time())
    return msg


def zero_height(seed: int) -> Image:
    msg = image_msg(rgb(seed), time.time())
    msg.height, msg.data = 0, b''
    return msg


def zero_width(seed: int) -> Image:
    msg = image_msg(rgb(seed), time.time())
    msg.width, msg.step, msg.data = 0, 0, b''
    return msg


CASES = {   # transport, good frame, bad frame, what the rejection says
    'zero height': ('raw', lambda i: image_msg(rgb(i), time.time()), zero_height,
                    'bad image size 16x0'),
    'zero width': ('raw', lambda i: image_msg(rgb(i), time.time()), zero_width,
                   'bad image size 0x16'),
    'empty compressed': ('compressed', lambda i: compressed(jpeg(i)),
                         lambda i: compressed(b''), 'no data'),
    'truncated jpeg': ('compressed', lambda i: compressed(jpeg(i)),
                       lambda i: compressed(truncated_jpeg(i)), 'JPEG truncated'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_only_rejected_frames_is_a_stale_camera(ros_graph, deer, case):
    transport, good, bad, reason = CASES[case]
    node = deer({'image_transport': transport, 'safety.stale_image_s': 0.4})
    out = outputs(ros_graph)
    kind, topic = ((Image, 'camera/static/image_raw') if transport == 'raw' else
                   (CompressedImage, 'camera/static/image_raw/compressed'))
    pub = ros_graph.node('camera').create_publisher(kind, topic, qos_profile_sensor_data)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(pub)
    sent = [0]

    def publish_for(make, seconds, until=lambda: False):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            sent[0] += 1
            pub.publish(make(sent[0]))
            ros_graph.spin_for(0.05)

    publish_for(good, 10.0, until=lambda: len([a for a in out['action'] if not a.hold]) >= 2)
    assert any(not a.hold for a in out['action']), 'never acted on good frames'
    start = len(out['action'])
    publish_for(bad, 6.0, until=lambda: any(a.hold for a in out['action'][start:]))
    holds = [a for a in out['action'][start:] if a.hold]
    assert holds and holds[0].hold_reason == 'stale_camera', \
        f'{node.core.counts["rejected_frames"]} frames rejected, no hold: ' + \
        str([(a.hold, a.hold_reason) for a in out['action'][start:]])
    moved_after = [a for a in out['action'][start:][out['action'][start:].index(holds[0]):]
                   if not a.hold]
    assert not moved_after, 'moved on rejected frames'
    status = wait_for_diagnostic(ros_graph, out, 'inputs', reason)
    assert 'static camera frame rejected' in status.message
    status = wait_for_diagnostic(ros_graph, out, 'inputs', 'static camera stale')
    assert status.level == b'\x01'
    count = len(out['action'])
    publish_for(good, 10.0, until=lambda: any(not a.hold for a in out['action'][count:]))
    assert any(not a.hold for a in out['action'][count:]), 'acts again on good frames'
    assert np.isfinite(out['action'][-1].translation.x)
