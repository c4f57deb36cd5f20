"""Shared fixtures. DDS stays on loopback, and every test on a ROS domain of its own."""
import gc
import itertools
import os

import pytest

# Set before any rclpy participant exists; subprocesses (nodes under test) inherit them.
os.environ.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('MUJOCO_GL', 'osmesa')
os.environ.setdefault('PYOPENGL_PLATFORM', 'osmesa')

# Each test takes the next domain of a window starting at the run's ROS_DOMAIN_ID (valid DDS
# domains are 0..232). Why: an earlier test's participant lives on until its context is
# finalised, and a killed subprocess's until its discovery lease ends; on a shared domain a test
# then sees two /deer_node nodes with the same services, and a service client flickers between
# ready and not ready (test_lifecycle_transitions timed out on change_state that way).
DOMAIN_WINDOW = 40
_FIRST = int(os.environ['ROS_DOMAIN_ID'])
_FIRST = _FIRST if _FIRST + DOMAIN_WINDOW <= 232 else max(0, _FIRST - DOMAIN_WINDOW)
_NEXT = itertools.count()


@pytest.fixture(autouse=True)
def private_domain(monkeypatch):
    """This test's ROS domain, in the environment for its contexts and subprocesses."""
    domain = _FIRST + next(_NEXT) % DOMAIN_WINDOW
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    return domain


@pytest.fixture
def ros_graph(private_domain):
    """A RosGraph on a fresh rclpy context; torn down after the test."""
    from ros_harness import RosGraph, private_context
    context = private_context(private_domain)
    graph = RosGraph(context)
    try:
        yield graph
    finally:
        graph.close()
        context.try_shutdown()
        del graph, context
        gc.collect()    # finalise the context now: its participant leaves discovery at once
