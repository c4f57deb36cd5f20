"""The generated deer_ros messages cross a real Fast DDS graph between two nodes intact."""
import pytest
from geometry_msgs.msg import Vector3

from deer_ros.msg import ActionCommand, EpisodeStatus, InferenceTelemetry

pytestmark = pytest.mark.ros


def _roundtrip(graph, msg_type, msg):
    talker = graph.node('talker')
    graph.node('listener')
    received = graph.collect(msg_type, 'roundtrip', node=graph.nodes[-1])
    pub = talker.create_publisher(msg_type, 'roundtrip', 10)
    graph.wait_for_subscribers(pub)
    pub.publish(msg)
    graph.spin_until(lambda: received, what=f'{msg_type.__name__} on /roundtrip')
    return received[0]


def test_action_command_roundtrip(ros_graph):
    sent = ActionCommand()
    sent.header.frame_id = 'tool0'
    sent.header.stamp.sec = 12
    sent.translation = Vector3(x=0.01, y=-0.02, z=0.005)
    sent.rotation = Vector3(x=0.0, y=0.1, z=-0.1)
    sent.gripper = -1.0
    sent.exit_index = 3
    sent.layers_executed = 8
    sent.layers_skipped = 2
    sent.latency_ms = 41.5  # float32-exact values: equality is exact
    sent.clamped = True
    got = _roundtrip(ros_graph, ActionCommand, sent)
    assert got == sent


def test_inference_telemetry_roundtrip(ros_graph):
    sent = InferenceTelemetry(policy='deer+skip', stop_reason='threshold', exit_index=2,
                              num_exits=6, layers_executed=6, layers_skipped=0, total_layers=12,
                              gflops=7.75, avg_gflops=8.125, budget_avg_gflops=8.0,  # exact
                              deadline_ms=100.0, deadline_missed=False, max_resident_exit=5,
                              dropped_frames=7)
    got = _roundtrip(ros_graph, InferenceTelemetry, sent)
    assert got == sent


def test_episode_status_roundtrip(ros_graph):
    sent = EpisodeStatus(task='drawer-open-v3', instruction='open the drawer', episode=4,
                         step=17, max_steps=150, success=True, done=True, reward=9.5)
    assert _roundtrip(ros_graph, EpisodeStatus, sent) == sent
