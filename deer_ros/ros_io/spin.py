"""`main()` of a plain (unmanaged) node: spin until Ctrl-C or external shutdown, clean up."""
import sys
from typing import Callable, List, Optional

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

EXIT_BAD_PARAMETERS = 2


def spin_node(factory: Callable[[], Node], args: Optional[List[str]] = None) -> None:
    """Init rclpy, build the node, spin it; destroy it and shut down however spinning ends.

    Parameters refused at start (a value outside its declared range, or a config that does not
    validate) end the process with EXIT_BAD_PARAMETERS and the reason on stderr, no traceback.

    The executor exists before the node: rclpy.spin() would build one lazily after the node is
    already publishing, and a SIGINT landing inside Executor.__init__ left a half-built executor
    whose __del__ printed a traceback at exit.
    """
    rclpy.init(args=args)
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
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
