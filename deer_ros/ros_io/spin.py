"""`main()` of a plain (unmanaged) node: spin until Ctrl-C or external shutdown, clean up."""
import sys
from typing import Callable, List, Optional

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

EXIT_BAD_PARAMETERS = 2


def spin_node(factory: Callable[[], Node], args: Optional[List[str]] = None) -> None:
    """Init rclpy, build the node, spin it; destroy it and shut down however spinning ends.

    Parameters refused at start (a value outside its declared range, or a config that does not
    validate) end the process with EXIT_BAD_PARAMETERS and the reason on stderr, no traceback.
    """
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = factory()
        except (InvalidParameterValueException, ValueError) as exc:
            print(f'[FATAL] {getattr(factory, "__name__", "node")} not started: {exc}',
                  file=sys.stderr)
            raise SystemExit(EXIT_BAD_PARAMETERS) from None
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
