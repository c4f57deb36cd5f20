"""Topic conventions: with image_transport compressed, remapping the base topic moves /compressed.

image_transport resolves the base name (namespace, remaps) and then adds the transport suffix, so
`-r camera/static/image_raw:=/cam1/color/image_raw` makes the node read
/cam1/color/image_raw/compressed, as a robot's camera driver publishes it.
"""
import time

import cv2
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage

from deer_ros.ros_io.deer_node import DeerNode
from deer_ros.ros_io.messages import stamp_from_seconds
from ros_io_helpers import NodeRunner, example_loader, operator, outputs, overrides, rgb

pytestmark = pytest.mark.ros


BASE = 'camera/static/image_raw:=/cam1/color/image_raw'


@pytest.mark.parametrize('namespace,rule,expected', [
    ('', BASE, '/cam1/color/image_raw/compressed'),
    ('/arm1', BASE, '/cam1/color/image_raw/compressed'),
    ('/arm1', 'camera/static/image_raw/compressed:=/x/compressed', '/x/compressed'),  # as before
])
def test_remapping_the_base_topic_moves_the_compressed_subscription(
        ros_graph, namespace, rule, expected):
    remap = ['-r', rule]
    ns = ['-r', f'__ns:={namespace}'] if namespace else []
    runner = NodeRunner(DeerNode(
        context=ros_graph.context, loader=example_loader(),
        cli_args=['--ros-args', *ns, *remap],
        parameter_overrides=overrides({'autostart': True, 'image_transport': 'compressed'})))
    try:
        out = outputs(ros_graph) if not namespace else None
        node = runner.node
        ros_graph.spin_until(lambda: node._camera_subs, 10.0, 'the camera subscription')
        topics = [s.topic_name for s in node._camera_subs]
        assert topics == [expected], topics
        if out is None:
            return
        pub = ros_graph.node('driver').create_publisher(
            CompressedImage, '/cam1/color/image_raw/compressed', qos_profile_sensor_data)
        operator(ros_graph, 'open the drawer')
        ros_graph.wait_for_subscribers(pub)
        deadline, count = time.monotonic() + 10.0, 0
        while not any(not a.hold for a in out['action']) and time.monotonic() < deadline:
            count += 1
            msg = CompressedImage(format='jpeg',
                                  data=cv2.imencode('.jpg', rgb(count, 32))[1].tobytes())
            msg.header.stamp = stamp_from_seconds(time.time())
            pub.publish(msg)
            ros_graph.spin_for(0.05)
        assert any(not a.hold for a in out['action']), 'no action from the remapped camera'
    finally:
        runner.close()
