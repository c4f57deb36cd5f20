"""`main()` of a plain (unmanaged) node: spin until SIGINT, SIGTERM or external shutdown.

Why not rclpy.spin() with rclpy's signal handler: that handler shuts the context down at once,
while a callback may still be running; a publish in it then raises "publisher's context is
invalid" and the node exits 1 (sim_node starting the next episode as SIGINT landed). Here the
handler only records the signal (node_runtime.SignalFlag), the executor spins on its own thread
and is stopped and joined first, so no callback runs once the node is destroyed and rclpy shut
down: the same order as deer_node (node_runtime.run_node).
"""
import os
import sys
from typing import Callable, List, Optional

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from deer_ros.ros_io.node_runtime import EXIT_STUCK, ExecutorThread, SignalFlag

EXIT_BAD_PARAMETERS = 2


def spin_node(factory: Callable[[], Node], args: Optional[List[str]] = None) -> None:
    """Init rclpy, build the node, spin it; stop, destroy and shut down however spinning ends.

    Parameters refused at start (a value outside its declared range, or a config that does not
    validate) end the process with EXIT_BAD_PARAMETERS and the reason on stderr, no traceback.
    A signal during construction is kept: the node stops as soon as it exists.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signals = SignalFlag().install()
    executor = SingleThreadedExecutor()
    node = None
    try:
        try:
            node = factory()
        except (InvalidParameterValueException, ValueError) as exc:
            print(f'[FATAL] {getattr(factory, "__name__", "node")} not started: {exc}',
                  file=sys.stderr)
            raise SystemExit(EXIT_BAD_PARAMETERS) from None
        executor.add_node(node)
        spinner = ExecutorThread(executor, name=node.get_name()).start()
        while not signals.wait(0.1) and spinner.alive:
            pass
        if not spinner.stop():   # a callback stuck for 30 s: do not join a thread inside rcl
            node.get_logger().error(f'executor did not stop within 30 s (exit {EXIT_STUCK})')
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_STUCK)
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        signals.restore()
