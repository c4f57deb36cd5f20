"""ros_recorder over real rclpy topics: sim_node frames + published actions -> a recording."""
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from deer_ros.data.recording import iter_episodes, read_info
from deer_ros.data.ros_recorder import RosRecorder
from deer_ros.msg import ActionCommand
from deer_ros.sim.sim_node import SimNode

pytestmark = pytest.mark.ros


def test_recorder_writes_the_episode_driven_over_topics(ros_graph, tmp_path):
    sim = ros_graph.add(SimNode(context=ros_graph.context, parameter_overrides=[
        Parameter('tasks', value=['reach-v3']), Parameter('max_steps', value=3),
        Parameter('image_size', value=32), Parameter('idle_publish_rate_hz', value=10.0)]))
    recorder = ros_graph.add(RosRecorder(context=ros_graph.context, parameter_overrides=[
        Parameter('output', value=str(tmp_path)), Parameter('save_failed', value=True)]))
    client = ros_graph.node('driver')
    frames = ros_graph.collect(Image, 'camera/static/image_raw', qos_profile_sensor_data, client)
    pub = client.create_publisher(ActionCommand, 'action', 10)
    ros_graph.wait_for_subscribers(pub, count=2)
    sent = []
    for i in range(3):
        ros_graph.spin_until(lambda: frames and recorder.buffer._frames['static'], 10, 'frame')
        ros_graph.spin_until(lambda: sim.sim.steps == i and frames[-1].header.stamp not in sent,
                             10, 'frame of the current state')
        msg = ActionCommand()
        msg.header.stamp = frames[-1].header.stamp
        msg.translation.z = -0.01 * (i + 1)
        msg.gripper = -1.0
        pub.publish(msg)
        sent.append(msg.header.stamp)
        ros_graph.spin_until(lambda: sim.sim.steps == i + 1 or sim.episode_index > 0, 10, 'step')
    ros_graph.spin_until(lambda: recorder.written, 10, 'an episode written')
    (episode,) = list(iter_episodes(tmp_path))
    assert episode.task == 'reach-v3' and episode.instruction == 'reach the goal position'
    assert not episode.success and len(episode) == 3
    np.testing.assert_allclose(episode.actions[:, 2], [-0.5, -1.0, -1.0], rtol=1e-5)  # clipped
    assert np.all(episode.actions[:, 6] == -1.0)
    assert episode.static.shape == (3, 32, 32, 3) and episode.gripper.shape == (3, 32, 32, 3)
    assert read_info(tmp_path).source == 'ros_recorder'
