"""Fixtures of the deer_node tests (the ros_graph fixture lives in test/conftest.py)."""
import pytest

from deer_ros.ros_io.deer_node import DeerNode
from ros_io_helpers import NodeRunner, example_loader, overrides


@pytest.fixture
def deer(ros_graph):
    """Factory: start a DeerNode with parameter overrides; stopped at teardown."""
    runners = []

    def start(params=None, models=None, **model_kwargs):
        values = {'autostart': True, 'control_rate_hz': 20.0}
        values.update(params or {})
        node = DeerNode(context=ros_graph.context, parameter_overrides=overrides(values),
                        loader=example_loader(models, **model_kwargs))
        runners.append(NodeRunner(node))
        return node
    yield start
    for runner in runners:
        runner.close()
