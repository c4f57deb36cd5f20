"""Real-graph test helpers: a private rclpy context per test, deadline-bounded spinning.

No sleep-and-hope: every wait spins an executor until a condition holds or a deadline passes, and
a missed deadline fails the test with what was awaited.
"""
import time
from typing import Any, Callable, List, Optional

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


class RosGraph:
    """Nodes, an executor and wait helpers bound to one private rclpy context."""

    def __init__(self, context: Context):
        self.context = context
        self.executor = SingleThreadedExecutor(context=context)
        self.nodes: List[Node] = []

    def node(self, name: str, **kwargs: Any) -> Node:
        """Create a node in this context and add it to the executor."""
        node = Node(name, context=self.context, **kwargs)
        self.add(node)
        return node

    def add(self, node: Node) -> Node:
        """Spin an externally created node (e.g. a node under test) with this graph."""
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0,
                   what: str = 'condition') -> None:
        """Spin until predicate() is true; raise AssertionError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f'timed out after {timeout_s:.1f}s waiting for {what}')
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, duration_s: float) -> None:
        """Spin for a fixed time (to observe that something does NOT happen)."""
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def collect(self, msg_type: Any, topic: str, qos: Any = 10,
                node: Optional[Node] = None) -> List[Any]:
        """Subscribe to topic; the returned list fills as messages arrive."""
        received: List[Any] = []
        sub_node = node or self.node(f'collector_{len(self.nodes)}')
        sub_node.create_subscription(msg_type, topic, received.append,
                                     qos if isinstance(qos, (int, QoSProfile)) else qos)
        return received

    def call(self, client: Any, request: Any, timeout_s: float = 10.0, what: str = 'a reply',
             resend_s: Optional[float] = None) -> Any:
        """Call a service and spin until it answers; returns the response.

        resend_s: for idempotent queries only, send the request again every resend_s while
        unanswered (a reply can be lost right after discovery: ros2/rmw_cyclonedds#74 and
        ros2/rclcpp#1152 describe the family). Never for requests that change state.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            future = client.call_async(request)
            step = timeout_s if resend_s is None else resend_s
            try:
                self.spin_until(future.done, min(step, max(0.0, deadline - time.monotonic())),
                                what)
                return future.result()
            except AssertionError:
                client.remove_pending_request(future)
                if resend_s is None or time.monotonic() >= deadline:
                    raise

    def wait_for_subscribers(self, publisher: Any, count: int = 1,
                             timeout_s: float = 10.0) -> None:
        """Discovery: spin until the publisher sees `count` matched subscriptions."""
        self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout_s,
                        f'{count} subscriber(s) on {publisher.topic_name}')

    def close(self) -> None:
        """Destroy nodes and the executor."""
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()


def private_context(domain_id: int) -> Context:
    """An initialised rclpy context on its own domain."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    return context
