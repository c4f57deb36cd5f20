"""node_runtime's shutdown order over real rclpy: no callback outlives the executor's guard.

rclpy's MultiThreadedExecutor.shutdown() destroys its guard condition before joining its
workers, so handlers still queued in the pool die with "cannot use Destroyable because
destruction was requested" ("exception was never retrieved" on stderr) - what deer_node printed
on some SIGINTs. Six 1 ms timers with 50 ms callbacks on two workers keep the pool's queue full.
"""
import gc
import threading
import time

import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from deer_ros.ros_io.executor import JoiningExecutor
from deer_ros.ros_io.node_runtime import ExecutorThread

pytestmark = pytest.mark.ros


def test_stop_joins_every_callback_before_destroying(ros_graph, capfd):
    node = Node('busy', context=ros_graph.context)
    group = ReentrantCallbackGroup()
    started = threading.Event()
    finished = []

    def slow() -> None:
        started.set()
        time.sleep(0.05)
        finished.append(time.monotonic())

    for _ in range(6):
        node.create_timer(0.001, slow, callback_group=group)
    executor = JoiningExecutor(num_threads=2, context=ros_graph.context)
    executor.add_node(node)
    spinner = ExecutorThread(executor).start()
    assert started.wait(5.0)
    time.sleep(0.2)
    assert spinner.stop(timeout_s=10.0)
    stopped = time.monotonic()
    node.destroy_node()
    assert not spinner.alive and not spinner.errors
    del executor, spinner                                # its tasks report on collection
    gc.collect()
    assert max(finished) <= stopped                      # nothing ran after stop() returned
    err = capfd.readouterr().err
    assert 'never retrieved' not in err and 'Destroyable' not in err, err
