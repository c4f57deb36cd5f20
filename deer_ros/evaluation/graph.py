"""Run sim_node and deer_node as subprocesses and observe the closed loop over ROS 2 topics.

`ClosedLoopGraph(cfg, work_dir).run(progress)` starts both nodes (params files under work_dir,
logs in work_dir/logs), waits until the planned episodes are done (sim_node's episode_status),
calls deer_node's ~/reset at every episode end (so consecutive episodes of the same instruction
do not share history), stops both nodes with SIGINT and returns one GraphEpisode per episode with
its telemetry. Nothing here decides anything: it only watches.

What counts is what the robot applied: sim_node's episode_status carries the stamp of the action
it applied at each step, and an episode's telemetry is deer_node's telemetry joined to those
stamps. Answers the sim dropped (to a state republished under a fresh stamp while deer_node was
still computing) are not actions and are left out, with their compute.
"""
import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from deer_ros.evaluation.graph_params import (DEER_NODE, SIM_NODE, GraphConfig, deer_parameters,
                                              graph_environment, node_commands, params_yaml,
                                              sim_parameters)

STARTUP_TIMEOUT_S = 180.0
STEP_TIMEOUT_S = 20.0          # no progress for this long: the loop is stuck


@dataclass
class GraphEpisode:
    """One episode seen on the topics."""

    index: int
    task: str = ''
    instruction: str = ''
    done: bool = False
    success: bool = False
    steps: int = 0
    telemetry: List[Any] = field(default_factory=list)   # InferenceTelemetry of applied actions
    frames: List[np.ndarray] = field(default_factory=list)
    applied: Dict[int, int] = field(default_factory=dict)   # step -> applied action stamp, ns
    answers: int = 0                # telemetry messages seen (applied or dropped by the sim)


def stamp_ns(stamp: Any) -> int:
    """builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class GraphError(RuntimeError):
    """The graph did not start or got stuck; the message says where to look."""


def _stamp_key(stamp: Any) -> int:
    return int(round(stamp_ns(stamp) / 1e6))   # ms


class TelemetryByStamp:
    """deer_node's telemetry keyed by its stamp (= the ActionCommand's), joined to applied ones."""

    TOLERANCE_NS = 1_000   # absorbs a float round trip of a stamp (deer_node up to #12)

    def __init__(self) -> None:
        self._by_ns: Dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self._by_ns)

    def add(self, msg: Any) -> None:
        """Keep one telemetry message under its header stamp."""
        self._by_ns[stamp_ns(msg.header.stamp)] = msg

    def find(self, ns: int) -> Optional[Any]:
        """The telemetry of the action stamped ns (exact, else within TOLERANCE_NS)."""
        msg = self._by_ns.get(ns)
        if msg is None:
            near = [k for k in self._by_ns if abs(k - ns) <= self.TOLERANCE_NS]
            msg = self._by_ns[near[0]] if near else None
        return msg

    def join(self, ep: GraphEpisode) -> int:
        """Set ep.telemetry to the applied actions' telemetry, in step order.

        Returns how many applied actions have no telemetry yet.
        """
        found = [self.find(ns) for _, ns in sorted(ep.applied.items())]
        ep.telemetry = [m for m in found if m is not None]
        return len(found) - len(ep.telemetry)


class Observer:
    """rclpy node collecting episode_status, telemetry and (for one episode) camera frames."""

    def __init__(self, context: Any, capture_episode: int = 0, max_frames: int = 400) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_srvs.srv import Trigger

        from deer_ros.msg import EpisodeStatus, InferenceTelemetry
        reliable_10 = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.node = Node('closed_loop_observer', context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.episodes: Dict[int, GraphEpisode] = {}
        self.current: Optional[int] = None
        self.capture_episode, self.max_frames = capture_episode, max_frames
        self.last_progress = time.monotonic()
        self._stamps: Dict[int, int] = {}
        self.telemetry = TelemetryByStamp()
        self.node.create_subscription(EpisodeStatus, 'episode_status', self._on_status,
                                      reliable_10)
        self.node.create_subscription(InferenceTelemetry, 'telemetry', self._on_telemetry,
                                      reliable_10)
        self.node.create_subscription(Image, 'camera/static/image_raw', self._on_image,
                                      qos_profile_sensor_data)
        self.reset_client = self.node.create_client(Trigger, f'/{DEER_NODE}/reset')
        self._trigger = Trigger.Request

    @property
    def done_count(self) -> int:
        """Episodes finished so far."""
        return sum(e.done for e in self.episodes.values())

    def telemetry_count(self) -> int:
        """Telemetry messages received so far (applied or not)."""
        return len(self.telemetry)

    def settle(self, ep: GraphEpisode, timeout_s: float = 5.0) -> None:
        """Join ep's telemetry, spinning until every applied action's has arrived (or timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.telemetry.join(ep) and time.monotonic() < deadline:
            self.spin_once()

    def spin_once(self, timeout_s: float = 0.05) -> None:
        """Process pending callbacks."""
        self.executor.spin_once(timeout_sec=timeout_s)

    def _episode(self, index: int) -> GraphEpisode:
        return self.episodes.setdefault(index, GraphEpisode(index))

    def _on_status(self, msg: Any) -> None:
        ep = self._episode(int(msg.episode))
        ep.task, ep.instruction, ep.steps = msg.task, msg.instruction, int(msg.step)
        if msg.step > 0 and stamp_ns(msg.action_stamp):
            ep.applied[int(msg.step)] = stamp_ns(msg.action_stamp)
        self._stamps[_stamp_key(msg.header.stamp)] = ep.index
        self.last_progress = time.monotonic()
        if msg.done and not ep.done:
            ep.done, ep.success = True, bool(msg.success)
            if self.reset_client.service_is_ready():
                self.reset_client.call_async(self._trigger())
        elif not msg.done:
            self.current = ep.index

    def _on_telemetry(self, msg: Any) -> None:
        self.telemetry.add(msg)
        index = self._stamps.get(_stamp_key(msg.header.stamp), self.current)
        if index is not None:
            self._episode(index).answers += 1

    def _on_image(self, msg: Any) -> None:
        index = self._stamps.get(_stamp_key(msg.header.stamp), self.current)
        if index != self.capture_episode or msg.encoding != 'rgb8':
            return
        frames = self._episode(index).frames
        if len(frames) < self.max_frames:
            pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(
                msg.height, msg.step)[:, :msg.width * 3].reshape(msg.height, msg.width, 3)
            if not frames or not np.array_equal(frames[-1], pixels):   # skip idle repeats
                frames.append(pixels.copy())

    def close(self) -> None:
        """Destroy the node and the executor."""
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()


class ClosedLoopGraph:
    """sim_node + deer_node subprocesses and an Observer on a private ROS domain."""

    def __init__(self, cfg: GraphConfig, work_dir: pathlib.Path, capture_episode: int = 0,
                 log: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.work_dir = pathlib.Path(work_dir)
        self.capture_episode = capture_episode
        self.log = log
        self.procs: Dict[str, subprocess.Popen] = {}
        self.exit_codes: Dict[str, Optional[int]] = {}
        self.log_paths: Dict[str, pathlib.Path] = {}

    def _start_nodes(self, env: Dict[str, str]) -> None:
        params_dir = self.work_dir / 'params'
        logs = self.work_dir / 'logs'
        params_dir.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, flat in ((SIM_NODE, sim_parameters(self.cfg)),
                           (DEER_NODE, deer_parameters(self.cfg))):
            files[name] = str(params_dir / f'{name}.yaml')
            pathlib.Path(files[name]).write_text(params_yaml(name, flat))
        for name, command in node_commands(files, sys.executable).items():
            self.log_paths[name] = logs / f'{name}.log'
            stream = open(self.log_paths[name], 'w')
            self.procs[name] = subprocess.Popen(command, env=env, stdout=stream,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True)
            stream.close()

    def log_tail(self, name: str, lines: int = 25) -> str:
        """The last lines of a node's log."""
        path = self.log_paths.get(name)
        if path is None or not path.exists():
            return ''
        return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise GraphError(f'{name} exited with code {proc.returncode}; log '
                                 f'{self.log_paths[name]}:\n{self.log_tail(name)}')

    def run(self, on_episode: Optional[Callable[[GraphEpisode], None]] = None
            ) -> List[GraphEpisode]:
        """Start, run the planned episodes, stop; the episodes in order."""
        import rclpy
        from rclpy.context import Context
        env = graph_environment(os.environ, self.cfg.torch_threads)
        context = Context()
        rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
        observer = None
        try:
            observer = Observer(context, self.capture_episode)
            self._start_nodes(env)
            self._wait_started(observer)
            reported = set()
            while observer.done_count < self.cfg.planned_episodes:
                observer.spin_once()
                self._check_alive()
                for ep in sorted(observer.episodes.values(), key=lambda e: e.index):
                    if ep.done and ep.index not in reported:
                        reported.add(ep.index)
                        observer.settle(ep)
                        if on_episode is not None:
                            on_episode(ep)
                if time.monotonic() - observer.last_progress > STEP_TIMEOUT_S:
                    raise GraphError(f'no episode progress for {STEP_TIMEOUT_S:.0f} s; logs:\n'
                                     f'{self.log_tail(DEER_NODE)}\n{self.log_tail(SIM_NODE)}')
            done = [e for e in sorted(observer.episodes.values(), key=lambda e: e.index)
                    if e.done][:self.cfg.planned_episodes]
            for ep in done:
                observer.telemetry.join(ep)
            return done
        finally:
            self.stop()
            if observer is not None:
                observer.close()
            context.try_shutdown()

    def _wait_started(self, observer: Observer) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while observer.telemetry_count() == 0:
            if time.monotonic() > deadline:
                raise GraphError(f'no telemetry within {STARTUP_TIMEOUT_S:.0f} s; logs:\n'
                                 f'{self.log_tail(DEER_NODE)}\n{self.log_tail(SIM_NODE)}')
            self._check_alive()
            observer.spin_once(0.1)
        observer.last_progress = time.monotonic()

    def stop(self, timeout_s: float = 30.0) -> Dict[str, Optional[int]]:
        """SIGINT both nodes (deer_node first: its final hold), wait, kill what remains."""
        for name in (DEER_NODE, SIM_NODE):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, proc in self.procs.items():
            try:
                self.exit_codes[name] = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.log(f'{name} did not exit within {timeout_s:.0f} s of SIGINT: killed')
                proc.kill()
                self.exit_codes[name] = proc.wait()
        return self.exit_codes
