"""sim_node over real rclpy topics: cameras, instruction, action-driven stepping, episodes."""
import pytest
from builtin_interfaces.msg import Time
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from deer_ros.msg import ActionCommand, EpisodeStatus
from deer_ros.sim.sim_node import SimNode

pytestmark = pytest.mark.ros
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _start_sim(graph, **overrides):
    params = {'tasks': ['reach-v3'], 'episodes_per_task': 2, 'max_steps': 3, 'image_size': 32,
              'gripper_image_size': 24, 'idle_publish_rate_hz': 10.0, **overrides}
    node = SimNode(context=graph.context,
                   parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    return graph.add(node)


def _action(stamp, x=1.0, hold=False):
    msg = ActionCommand()
    msg.header.stamp = stamp
    msg.translation.x = 0.02 * x
    msg.gripper = 1.0
    msg.hold = hold
    return msg


def test_sim_node_serves_cameras_steps_on_actions_and_cycles_episodes(ros_graph):
    sim = _start_sim(ros_graph)
    client = ros_graph.node('client')
    static = ros_graph.collect(Image, 'camera/static/image_raw', qos_profile_sensor_data, client)
    gripper = ros_graph.collect(Image, 'camera/gripper/image_raw', qos_profile_sensor_data, client)
    instruction = ros_graph.collect(String, 'instruction', LATCHED, client)
    status = ros_graph.collect(EpisodeStatus, 'episode_status', 10, client)
    pub = client.create_publisher(ActionCommand, 'action', 10)
    ros_graph.spin_until(lambda: static and gripper and instruction, 10, 'frames + instruction')
    assert instruction[-1].data == 'reach the goal position'
    s, g = static[-1], gripper[-1]
    assert (s.height, s.width, s.encoding, s.step, len(s.data)) == (32, 32, 'rgb8', 96, 3072)
    assert (g.height, g.width, g.header.frame_id) == (24, 24, 'gripper_camera')
    assert s.header.frame_id == 'static_camera'

    ros_graph.wait_for_subscribers(pub)
    pub.publish(_action(s.header.stamp, hold=True))          # hold: no step
    ros_graph.spin_for(0.3)
    assert sim.sim.steps == 0

    stamp = static[-1].header.stamp
    pub.publish(_action(stamp))
    ros_graph.spin_until(lambda: sim.sim.steps == 1, 5, 'one step')
    pub.publish(_action(stamp))                              # stale: computed from old frame
    ros_graph.spin_for(0.3)
    assert sim.sim.steps == 1
    first = [m for m in status if m.step == 1 and not m.done]
    assert first and all(m.action_stamp == stamp for m in first), \
        'episode_status echoes the applied action stamp, bit for bit'
    assert all(m.action_stamp == Time() for m in status if m.step == 0), 'zero after reset'

    for _ in range(2):                                       # reach max_steps = 3
        steps = sim.sim.steps
        # The status of this step carries the stamp of its frames. The newest frame may instead
        # be an idle republish of the previous state that arrived late (a loaded machine):
        # answering it is a stale action and the sim rightly does not step.
        ros_graph.spin_until(lambda: any(m.step == steps for m in status), 5, 'step status')
        stamp = next(m for m in status if m.step == steps).header.stamp
        pub.publish(_action(stamp))
        ros_graph.spin_until(lambda: sim.sim.steps != steps, 5, 'a step')
    ros_graph.spin_until(lambda: any(m.done for m in status), 5, 'done status')
    done = next(m for m in status if m.done)
    assert (done.step, done.max_steps, done.success, done.episode) == (3, 3, False, 0)
    ros_graph.spin_until(lambda: status[-1].episode == 1 and status[-1].step == 0, 5,
                         'next episode')
    assert done.action_stamp == stamp and status[-1].action_stamp == Time()

    reset = client.create_client(Trigger, '/sim_node/reset')
    assert reset.wait_for_service(timeout_sec=5.0)
    future = reset.call_async(Trigger.Request())
    ros_graph.spin_until(future.done, 10, 'reset response')
    assert future.result().success
    assert sim.episode_index == 2 and sim.sim.steps == 0


def test_sim_node_executable_exits_cleanly_on_sigint(ros_graph):
    import os
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen(
        [sys.executable, '-m', 'deer_ros.sim.sim_node', '--ros-args', '-p', 'tasks:=[reach-v3]',
         '-p', 'image_size:=32', '-p', 'idle_publish_rate_hz:=10.0'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        frames = ros_graph.collect(Image, 'camera/static/image_raw', qos_profile_sensor_data)
        ros_graph.spin_until(lambda: frames, 30, 'a frame from the sim_node process')
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert 'Traceback' not in out, out


def test_sim_node_exits_0_on_sigint_and_sigterm_while_stepping_4_times(ros_graph):
    """Signals land while sim_node steps and starts episodes (a 1-step episode per action).

    rclpy's own handler shut the context down under a running callback: start_episode's publish
    raised "publisher's context is invalid" and sim_node exited 1 (seen in full-suite runs).
    """
    import os
    import signal
    import subprocess
    import sys
    import time
    failures = []
    for run in range(4):
        namespace = f'/simsig{run}'
        proc = subprocess.Popen(
            [sys.executable, '-m', 'deer_ros.sim.sim_node', '--ros-args',
             '-p', 'tasks:=[reach-v3]', '-p', 'image_size:=32', '-p', 'max_steps:=1',
             '-p', 'idle_publish_rate_hz:=10.0', '-r', f'__ns:={namespace}'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
        try:
            client = ros_graph.node(f'driver{run}', namespace=namespace)
            frames = ros_graph.collect(Image, 'camera/static/image_raw', qos_profile_sensor_data,
                                       client)
            actions = client.create_publisher(ActionCommand, 'action', 10)
            ros_graph.spin_until(lambda: frames, 60, 'a frame from the sim_node process')
            answered, deadline = 0, time.monotonic() + 3.0 + 0.1 * run
            while time.monotonic() < deadline:   # answer every new frame at once: always busy
                if len(frames) > answered:
                    answered = len(frames)
                    actions.publish(_action(frames[-1].header.stamp))
                ros_graph.spin_for(0.002)
            proc.send_signal(signal.SIGINT if run % 2 == 0 else signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                out = proc.stdout.read()
        if proc.returncode != 0 or 'Traceback' in out:
            failures.append(f'run {run}: exit {proc.returncode}\n{out[-1500:]}')
    assert not failures, '\n'.join(failures)


def test_sim_node_executable_exits_0_after_its_schedule_with_stop_after_schedule(ros_graph):
    """sim_demo.launch.py ends when sim_node does: after tasks x episodes_per_task episodes."""
    import os
    import subprocess
    import sys
    import time
    proc = subprocess.Popen(
        [sys.executable, '-m', 'deer_ros.sim.sim_node', '--ros-args', '-p', 'tasks:=[reach-v3]',
         '-p', 'episodes_per_task:=2', '-p', 'max_steps:=1', '-p', 'image_size:=32',
         '-p', 'require_matching_stamp:=false', '-p', 'stop_after_schedule:=true'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        client = ros_graph.node('client')
        status = ros_graph.collect(EpisodeStatus, 'episode_status', 10, client)
        pub = client.create_publisher(ActionCommand, 'action', 10)
        ros_graph.wait_for_subscribers(pub, timeout_s=30)
        done = lambda: [s.episode for s in status if s.done]   # noqa: E731
        deadline = time.monotonic() + 120.0
        while len(done()) < 2 and proc.poll() is None and time.monotonic() < deadline:
            pub.publish(_action(Time()))
            ros_graph.spin_for(0.2)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert done() == [0, 1], out
    assert 'all 2 scheduled episodes done' in out and 'Traceback' not in out, out


def test_sim_node_publishes_each_language_episode_its_own_instruction(ros_graph):
    sim = _start_sim(ros_graph, tasks=['push-color-v3'], seed=3)   # seeds 3, 4: targets 1, 0
    client = ros_graph.node('client')
    instruction = ros_graph.collect(String, 'instruction', LATCHED, client)
    status = ros_graph.collect(EpisodeStatus, 'episode_status', 10, client)
    ros_graph.spin_until(lambda: instruction and sim.pub_status.get_subscription_count(), 10,
                         'first instruction, status subscription matched')
    assert instruction[-1].data == 'push the puck to the green goal'
    reset = client.create_client(Trigger, '/sim_node/reset')
    assert reset.wait_for_service(timeout_sec=5.0)
    future = reset.call_async(Trigger.Request())
    ros_graph.spin_until(future.done, 10, 'reset response')
    ros_graph.spin_until(lambda: instruction[-1].data != 'push the puck to the green goal', 10,
                         'second instruction')
    assert instruction[-1].data == 'push the puck to the blue goal'
    ros_graph.spin_until(lambda: status[-1].episode == 1, 10, 'second episode status')
    assert status[-1].instruction == instruction[-1].data
