"""What a robot monitor and an operator read: no spurious warnings, one name per arm.

/diagnostics status names and hardware ids carry the node's fully qualified name (two arms are
two sets of statuses); a released stop does not leave a "control rate not held" WARN behind;
a plain (volatile) instruction publisher gets no "incompatible QoS" warning on either side while
a latched instruction still reaches a node that starts after it was published.
"""
import time

import pytest
from rcl_interfaces.msg import Log
from std_msgs.msg import String
from std_srvs.srv import SetBool

from deer_ros.ros_io.deer_node import DeerNode
from deer_ros.ros_io.instruction_input import INSTRUCTION_QOS
from ros_io_helpers import (CameraPlayer, NodeRunner, diagnostics_of, example_loader, operator,
                            outputs, overrides, stream)

pytestmark = pytest.mark.ros


def test_two_arms_publish_distinct_status_names_and_hardware_ids(ros_graph):
    from diagnostic_msgs.msg import DiagnosticArray
    arrays = ros_graph.collect(DiagnosticArray, '/diagnostics', 50)
    runners = [NodeRunner(DeerNode(context=ros_graph.context, loader=example_loader(),
                                   cli_args=['--ros-args', '-r', f'__ns:=/{arm}'],
                                   parameter_overrides=overrides({'autostart': True})))
               for arm in ('arm1', 'arm2')]
    try:
        def seen():
            return {(s.name, s.hardware_id) for a in arrays for s in a.status}
        expected = {(f'/{arm}/deer_node: {category}', f'/{arm}/deer_node/tiny')
                    for arm in ('arm1', 'arm2') for category in ('model', 'inputs', 'control')}
        ros_graph.spin_until(lambda: expected <= seen(), 10.0, 'statuses of both arms')
        assert seen() == expected
    finally:
        for runner in runners:
            runner.close()


def test_no_control_rate_warning_after_a_stop_is_released(ros_graph, deer):
    deer({'control_rate_hz': 5.0, 'safety.stale_image_s': 10.0})
    out = outputs(ros_graph)
    camera = CameraPlayer(ros_graph)
    operator(ros_graph, 'open the drawer')
    client = ros_graph.node('stop_client').create_client(SetBool, '/deer_node/hold')
    ros_graph.spin_until(client.service_is_ready, 10.0, 'the ~/hold service')
    stream(ros_graph, camera, 10.0, until=lambda: sum(not a.hold for a in out['action']) >= 3)
    stream(ros_graph, camera, 3.0)                        # a full rate window of acting
    assert ros_graph.call(client, SetBool.Request(data=True), 5.0, 'hold engaged').success
    stream(ros_graph, camera, 1.5)     # held 1.5 s: half the 3 s rate window after release
    assert ros_graph.call(client, SetBool.Request(data=False), 5.0, 'hold released').success
    released = len(out['diagnostics'])
    stream(ros_graph, camera, 3.5)                        # the rate window is 3 s
    control = diagnostics_of(out['diagnostics'][released:], 'deer_node: control')
    assert len(control) >= 2
    assert not [s.message for s in control if 'control rate not held' in s.message]
    assert any(not a.hold for a in out['action'][-3:]), 'acting again'


def test_plain_instruction_publisher_gets_no_qos_warning_and_latched_still_reach_late_nodes(
        ros_graph, deer):
    logs = ros_graph.collect(Log, '/rosout', 200)
    operator_node = ros_graph.node('latched_operator')
    latched = operator_node.create_publisher(String, 'instruction', INSTRUCTION_QOS)
    latched.publish(String(data='open the drawer'))       # before the node exists
    node = deer()
    ros_graph.spin_until(lambda: node.instruction == 'open the drawer', 10.0,
                         'the latched instruction, published before the node started')
    operator_node.destroy_publisher(latched)
    deadline = time.monotonic() + 3.0                     # the graph forgets the latched one
    while time.monotonic() < deadline and any(
            i.qos_profile.durability == INSTRUCTION_QOS.durability
            for i in operator_node.get_subscriptions_info_by_topic('/instruction')):
        ros_graph.spin_for(0.1)
    plain = ros_graph.node('plain_operator').create_publisher(String, 'instruction', 1)
    ros_graph.wait_for_subscribers(plain)
    received = node.instructions_received
    deadline = time.monotonic() + 10.0
    while node.instructions_received == received and time.monotonic() < deadline:
        plain.publish(String(data='close the drawer'))   # as `ros2 topic pub` does
        ros_graph.spin_for(0.2)
    assert node.instruction == 'close the drawer'
    ros_graph.spin_for(1.0)                               # let a late warning arrive
    warnings = [f'[{m.name}] {m.msg}' for m in logs if 'incompatible QoS' in m.msg]
    assert warnings == []
