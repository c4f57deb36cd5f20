"""`main()` of a plain (unmanaged) node: spin until SIGINT, SIGTERM or external shutdown.

Why not rclpy.spin() with rclpy's signal handler: that handler shuts the context down at once,
while a callback may still be running; a publish in it then raises "publisher's context is
invalid" and the node exits 1 (sim_node starting the next episode as SIGINT landed). Here the
handler only records the signal (node_runtime.SignalFlag) and the main thread spins in short
slices, checking it between callbacks; the node is destroyed and rclpy shut down only after the
last callback returned. Everything stays on the main thread: sim_node's OpenGL (OSMesa) context
belongs to the thread that renders, and freeing it from another thread crashed the process.
"""
import sys
from typing import Callable, List, Optional

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from deer_ros.ros_io.node_runtime import SPIN_SLICE_S, SignalFlag

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
        while signals.signum is None and executor.context.ok():
            executor.spin_once(timeout_sec=SPIN_SLICE_S)
    except ExternalShutdownException:   # rclpy.shutdown() elsewhere: end as after a signal
        pass
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        signals.release()
