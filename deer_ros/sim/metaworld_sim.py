"""A MetaWorld arm driven in the model's 7-D action convention, with two cameras (no rclpy).

    sim = MetaWorldSim(SimConfig(static_size=96))
    obs = sim.reset('drawer-open-v3', seed=0)          # obs.static, obs.gripper: (S, S, 3) uint8
    result = sim.step(sim.expert_action())             # result.success, result.done

One step = one MetaWorld control step (5 physics substeps of 2.5 ms = 12.5 ms of sim time;
xyz +-1 moves the hand target 1 cm). The episode ends at success or after max_steps actions, and
in a language-conditioned task (TaskSpec.goals) also when another marker than the instructed
one is reached first (a failure, info['wrong_target']). The instruction is per episode:
sim.instruction.
"""
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from deer_ros.sim.actions import from_metaworld, to_metaworld
from deer_ros.sim.cameras import CameraRig, use_headless_gl
from deer_ros.sim.goal_scenes import GoalScene
from deer_ros.sim.tasks import TaskSpec, get_task


@dataclass(frozen=True)
class SimConfig:
    """Rendering and episode settings of MetaWorldSim."""

    static_size: int = 96      # static camera image side, pixels (square)
    gripper_size: int = 96     # gripper camera image side, pixels (square)
    max_steps: int = 0         # actions per episode; 0 = the task's own limit (TaskSpec.max_steps)

    def __post_init__(self) -> None:
        if not (8 <= self.static_size <= 1024 and 8 <= self.gripper_size <= 1024):
            raise ValueError('image sizes must be within [8, 1024] pixels')
        if self.max_steps < 0:
            raise ValueError('max_steps must be >= 0')


@dataclass
class Observation:
    """What the robot's sensors give after a reset or a step."""

    static: np.ndarray         # (S, S, 3) uint8 RGB, static scene camera
    gripper: np.ndarray        # (G, G, 3) uint8 RGB, wrist camera
    task: str                  # task name (TaskSpec.env_name)
    instruction: str           # language instruction of this episode
    step: int                  # actions applied so far in this episode
    state: Optional[np.ndarray] = None   # (4,) float32: hand x, y, z (m, world), gripper 0..1


@dataclass
class StepResult:
    """The outcome of one applied action."""

    observation: Observation
    reward: float              # MetaWorld's shaped reward in [0, 10]
    success: bool              # info['success'] of this step
    done: bool                 # success, or the step limit reached
    applied: np.ndarray        # (4,) MetaWorld action actually applied
    clamped: bool = False      # the 7-D input was clipped or had non-finite values
    info: Dict[str, Any] = field(default_factory=dict)


class MetaWorldSim:
    """One MetaWorld task at a time; environments are built on first use and then reused."""

    def __init__(self, config: SimConfig = SimConfig()):
        self.config = config
        self._envs: Dict[str, Any] = {}
        self._rig: Optional[CameraRig] = None
        self._rig_task = ''
        self._spec: Optional[TaskSpec] = None
        self._expert: Any = None
        self._obs_vec: Optional[np.ndarray] = None   # MetaWorld state observation (39,)
        self._scene: Optional[GoalScene] = None      # language-conditioned layout, else None
        self.steps = 0
        self.success = False
        self.done = True

    @property
    def spec(self) -> TaskSpec:
        """The current task (reset() first)."""
        if self._spec is None:
            raise RuntimeError('call reset(task, seed) first')
        return self._spec

    @property
    def instruction(self) -> str:
        """The instruction of the episode (names the target in a language-conditioned task)."""
        return self.spec.instruction_for(self._scene.target if self._scene else 0)

    @property
    def target(self) -> int:
        """The instructed target of the episode (index into spec.goals.colours; 0: no goals)."""
        return self._scene.target if self._scene is not None else 0

    def control_instruction(self, seed: int) -> str:
        """Another target's instruction (the shuffled-instruction control); reset() first.

        The other target is drawn from seed among the k - 1 others. Tasks without a goal choice
        have no other target: their own instruction comes back.
        """
        if self.spec.targets < 2:
            return self.instruction
        others = [t for t in range(self.spec.targets) if t != self.target]
        pick = np.random.default_rng(int(seed) + CONTROL_SEED_OFFSET).integers(len(others))
        return self.spec.instruction_for(others[int(pick)])

    @property
    def max_steps(self) -> int:
        """The step limit of the current episode."""
        return self.config.max_steps or self.spec.max_steps

    @property
    def control_dt_s(self) -> float:
        """Simulated seconds per step (MetaWorld: 5 substeps x 2.5 ms = 12.5 ms)."""
        return float(self._envs[self.spec.env_name].dt)

    def reset(self, task: str, seed: int,
              hand_offset: Optional[np.ndarray] = None) -> Observation:
        """Start an episode of task; object and goal positions follow from seed.

        hand_offset (m, world x y z, each within +-MAX_HAND_OFFSET_M) moves the hand's start
        away from the task's own start for this episode only; demonstrations from varied
        starts keep a policy from reading the goal off the fixed start plus its own motion.
        """
        spec = get_task(task)
        env = self._env(spec)
        home = np.asarray(env.init_config['hand_init_pos'], dtype=np.float64)
        env.hand_init_pos = home + _checked_hand_offset(hand_offset)
        env.seed(int(seed))
        self._scene = None if spec.goals is None else _draw_scene(spec, env, seed)
        if self._scene is not None:      # MetaWorld's reset places object and goal from it
            env._last_rand_vec, env._freeze_rand_vec = self._scene.reset_vector(), True
        try:
            self._obs_vec, _ = env.reset()
        finally:
            env.hand_init_pos = home
            env._freeze_rand_vec = False
        if self._scene is not None:
            self._scene = _placed(spec, env, self._scene)
        self._spec, self.steps, self.success, self.done = spec, 0, False, False
        self._expert = None
        return self.observe()

    def step(self, action: np.ndarray) -> StepResult:
        """Apply one 7-D model action (rotations ignored) and return the new observation."""
        if self.done:
            raise RuntimeError('episode is done; call reset()')
        converted = to_metaworld(action, self.spec.grip_effort)
        env = self._envs[self.spec.env_name]
        self._obs_vec, reward, _, _, info = env.step(converted.metaworld)
        self.steps += 1
        self.success = bool(info.get('success', False))
        wrong = self._wrong_target() if not self.success else None
        if wrong is not None:
            info['wrong_target'] = wrong
        self.done = self.success or wrong is not None or self.steps >= self.max_steps
        return StepResult(self.observe(), float(reward), self.success, self.done,
                          converted.metaworld, converted.clamped, dict(info))

    def observe(self) -> Observation:
        """Render both cameras for the current state."""
        static, gripper = self._camera_rig().render(self._envs[self.spec.env_name].data)
        return Observation(static, gripper, self.spec.env_name, self.instruction, self.steps,
                           self.robot_state())

    def robot_state(self) -> np.ndarray:
        """(4,) float32 proprioception: hand position (m, world frame), gripper opening 0..1.

        MetaWorld's own observation starts with exactly these (obs[0:3] hand, obs[3] the
        normalised finger distance): what a real arm reports as end-effector pose and gripper.
        """
        if self._obs_vec is None:
            raise RuntimeError('call reset(task, seed) first')
        return np.asarray(self._obs_vec[:4], dtype=np.float32).copy()

    def object_and_goal(self) -> np.ndarray:
        """(6,) float32: the task object's and the goal's positions (m, world frame).

        Privileged simulator knowledge (MetaWorld's observation 4:7 and its last 3), for
        training-only targets such as `deer-ros pretrain-vision`; a real robot has no such input.
        """
        if self._obs_vec is None:
            raise RuntimeError('call reset(task, seed) first')
        return np.concatenate([self._obs_vec[4:7], self._obs_vec[-3:]]).astype(np.float32)

    def markers(self) -> np.ndarray:
        """(k, 3) float32: a language-conditioned scene's markers (m, world), colour order.

        Privileged, like object_and_goal(), and empty (0, 3) in a task without goals.
        """
        if self._scene is None:
            return np.zeros((0, 3), np.float32)
        return self._scene.markers.astype(np.float32)

    def expert_action(self, instruction: Optional[str] = None) -> np.ndarray:
        """The scripted expert's action for the current state, in the 7-D model convention.

        In a language-conditioned task the expert heads for the marker that `instruction`
        (default: the episode's) names, wherever the episode's target is: fed another target's
        instruction it does the wrong thing, as a policy that follows language should.
        """
        if self._expert is None:
            import metaworld.policies
            self._expert = getattr(metaworld.policies, self.spec.expert)()
        obs = self._obs_vec
        if self._scene is not None:
            named = self.spec.target_named(self.instruction if instruction is None
                                           else instruction)
            obs = obs.copy()
            obs[-3:] = self._scene.markers[named]
        with warnings.catch_warnings():   # "Constant(s) may be too high": the env clips
            warnings.simplefilter('ignore', UserWarning)
            return from_metaworld(self._expert.get_action(obs))

    def close(self) -> None:
        """Free the renderers and environments."""
        if self._rig is not None:
            self._rig.close()
            self._rig = None
        for env in self._envs.values():
            env.close()
        self._envs.clear()

    def _env(self, spec: TaskSpec) -> Any:
        if spec.env_name not in self._envs:
            self._envs[spec.env_name] = make_env(spec, self.max_steps_for(spec))
        return self._envs[spec.env_name]

    def _wrong_target(self) -> Optional[int]:
        """The first other marker the tracked point is within radius of, if any."""
        if self._scene is None or self.spec.goals is None:
            return None
        from deer_ros.sim.goal_scenes import reached_markers, tracked_point
        env = self._envs[self.spec.env_name]
        point = tracked_point(env, self.spec.goals, self._obs_vec)
        wrong = [m for m in reached_markers(self.spec.goals, point, self._scene.markers)
                 if m != self._scene.target]
        return wrong[0] if wrong else None

    def max_steps_for(self, spec: TaskSpec) -> int:
        """The step limit this sim uses for a task."""
        return self.config.max_steps or spec.max_steps

    def _camera_rig(self) -> CameraRig:
        if self._rig is None or self._rig_task != self.spec.env_name:
            if self._rig is not None:
                self._rig.close()   # one GL context at a time (OSMesa)
            env = self._envs[self.spec.env_name]
            self._rig = CameraRig(env.model, self.config.static_size, self.config.gripper_size)
            self._rig_task = self.spec.env_name
        return self._rig


MAX_HAND_OFFSET_M = 0.15   # beyond this the hand can start inside a task's objects
CONTROL_SEED_OFFSET = 0xC0DE   # control instruction RNG seed = scene seed + this


def _draw_scene(spec: TaskSpec, env: Any, seed: int) -> GoalScene:
    """The seed's marker layout, with the object drawn from the base task's own range."""
    from deer_ros.sim.goal_scenes import draw_goal_scene
    assert spec.goals is not None
    space = env._random_reset_space            # (object xyz, goal xyz) in these tasks
    return draw_goal_scene(spec.goals, seed, space.low[:3], space.high[:3], env.hand_init_pos)


def _placed(spec: TaskSpec, env: Any, scene: GoalScene) -> GoalScene:
    """Markers shown where the layout says, the target exactly at MetaWorld's goal."""
    from deer_ros.sim.goal_scenes import place_markers
    assert spec.goals is not None
    markers = scene.markers.copy()
    markers[scene.target] = env._target_pos    # e.g. push puts its goal at the object's height
    place_markers(env, spec.goals, markers)
    return GoalScene(scene.object_start, markers, scene.target)


def _checked_hand_offset(offset: Optional[np.ndarray]) -> np.ndarray:
    """The offset as a (3,) float64 array, zeros for None; ValueError when out of range."""
    if offset is None:
        return np.zeros(3)
    value = np.asarray(offset, dtype=np.float64)
    if value.shape != (3,) or not np.all(np.isfinite(value)):
        raise ValueError(f'hand_offset must be 3 finite numbers (m), got {offset!r}')
    if np.any(np.abs(value) > MAX_HAND_OFFSET_M):
        raise ValueError(f'hand_offset {value.tolist()} exceeds +-{MAX_HAND_OFFSET_M} m')
    return value


def make_env(spec: TaskSpec, max_steps: int) -> Any:
    """A MetaWorld v3 env with goals observable and positions drawn from env.seed().

    A language-conditioned task gets its base task's env with the markers added (goal_scenes).
    """
    use_headless_gl()
    if spec.goals is not None:
        from deer_ros.sim.goal_scenes import goal_scene_env
        env = goal_scene_env(spec)
    else:
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS
        env = ALL_V3_ENVIRONMENTS[spec.env_name]()
    env._partially_observable = False      # goal position in the state (the experts need it)
    try:
        del env.sawyer_observation_space   # cached_property: recompute with the goal
    except AttributeError:
        pass
    env._freeze_rand_vec = False           # new object/goal positions at each reset ...
    env.seeded_rand_vec = True             # ... drawn from env.np_random (env.seed)
    env._set_task_called = True
    env.max_path_length = max(env.max_path_length, max_steps + 1)
    return env
