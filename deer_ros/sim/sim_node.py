"""sim_node: MetaWorld served as a ROS 2 robot driver (two cameras, an arm, episode reports).

Publishes (after every reset and every applied action, both images under one stamp):
    camera/static/image_raw   sensor_msgs/Image rgb8   sensor-data QoS
    camera/gripper/image_raw  sensor_msgs/Image rgb8   sensor-data QoS
    robot_state               sensor_msgs/JointState   sensor-data QoS, same stamp as the frames:
                              ee_x, ee_y, ee_z (m, world frame), gripper_opening (0..1)
    instruction               std_msgs/String          RELIABLE, TRANSIENT_LOCAL, depth 1
    episode_status            deer_ros/EpisodeStatus   RELIABLE, depth 10
Subscribes:
    action                    deer_ros/ActionCommand   RELIABLE, depth 10
Services:
    ~/reset                   std_srvs/Trigger: abort the episode, start the next scheduled one

One accepted action = one simulation step (see deer_ros.sim.session for the stamp gate). Hold
commands (hold=True) never step the sim. Every episode_status after a step carries the applied
ActionCommand's header.stamp in `action_stamp` (zero after a reset), so observers count the
actions the robot applied, not the answers deer_node sent (some are dropped as stale). The
logic lives in MetaWorldSim / session; this node only wires parameters, topics and the service.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from deer_ros.model.api import STATE_CONVENTION
from deer_ros.msg import ActionCommand, EpisodeStatus
from deer_ros.ros_io.action_mapping import (command_to_action, scaling_of, scaling_setting,
                                            unscaling_problems)
from deer_ros.ros_io.params import CheckedParameters, declare_specs, refuse_unknown_overrides
from deer_ros.ros_io.param_schema import param_specs, refuse_problems, setting
from deer_ros.ros_io.settings import ActionSettings
from deer_ros.ros_io.spin import spin_node
from deer_ros.sim.metaworld_sim import MetaWorldSim, Observation, SimConfig
from deer_ros.sim.session import EpisodeSchedule, StampGate
from deer_ros.sim.tasks import DEFAULT_TASKS, get_task

INSTRUCTION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class SimNodeConfig:
    """sim_node's parameters, all read-only after start.

    Names, defaults, ranges and help live here once: the declared parameters (with their
    ranges), the validation below and docs/simulation.md's table come from these fields.
    """

    tasks: Tuple[str, ...] = setting(tuple(DEFAULT_TASKS), 'MetaWorld tasks, run in this order')
    episodes_per_task: int = setting(10, 'Episodes of each task; episode e uses seed seed + e; '
                                         'the schedule starts over when exhausted (unless '
                                         'stop_after_schedule)', min=1, max=1000000)
    stop_after_schedule: bool = setting(
        False, 'Shut the node down (exit 0) when the last scheduled episode ends instead of '
               'starting over; sim_demo.launch.py then ends the launch')
    max_steps: int = setting(0, "Actions per episode; 0 = the task's limit (200)", unit='actions',
                             min=0, max=1000000)
    image_size: int = setting(96, 'Static camera image side', unit='px', min=8, max=2048)
    gripper_image_size: int = setting(0, 'Gripper camera image side; 0 = image_size',
                                      unit='px', min=0, max=2048)
    seed: int = setting(0, 'Scene seed of the first episode of every task', min=0,
                        max=2**31 - 1)
    autostart: bool = setting(True, 'Start the first episode at launch (else wait for ~/reset)')
    idle_publish_rate_hz: float = setting(2.0, 'Republish the current frames while no action '
                                               'arrives (0 = never)', unit='Hz', min=0.0,
                                          max=1000.0)
    require_matching_stamp: bool = setting(
        True, "The stamp gate: apply only actions stamped with the current observation's "
              'stamp; false accepts every action (teleoperation)')
    translation_scale_m: float = scaling_setting('translation_scale_m')
    rotation_scale_rad: float = scaling_setting('rotation_scale_rad')    # rotations are ignored
    gripper_open_positive: bool = scaling_setting('gripper_open_positive')
    static_frame_id: str = setting('static_camera', 'frame_id of the static camera images')
    gripper_frame_id: str = setting('gripper_camera', 'frame_id of the gripper camera images')

    def __post_init__(self) -> None:
        object.__setattr__(self, 'tasks', tuple(self.tasks))
        reasons = [] if self.tasks else ['tasks: at least one task is needed']
        reasons += [f'{name}: must not be empty'
                    for name in ('static_frame_id', 'gripper_frame_id')
                    if not getattr(self, name).strip()]
        refuse_problems(self, 'sim_node', reasons + unscaling_problems(self))

    @property
    def scaling(self) -> ActionSettings:
        """The action scaling as deer_node's settings group (what command_to_action undoes)."""
        return scaling_of(self)


PARAM_SPECS = param_specs(SimNodeConfig)


def declare_config(node: Node) -> SimNodeConfig:
    """Declare every SimNodeConfig field as a read-only parameter with its range; the values.

    An override outside a range is refused by ROS at declaration; every other unusable value
    by SimNodeConfig (ValueError naming the parameters), an unknown name in the node's own
    section by SimNode (param_check's rule): the node does not start.
    """
    return SimNodeConfig(**declare_specs(node, PARAM_SPECS))


def joint_state_msg(values: np.ndarray, stamp, frame_id: str = 'world') -> JointState:
    """The robot state (recording.STATE_CONVENTION order) as a named sensor_msgs/JointState."""
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.name = list(STATE_CONVENTION['dims'])
    msg.position = [float(v) for v in values]
    return msg


def image_msg(pixels: np.ndarray, stamp, frame_id: str) -> Image:
    """An (H, W, 3) uint8 RGB array as an unpadded rgb8 sensor_msgs/Image."""
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    return msg


class SimNode(CheckedParameters, Node):
    """A MetaWorld arm behind the topics a real robot driver would offer."""

    def __init__(self, **kwargs):
        super().__init__('sim_node', **kwargs)
        try:
            self.config = cfg = declare_config(self)
            refuse_unknown_overrides(self, 'sim_node')
        except Exception:
            super().destroy_node()   # nothing else exists yet; the reason goes to the caller
            raise
        tasks = [get_task(t).env_name for t in cfg.tasks]
        self.sim = MetaWorldSim(SimConfig(static_size=cfg.image_size,
                                          gripper_size=cfg.gripper_image_size or cfg.image_size,
                                          max_steps=cfg.max_steps))
        self.schedule = EpisodeSchedule(tasks, cfg.episodes_per_task, cfg.seed)
        self.gate = StampGate(cfg.require_matching_stamp)
        self.episode_index = -1
        self.running = False
        self._last_obs: Optional[Observation] = None
        self._last_reward = 0.0
        self._last_publish_ns = 0
        self._action_stamp = Time()          # stamp of the action applied last (zero: none)
        self.pub_static = self.create_publisher(Image, 'camera/static/image_raw',
                                                qos_profile_sensor_data)
        self.pub_gripper = self.create_publisher(Image, 'camera/gripper/image_raw',
                                                 qos_profile_sensor_data)
        self.pub_robot_state = self.create_publisher(JointState, 'robot_state',
                                                     qos_profile_sensor_data)
        self.pub_instruction = self.create_publisher(String, 'instruction', INSTRUCTION_QOS)
        self.pub_status = self.create_publisher(EpisodeStatus, 'episode_status', RELIABLE_10)
        self.create_subscription(ActionCommand, 'action', self._on_action, RELIABLE_10)
        self.create_service(Trigger, '~/reset', self._on_reset)
        if cfg.idle_publish_rate_hz > 0:
            self.create_timer(1.0 / cfg.idle_publish_rate_hz, self._on_idle_timer)
        self.get_logger().info(f'tasks {tasks}, {cfg.episodes_per_task} episode(s) each, '
                               f'seed {cfg.seed}, images {cfg.image_size}px')
        if cfg.autostart:
            self.start_episode()

    def start_episode(self) -> None:
        """Reset the sim to the next scheduled episode and publish instruction and frames."""
        plan = self.schedule.next()
        self._last_obs = self.sim.reset(plan.task, plan.seed)
        self.episode_index, self.running, self._last_reward = plan.index, True, 0.0
        self._action_stamp = Time()
        self.pub_instruction.publish(String(data=self._last_obs.instruction))
        self.get_logger().info(f'episode {plan.index}: {plan.task} seed {plan.seed} '
                               f'"{self._last_obs.instruction}"')
        self.gate.new_state()
        self._publish_state()

    def _on_action(self, msg: ActionCommand) -> None:
        if not self.running or msg.hold:
            return   # a hold is zero motion: the sim simply does not step
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        accepted, reason = self.gate.accepts(stamp_ns)
        if not accepted:
            self.get_logger().debug(f'action dropped: {reason}')
            return
        cfg = self.config
        t, r = msg.translation, msg.rotation
        action = command_to_action([t.x, t.y, t.z], [r.x, r.y, r.z], msg.gripper,
                                   cfg.scaling)
        result = self.sim.step(action)
        if result.clamped:
            self.get_logger().warning('action clipped to [-1, 1] model units',
                                      throttle_duration_sec=5.0)
        self._last_obs, self._last_reward = result.observation, result.reward
        self._action_stamp = msg.header.stamp
        self.gate.new_state()
        if result.done:
            self.running = False
            self._publish_status()
            self.get_logger().info(f'episode {self.episode_index} done: '
                                   f'{"success" if result.success else "failure"} '
                                   f'after {self.sim.steps} steps')
            if self.config.stop_after_schedule and self.schedule.exhausted:
                self.get_logger().info(f'all {len(self.schedule)} scheduled episodes done '
                                       '(stop_after_schedule): shutting down')
                self.context.try_shutdown()   # spin_node's loop ends; the node is destroyed
                return
            self.start_episode()
        else:
            self._publish_state()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        if self.running:
            self._publish_status(aborted=True)
            self.get_logger().info(f'episode {self.episode_index} aborted by ~/reset')
        self.start_episode()
        response.success = True
        response.message = f'episode {self.episode_index}: {self.sim.spec.env_name}'
        return response

    def _on_idle_timer(self) -> None:
        period_ns = 1e9 / self.config.idle_publish_rate_hz
        idle_ns = self.get_clock().now().nanoseconds - self._last_publish_ns
        if self.running and idle_ns >= period_ns:
            self._publish_frames()   # same state again, no status: nothing happened

    def _publish_state(self) -> None:
        """Frames of the current state, then the episode status under the same stamp."""
        self._publish_status(self._publish_frames())

    def _publish_frames(self):
        """Frames of the current state under a fresh stamp (the gate learns the stamp)."""
        now = self.get_clock().now()
        self.gate.published(now.nanoseconds)
        self._last_publish_ns = now.nanoseconds
        stamp = now.to_msg()
        self.pub_static.publish(image_msg(self._last_obs.static, stamp,
                                          self.config.static_frame_id))
        self.pub_gripper.publish(image_msg(self._last_obs.gripper, stamp,
                                           self.config.gripper_frame_id))
        if self._last_obs.state is not None:
            self.pub_robot_state.publish(joint_state_msg(self._last_obs.state, stamp))
        return stamp

    def _publish_status(self, stamp=None, aborted: bool = False) -> None:
        msg = EpisodeStatus()
        msg.header.stamp = stamp or self.get_clock().now().to_msg()
        msg.task, msg.instruction = self.sim.spec.env_name, self.sim.instruction
        msg.episode, msg.step, msg.max_steps = (max(self.episode_index, 0), self.sim.steps,
                                                self.sim.max_steps)
        msg.action_stamp = self._action_stamp
        msg.success, msg.done, msg.reward = (self.sim.success, self.sim.done or aborted,
                                             float(self._last_reward))
        self.pub_status.publish(msg)

    def destroy_node(self) -> None:
        """Free the simulator with the node."""
        self.sim.close()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> None:
    """Run sim_node until Ctrl-C or an external shutdown."""
    spin_node(SimNode, args)


if __name__ == '__main__':
    main()
