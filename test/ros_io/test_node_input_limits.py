"""deer_node's input limits over real topics.

Compressed-image size checked before decoding, instruction length, and instructions from volatile
as well as latched publishers.
"""
import struct
import time
import zlib

import cv2
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String

from deer_ros.ros_io.messages import stamp_from_seconds
from ros_io_helpers import CameraPlayer, diagnostics_of, operator, outputs, rgb, stream

pytestmark = pytest.mark.ros


def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit PNG of side x side black pixels: ~50 KB, 1.2 GB once decoded to RGB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data))
    rows = zlib.compress(b'\x00' * ((side // 8 + 1) * side), 6)
    header = struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', rows) + \
        chunk(b'IEND', b'')


def compressed(data: bytes) -> CompressedImage:
    msg = CompressedImage(format='png', data=data)
    msg.header.stamp = stamp_from_seconds(time.time())
    return msg


def wait_inputs(graph, out, text, timeout_s=5.0):
    def found():
        return [s for s in diagnostics_of(out['diagnostics'], 'deer_node: inputs')
                if text in s.message]
    graph.spin_until(found, timeout_s, f'inputs diagnostic containing {text!r}')
    return found()[-1]


def test_compressed_image_declaring_a_huge_size_is_rejected_before_decoding(ros_graph, deer):
    node = deer({'image_transport': 'compressed'})
    out = outputs(ros_graph)
    pub = ros_graph.node('compressed_camera').create_publisher(
        CompressedImage, 'camera/static/image_raw/compressed', qos_profile_sensor_data)
    operator(ros_graph, 'open the drawer')
    ros_graph.wait_for_subscribers(pub)

    def good(count=[0]):
        count[0] += 1
        pub.publish(compressed(cv2.imencode('.png', rgb(count[0]))[1].tobytes()))

    deadline = time.monotonic() + 10.0
    while len(out['action']) < 2 and time.monotonic() < deadline:
        good()
        ros_graph.spin_for(0.05)
    assert len(out['action']) >= 2
    bomb = png_bomb()
    assert len(bomb) < 400_000
    started = time.monotonic()
    pub.publish(compressed(bomb))
    ros_graph.spin_until(lambda: node.core.counts['rejected_frames'] >= 1, 5.0, 'rejection')
    assert time.monotonic() - started < 1.0, 'rejected from the header, not after decoding'
    status = wait_inputs(ros_graph, out, '20000x20000')
    assert status.level == b'\x01' and 'not decoded' in status.message, status.message
    count = len(out['action'])
    deadline = time.monotonic() + 10.0
    while len(out['action']) < count + 3 and time.monotonic() < deadline:
        good()
        ros_graph.spin_for(0.05)
    assert len(out['action']) >= count + 3 and not out['action'][-1].hold, 'keeps acting'


def test_too_long_instruction_is_rejected_with_the_reason_and_shown_short(ros_graph, deer):
    deer({'instruction.max_chars': 200})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    pub = operator(ros_graph, 'open the drawer')
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    pub.publish(String(data='open the drawer ' * 625))           # 10,000 characters
    stream(ros_graph, camera, 5.0, until=lambda: out['action'][-1].hold)
    assert out['action'][-1].hold, 'stops acting on a rejected instruction'
    status = wait_inputs(ros_graph, out, 'instruction.max_chars 200')
    assert '9999 characters' in status.message and status.level == b'\x01'
    shown = {kv.key: kv.value for kv in status.values}['instruction']
    assert len(shown) < 200, 'never the whole text in diagnostics'
    assert all(len(s.message) < 2000 for a in out['diagnostics'] for s in a.status)
    count = len(out['action'])
    pub.publish(String(data='close the drawer'))
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= count + 2
           and not out['action'][-1].hold)
    assert not out['action'][-1].hold, 'acts again on a valid instruction'


def test_instruction_from_a_volatile_publisher_and_a_latched_one_once(ros_graph, deer):
    latched = operator(ros_graph, 'open the drawer')      # transient local, before the node
    node = deer()
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    stream(ros_graph, camera, 10.0, until=lambda: len(out['action']) >= 2)
    assert node.instruction == 'open the drawer'
    plain = ros_graph.node('plain_operator').create_publisher(String, 'instruction', 10)
    ros_graph.wait_for_subscribers(plain)       # never matches a transient-local subscription
    plain.publish(String(data='close the drawer'))
    ros_graph.spin_until(lambda: node.instruction == 'close the drawer', 5.0,
                         'instruction from a volatile publisher')
    stream(ros_graph, camera, 1.0)
    assert node.instructions_received == 2, 'one message, however many subscriptions match'
    latched.publish(String(data='push the button'))
    ros_graph.spin_until(lambda: node.instruction == 'push the button', 5.0, 'latched again')
    stream(ros_graph, camera, 1.0)
    assert node.instructions_received == 3
