"""Language-conditioned scenes: a MetaWorld scene plus k coloured goal markers (numpy + MuJoCo).

The scene is the base task's own MJCF, edited at load time with MuJoCo's MjSpec (MetaWorld's
files stay untouched): its goal site is hidden (it would show the target) and one sphere site
per colour is added. Sites are drawn but never collide, so the physics is the base task's.

Each episode draws the object's start and every marker from its scene seed (draw_goal_scene);
MetaWorld's reset then puts the object there and its goal on the instructed marker, so the base
task's own success test (object or hand within radius of its goal) decides success.
"""
from dataclasses import dataclass
from typing import Any, List

import numpy as np

from deer_ros.sim.tasks import GoalChoice, TaskSpec

COLOURS_RGBA = {'blue': (0.1, 0.3, 1.0, 1.0), 'green': (0.1, 0.8, 0.1, 1.0),
                'yellow': (1.0, 0.85, 0.0, 1.0)}   # none red: the arm and the puck are red
MARKER_RADIUS_M = 0.04         # shows at 64 px: ~5 px across, 17-29 px of its colour
OBJECT_CLEARANCE_M = 0.15      # xy, object to goal: MetaWorld's own resets redraw below this
SCENE_SEED_OFFSET = 0x600D     # marker RNG seed = scene seed + this
MAX_DRAWS = 10000


def marker_site(colour: str) -> str:
    """The site name of a colour's marker."""
    return f'goal_{colour}'


@dataclass(frozen=True)
class GoalScene:
    """One episode's layout: where the object starts, where the markers are, which counts."""

    object_start: np.ndarray   # (3,) m, world frame: the object's drawn start
    markers: np.ndarray        # (k, 3) m, world frame, in the order of GoalChoice.colours
    target: int                # index of the instructed marker

    def reset_vector(self) -> np.ndarray:
        """MetaWorld's random reset vector (object xyz, goal xyz) for this layout."""
        return np.concatenate([self.object_start, self.markers[self.target]])


def draw_goal_scene(choice: GoalChoice, seed: int, object_low: np.ndarray,
                    object_high: np.ndarray, hand_start: np.ndarray) -> GoalScene:
    """The layout of scene seed: uniform draws until one is clear (see GoalChoice)."""
    rng = np.random.default_rng(int(seed) + SCENE_SEED_OFFSET)
    k = len(choice.colours)
    for _ in range(MAX_DRAWS):
        start = rng.uniform(object_low, object_high)
        markers = rng.uniform(choice.low, choice.high, size=(k, 3))
        tracked_start = start if choice.tracked == 'object' else np.asarray(hand_start)
        if _clear(choice, start, tracked_start, markers):
            return GoalScene(start, markers, int(rng.integers(k)))
    raise RuntimeError(f'no clear layout of {k} markers in {MAX_DRAWS} draws (seed {seed})')


def _clear(choice: GoalChoice, start: np.ndarray, tracked_start: np.ndarray,
           markers: np.ndarray) -> bool:
    """Every marker apart, clear of the object, and clear of the path to every other marker."""
    if np.any(np.linalg.norm(markers[:, :2] - start[:2], axis=1) < OBJECT_CLEARANCE_M):
        return False
    for i, a in enumerate(markers):
        for j, b in enumerate(markers):
            if i == j:
                continue
            if np.linalg.norm(a - b) < choice.min_separation_m:
                return False
            if _segment_distance(b, tracked_start, a) < choice.radius_m + choice.path_clearance_m:
                return False
    return True


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point to the segment a-b."""
    ab = b - a
    t = np.clip(np.dot(point - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(point - (a + t * ab)))


def reached_markers(choice: GoalChoice, point: np.ndarray, markers: np.ndarray) -> List[int]:
    """Indices of the markers whose success radius holds point."""
    distances = np.linalg.norm(markers - np.asarray(point)[None, :3], axis=1)
    return [int(i) for i in np.flatnonzero(distances <= choice.radius_m)]


def edit_scene(spec: Any, choice: GoalChoice) -> None:
    """Hide the base scene's goal site and add one sphere site per colour (mujoco.MjSpec)."""
    spec.site('goal').rgba = [0.0, 0.0, 0.0, 0.0]
    for colour in choice.colours:
        spec.worldbody.add_site(name=marker_site(colour), pos=list(choice.low),
                                size=[MARKER_RADIUS_M, 0.0, 0.0], rgba=list(COLOURS_RGBA[colour]))


def goal_scene_env(task: TaskSpec) -> Any:
    """A MetaWorld env of task.base_env whose model is the scene edited by edit_scene."""
    import mujoco
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    base = ALL_V3_ENVIRONMENTS[task.metaworld_env]
    choice = task.goals
    assert choice is not None

    def initialize_simulation(env: Any) -> Any:
        spec = mujoco.MjSpec.from_file(env.fullpath)
        edit_scene(spec, choice)
        model = spec.compile()
        return model, mujoco.MjData(model)

    edited = type(f'{base.__name__}GoalChoice', (base,),
                  {'_initialize_simulation': initialize_simulation})
    return edited()


def place_markers(env: Any, choice: GoalChoice, markers: np.ndarray) -> None:
    """Move the marker sites to the episode's layout and update the derived positions."""
    import mujoco
    for colour, position in zip(choice.colours, markers):
        env.model.site(marker_site(colour)).pos = position
    mujoco.mj_forward(env.model, env.data)


def tracked_point(env: Any, choice: GoalChoice, obs: np.ndarray) -> np.ndarray:
    """(3,) the point the base task's success measures: tool centre or object (m, world)."""
    return np.asarray(env.tcp_center if choice.tracked == 'hand' else obs[4:7], dtype=np.float64)
