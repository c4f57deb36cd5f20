"""Shared fixtures. DDS stays on loopback and on a domain private to this test run."""
import os

import pytest

# Set before any rclpy participant exists; subprocesses (nodes under test) inherit them.
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('MUJOCO_GL', 'osmesa')
os.environ.setdefault('PYOPENGL_PLATFORM', 'osmesa')


@pytest.fixture
def ros_graph():
    """A RosGraph on a fresh rclpy context; torn down after the test."""
    from ros_harness import RosGraph, private_context
    context = private_context(int(os.environ['ROS_DOMAIN_ID']))
    graph = RosGraph(context)
    try:
        yield graph
    finally:
        graph.close()
        context.try_shutdown()
