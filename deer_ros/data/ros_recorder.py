"""ros_recorder: write the deer_ros recording format from live ROS 2 topics (e.g. teleoperation).

Subscribes camera/static/image_raw, camera/gripper/image_raw (sensor-data QoS), instruction
(std_msgs/String, latched) and action (deer_ros/ActionCommand), and, if present, episode_status
(deer_ros/EpisodeStatus, from sim_node), and with use_robot_state the robot state
(sensor_msgs/JointState on robot_state, deer_ros.ros_io.robot_state). Every non-hold action
becomes one step, paired with the frames (and state) it was computed from
(deer_ros.data.episode_buffer). An episode ends, and is written, when episode_status reports
done, when the instruction changes, or on ~/end_episode (std_srvs/Trigger, success = true);
~/discard_episode drops it. Run: `python -m deer_ros.data.ros_recorder --ros-args
-p output:=data/teleop`.
"""
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from deer_ros.data.episode_buffer import EpisodeBuffer
from deer_ros.data.recording import write_episode
from deer_ros.msg import ActionCommand, EpisodeStatus
from deer_ros.ros_io.action_mapping import (command_to_action, scaling_of, scaling_setting,
                                            unscaling_problems)
from deer_ros.ros_io.param_schema import param_specs, refuse_problems, setting
from deer_ros.ros_io.params import CheckedParameters, declare_specs, refuse_unknown_overrides
from deer_ros.ros_io.settings import ActionSettings
from deer_ros.ros_io.spin import spin_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class RecorderConfig:
    """ros_recorder's parameters, all read-only after start.

    One definition: the declared parameters (with their ranges), the checks below and the table
    in docs/simulation.md come from these fields.
    """

    output: str = setting('data/recorded', 'Dataset directory (created; episodes are appended)')
    task: str = setting('teleop', 'Task name stored with each episode (sim_node status '
                                  'overrides it)')
    use_gripper_camera: bool = setting(True, 'Record camera/gripper/image_raw too')
    use_robot_state: bool = setting(False, 'Record robot_state (sensor_msgs/JointState) too')
    fps: float = setting(10.0, 'Control rate written to the dataset index', unit='Hz', min=0.1,
                         max=1000.0)
    max_frame_age_s: float = setting(0.5, 'Skip an action whose newest frame is older than this',
                                     unit='s', min=0.0, max=60.0)
    save_failed: bool = setting(False, 'Also write episodes that ended without success')
    translation_scale_m: float = scaling_setting('translation_scale_m')   # as the publisher's
    rotation_scale_rad: float = scaling_setting('rotation_scale_rad')
    gripper_open_positive: bool = scaling_setting('gripper_open_positive')

    def __post_init__(self) -> None:
        refuse_problems(self, 'ros_recorder',
                        (['output: must not be empty'] if not self.output.strip() else [])
                        + unscaling_problems(self))

    @property
    def scaling(self) -> ActionSettings:
        """The action scaling as deer_node's settings group (what command_to_action undoes)."""
        return scaling_of(self)


PARAM_SPECS = param_specs(RecorderConfig)


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class RosRecorder(CheckedParameters, Node):
    """Records episodes from the topics of a live graph."""

    def __init__(self, **kwargs):
        super().__init__('ros_recorder', **kwargs)
        try:
            cfg = self.config = RecorderConfig(**declare_specs(self, PARAM_SPECS))
            refuse_unknown_overrides(self, 'ros_recorder')
        except Exception:
            super().destroy_node()   # nothing else exists yet; the reason goes to the caller
            raise
        self.scaling = cfg.scaling
        from deer_ros.ros_io.image_codec import ImageDecoder
        self.decoder = ImageDecoder(use_cv_bridge=False)
        self.buffer = EpisodeBuffer(cfg.use_gripper_camera, int(cfg.max_frame_age_s * 1e9),
                                    use_state=cfg.use_robot_state)
        self.buffer.task = cfg.task
        self.written: List[str] = []
        self.create_subscription(Image, 'camera/static/image_raw',
                                 lambda m: self._on_image('static', m), qos_profile_sensor_data)
        if cfg.use_gripper_camera:
            self.create_subscription(Image, 'camera/gripper/image_raw',
                                     lambda m: self._on_image('gripper', m),
                                     qos_profile_sensor_data)
        if cfg.use_robot_state:
            self.create_subscription(JointState, 'robot_state', self._on_robot_state,
                                     qos_profile_sensor_data)
        self.create_subscription(String, 'instruction', self._on_instruction, LATCHED)
        self.create_subscription(ActionCommand, 'action', self._on_action, RELIABLE_10)
        self.create_subscription(EpisodeStatus, 'episode_status', self._on_status, RELIABLE_10)
        self.create_service(Trigger, '~/end_episode', self._on_end)
        self.create_service(Trigger, '~/discard_episode', self._on_discard)
        self.get_logger().info(f'recording into {cfg.output}')

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            image = self.decoder.decode(msg)
        except ValueError as exc:
            self.get_logger().warning(f'{camera} image rejected: {exc}', throttle_duration_sec=5.0)
            return
        self.buffer.add_frame(camera, _ns(msg.header.stamp), image)

    def _on_robot_state(self, msg: JointState) -> None:
        from deer_ros.ros_io.robot_state import state_values
        values, why = state_values(msg.name, msg.position)
        if values is None:
            self.get_logger().warning(f'robot state rejected: {why}', throttle_duration_sec=5.0)
            return
        self.buffer.add_state(_ns(msg.header.stamp), values)

    def _on_instruction(self, msg: String) -> None:
        if msg.data != self.buffer.instruction and len(self.buffer):
            self.end_episode(success=False, why='instruction changed')
        self.buffer.instruction = msg.data

    def _on_action(self, msg: ActionCommand) -> None:
        if msg.hold:
            return
        t, r = msg.translation, msg.rotation
        action = command_to_action([t.x, t.y, t.z], [r.x, r.y, r.z], msg.gripper, self.scaling)
        stamp = _ns(msg.header.stamp) or self.get_clock().now().nanoseconds
        self.buffer.add_action(stamp, np.clip(action, -1.0, 1.0))   # the format's range

    def _on_status(self, msg: EpisodeStatus) -> None:
        if msg.task:
            self.buffer.task = msg.task
        if msg.done:
            self.end_episode(bool(msg.success), why='episode_status done',
                             meta={'episode': int(msg.episode), 'steps': int(msg.step)})

    def _on_end(self, request, response):
        path = self.end_episode(success=True, why='~/end_episode')
        response.success, response.message = path is not None, str(path or 'nothing recorded')
        return response

    def _on_discard(self, request, response):
        episode = self.buffer.finish(False)
        response.success = True
        response.message = f'discarded {len(episode) if episode else 0} steps'
        return response

    def end_episode(self, success: bool, why: str, meta: Optional[dict] = None) -> Optional[str]:
        """Close the current episode; write it if it has steps (and succeeded, or save_failed)."""
        skipped = dict(self.buffer.stats.skipped)
        episode = self.buffer.finish(success, dict(meta or {}, ended_by=why,
                                                   wall_time=time.time()))
        if episode is None:
            return None
        if not success and not self.config.save_failed:
            self.get_logger().info(f'episode of {len(episode)} steps not saved ({why}, failed)')
            return None
        path = write_episode(self.config.output, episode, fps=self.config.fps,
                             source='ros_recorder')
        self.written.append(str(path))
        self.get_logger().info(f'wrote {path.name}: {len(episode)} steps, success={success} '
                               f'({why}); skipped actions: {skipped or "none"}')
        return str(path)


def main(args: Optional[List[str]] = None) -> None:
    """Run the recorder until Ctrl-C (the episode in progress is not written)."""
    spin_node(RosRecorder, args)


if __name__ == '__main__':
    main()
