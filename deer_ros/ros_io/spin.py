"""`main()` of a plain (unmanaged) node: spin until Ctrl-C or external shutdown, clean up."""
from typing import Callable, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_node(factory: Callable[[], Node], args: Optional[List[str]] = None) -> None:
    """Init rclpy, build the node, spin it; destroy it and shut down however spinning ends."""
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
