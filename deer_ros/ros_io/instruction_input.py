"""The `instruction` subscriptions: plain publishers without a QoS warning, latched ones kept.

DDS matches a transient-local subscription only with transient-local publishers: a plain
(volatile) publisher, the default of `ros2 topic pub` and most tools, is *incompatible* with it,
and rclpy then logs "incompatible QoS ... DURABILITY" on both sides (the node's and the
publisher's), although the message arrives through a volatile subscription. A volatile
subscription matches both kinds but never receives what a latched publisher sent before it
existed: the task a late-joining node needs.

So the volatile subscription always exists, and a transient-local one only while a latched
(transient-local) publisher is on the graph: checked every CHECK_PERIOD_S on the steady clock, it
is created when one appears (and then receives that publisher's last message) and dropped when
the last one goes. A message that reaches both subscriptions is counted once (instruction.
SeenMessages). Only a latched and a plain publisher present at the same time still give the plain
one's process the DURABILITY warning; its messages arrive all the same.
"""
from typing import Any, Callable, Optional

from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

INSTRUCTION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
INSTRUCTION_VOLATILE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                      durability=DurabilityPolicy.VOLATILE)
CHECK_PERIOD_S = 0.5


class InstructionInput:
    """Subscriptions of one node to `instruction`; callback(msg, message_info) for each copy."""

    def __init__(self, node: Any, callback: Callable[[String, Any], None], group: Any,
                 topic: str = 'instruction'):
        self._node = node
        self._callback = callback
        self._group = group
        self.volatile = node.create_subscription(String, topic, callback,
                                                 INSTRUCTION_VOLATILE_QOS, callback_group=group)
        self.latched: Optional[Any] = None
        self.topic = self.volatile.topic_name                 # resolved (namespace, remaps)
        self.update()
        self._timer = node.create_timer(CHECK_PERIOD_S, self.update, callback_group=group,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))

    def update(self) -> None:
        """A transient-local subscription exactly while a latched publisher exists."""
        latched = any(info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                      for info in self._node.get_publishers_info_by_topic(self.topic))
        if latched and self.latched is None:
            self.latched = self._node.create_subscription(
                String, self.topic, self._callback, INSTRUCTION_QOS,
                callback_group=self._group, event_callbacks=SubscriptionEventCallbacks(
                    incompatible_qos=self._plain_publisher_too))
        elif not latched and self.latched is not None:
            self._node.destroy_subscription(self.latched)
            self.latched = None

    def _plain_publisher_too(self, _event: Any) -> None:
        """A plain publisher beside a latched one: the volatile subscription receives it."""
        self._node.get_logger().debug(f'plain publisher on {self.topic} beside a latched one: '
                                      'received through the volatile subscription')
