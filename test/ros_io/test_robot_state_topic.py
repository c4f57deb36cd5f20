"""The robot state round-trips from sim_node's topic, through deer_node's input, to the model."""
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from test_robot_state import IMAGE, state_engine

from deer_ros.ros_io.robot_state import STATE_NAMES, StateFeedingEngine
from deer_ros.ros_io.robot_state_input import attach_robot_state
from deer_ros.sim.sim_node import SimNode

pytestmark = pytest.mark.ros


def test_sim_state_reaches_the_model_through_the_topic(ros_graph):
    params = {'tasks': ['reach-v3'], 'episodes_per_task': 1, 'max_steps': 3, 'image_size': 32,
              'idle_publish_rate_hz': 10.0}
    sim = ros_graph.add(SimNode(context=ros_graph.context, parameter_overrides=[
        Parameter(k, value=v) for k, v in params.items()]))
    client = ros_graph.node('client')
    states = ros_graph.collect(JointState, 'robot_state', qos_profile_sensor_data, client)
    frames = ros_graph.collect(Image, 'camera/static/image_raw', qos_profile_sensor_data, client)
    host = ros_graph.node('state_host')
    host.monotonic = time.monotonic                    # deer_node's injected clock
    fed = attach_robot_state(host, state_engine())
    assert isinstance(fed, StateFeedingEngine)
    ros_graph.spin_until(lambda: states and frames and
                         fed.buffer.latest(time.monotonic(), 0)[0] is not None, 20,
                         'robot_state on the topic and in the buffer')
    truth = sim.sim.robot_state()
    msg = states[-1]
    assert tuple(msg.name) == STATE_NAMES
    assert {f.header.stamp.sec * 10**9 + f.header.stamp.nanosec for f in frames} >= \
        {msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec}   # stamped like a frame
    received, _ = fed.buffer.latest(time.monotonic(), 0)
    np.testing.assert_allclose(received, truth, rtol=1e-6)
    action = fed.step(IMAGE, IMAGE).action
    direct = state_engine().step(IMAGE, IMAGE, state=truth).action
    np.testing.assert_allclose(action, direct, atol=1e-6)
