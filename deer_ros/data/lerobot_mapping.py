"""How a LeRobotDataset's features become a deer_ros episode, and back: pure logic, no I/O.

LeRobotDataset (v3) frames carry named features: cameras `observation.images.<name>`,
`observation.state` (float vector with per-dimension names) and `action` (idem), plus a task
string. Our episodes need a static camera, optionally a gripper camera, the robot state in
STATE_CONVENTION order and actions in the model convention (recording.ACTION_CONVENTION:
relative end-effector deltas scaled to [-1, 1], gripper +1 open / -1 close). Which camera is
which and which action dimension is which is the user's to say (LeRobotMapping); this module
checks the choice against the dataset's features and refuses what cannot be converted, such
as joint-space actions, with what is needed instead.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from deer_ros.data.recording import ACTION_CONVENTION
from deer_ros.model.api import STATE_CONVENTION
from deer_ros.ros_io.settings import ActionSettings

CAMERA_PREFIX = 'observation.images.'
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
SUCCESS_KEY = 'next.success'
ACTION_DIMS: Tuple[str, ...] = tuple(ACTION_CONVENTION['dims'])
STATE_DIMS: Tuple[str, ...] = tuple(STATE_CONVENTION['dims'])
ZERO = '-'                    # an action dimension the dataset does not have: always 0
MAX_IMAGE_SIDE = 4096         # the node's limit on a camera image side, pixels
# The end-effector delta names LeRobot's own end-effector robots write (delta_x, ...).
LEROBOT_EE_DIMS = ('delta_x', 'delta_y', 'delta_z', 'delta_roll', 'delta_pitch', 'delta_yaw',
                   'gripper')
_JOINT_WORDS = ('joint', 'motor', 'shoulder', 'elbow', 'wrist', 'waist', 'forearm')


class MappingError(ValueError):
    """The dataset cannot be mapped to deer_ros episodes as asked; the message says why."""


@dataclass(frozen=True)
class LeRobotMapping:
    """Which LeRobot features become our cameras, state and actions (`import-lerobot` flags)."""

    static_camera: Optional[str] = None     # camera key or its short name; None: auto
    gripper_camera: Optional[str] = None    # idem; '' for none; None: auto
    action_key: str = ACTION_KEY            # the feature holding end-effector actions
    action_dims: Optional[Tuple[str, ...]] = None   # 7 source names in ACTION_DIMS order, '-'
    action_units: str = 'model'             # model: already [-1, 1]; si: metres / radians
    action_frame: str = 'delta'             # delta: per-step deltas; absolute: target poses
    pose_state_dims: Optional[Tuple[str, ...]] = None   # absolute: observation.state names of
    #                                         the current x, y, z, roll, pitch, yaw ('-': none)
    scaling: ActionSettings = ActionSettings()      # metres / radians per model unit (si)
    gripper_threshold: float = 0.0          # a gripper value above it means open
    gripper_open_below: bool = False        # true: values below the threshold mean open
    state_dims: Optional[Tuple[str, ...]] = None    # 4 source names in STATE_DIMS order

    def __post_init__(self) -> None:
        if self.action_units not in ('model', 'si'):
            raise MappingError(f"action_units must be 'model' or 'si', got "
                               f'{self.action_units!r}')
        if self.action_dims is not None and len(self.action_dims) != len(ACTION_DIMS):
            raise MappingError(f'action dims: {len(ACTION_DIMS)} names ({",".join(ACTION_DIMS)}; '
                               f"'{ZERO}' for a missing one), got {len(self.action_dims)}")
        if self.state_dims is not None and len(self.state_dims) != len(STATE_DIMS):
            raise MappingError(f'state dims: {len(STATE_DIMS)} names ({",".join(STATE_DIMS)}), '
                               f'got {len(self.state_dims)}')
        if self.action_frame not in ('delta', 'absolute'):
            raise MappingError(f"action_frame must be 'delta' or 'absolute', got "
                               f'{self.action_frame!r}')
        if self.action_frame == 'absolute' and (self.action_units != 'si'
                                                or self.pose_state_dims is None):
            raise MappingError('absolute end-effector actions need --action-units si (target '
                               'poses in metres / radians) and --pose-state-dims (the current '
                               'pose in observation.state, to take the step\'s delta from)')
        if self.pose_state_dims is not None and len(self.pose_state_dims) != 6:
            raise MappingError('pose state dims: 6 names (x, y, z, roll, pitch, yaw of the '
                               f"current pose; '{ZERO}' for a missing one), got "
                               f'{len(self.pose_state_dims)}')
        if self.action_units == 'si' and not (self.scaling.translation_scale_m > 0
                                              and self.scaling.rotation_scale_rad > 0):
            raise MappingError('action_units si: the translation and rotation scales must be > 0')


@dataclass(frozen=True)
class ResolvedMapping:
    """A LeRobotMapping checked against one dataset's features: column keys and indices."""

    static_key: str
    gripper_key: Optional[str]
    action_key: str
    action_index: Tuple[int, ...]       # source index per ACTION_DIMS entry, -1 for zero
    state_index: Optional[Tuple[int, ...]]
    mapping: LeRobotMapping
    pose_index: Optional[Tuple[int, ...]] = None   # absolute: current pose in the state, -1
    notes: Tuple[str, ...] = ()         # what the import leaves out, for the user to read


def feature_names(feature: Dict[str, Any]) -> List[str]:
    """The per-dimension names of a vector feature ([] when it has none)."""
    names = feature.get('names')
    if isinstance(names, dict):          # older datasets: {"motors": [...]}
        names = next(iter(names.values()), None)
    return [str(n) for n in names] if isinstance(names, (list, tuple)) else []


def camera_keys(features: Dict[str, Dict[str, Any]]) -> List[str]:
    """The image and video features, in the dataset's order."""
    return [k for k, f in features.items() if f.get('dtype') in ('image', 'video')]


def looks_joint_space(names: Sequence[str]) -> bool:
    """True when dimension names are those of joints or motors (LeRobot's `<joint>.pos`)."""
    return any(n.endswith('.pos') or any(w in n.lower() for w in _JOINT_WORDS) for n in names)


def resolve(features: Dict[str, Dict[str, Any]], mapping: LeRobotMapping) -> ResolvedMapping:
    """Check `mapping` against a dataset's features; MappingError says what is wrong or needed."""
    static_key, gripper_key = _cameras(features, mapping)
    for key in filter(None, (static_key, gripper_key)):
        shape = tuple(features[key].get('shape', ()))
        if len(shape) != 3 or shape[2] != 3 or max(shape[:2]) > MAX_IMAGE_SIDE:
            raise MappingError(f'{key}: shape {shape}; need (height, width, 3) RGB with sides '
                               f'<= {MAX_IMAGE_SIDE}')
    action_index = _action_index(features, mapping)
    state_index, notes = _state_index(features, mapping)
    pose_index = _pose_index(features, mapping)
    if pose_index is not None:
        unpaired = [ACTION_DIMS[i] for i in range(6)
                    if (action_index[i] < 0) != (pose_index[i] < 0)]
        if unpaired:
            raise MappingError(f'absolute actions: {unpaired} need both a target (--action-dims) '
                               "and a current value (--pose-state-dims), or '-' in both")
    unused = [k for k in camera_keys(features) if k not in (static_key, gripper_key)]
    if unused:
        notes += (f'cameras not imported: {", ".join(unused)}',)
    return ResolvedMapping(static_key, gripper_key, mapping.action_key, action_index,
                           state_index, mapping, pose_index=pose_index, notes=notes)


def _camera(features: Dict[str, Dict[str, Any]], name: str, role: str) -> str:
    cameras = camera_keys(features)
    for key in (name, CAMERA_PREFIX + name):
        if key in cameras:
            return key
    raise MappingError(f'{role} camera {name!r} is not in the dataset; its cameras: '
                       f'{", ".join(cameras) or "none"}')


def _cameras(features: Dict[str, Dict[str, Any]], mapping: LeRobotMapping
             ) -> Tuple[str, Optional[str]]:
    cameras = camera_keys(features)
    if not cameras:
        raise MappingError('the dataset has no camera (image or video feature)')
    static = mapping.static_camera
    gripper = mapping.gripper_camera
    if static is None:       # our own exports name their cameras; one camera is unambiguous
        named = CAMERA_PREFIX + 'static'
        if named in cameras:
            static = named
        elif len(cameras) == 1:
            static = cameras[0]
        else:
            raise MappingError(f'the dataset has {len(cameras)} cameras ({", ".join(cameras)}): '
                               'say which is the static scene camera (--static-camera) and '
                               "which the gripper camera (--gripper-camera, '' for none)")
    if gripper is None:
        gripper = CAMERA_PREFIX + 'gripper' if CAMERA_PREFIX + 'gripper' in cameras else ''
    static_key = _camera(features, static, 'static')
    gripper_key = _camera(features, gripper, 'gripper') if gripper else None
    if gripper_key == static_key:
        raise MappingError(f'{static_key} cannot be both the static and the gripper camera')
    return static_key, gripper_key


def _joint_space_message(key: str, names: Sequence[str]) -> str:
    return (f'{key!r} holds joint-space actions ({", ".join(names)}). deer_ros models act in '
            f'relative end-effector deltas ({", ".join(ACTION_DIMS)}), which joint positions '
            'do not give without the arm\'s kinematics. Needed: end-effector deltas in the '
            'dataset (record with an end-effector action space, or convert the joint actions '
            'with the arm\'s forward kinematics into a feature of their own), then name them '
            f'with --action-key and --action-dims ({len(ACTION_DIMS)} names, \'{ZERO}\' for a '
            'missing one).')


def _action_index(features: Dict[str, Dict[str, Any]], mapping: LeRobotMapping
                  ) -> Tuple[int, ...]:
    key = mapping.action_key
    if key not in features:
        vectors = [k for k, f in features.items() if f.get('dtype') in ('float32', 'float64')]
        raise MappingError(f'no {key!r} feature; vector features: {", ".join(vectors)}')
    names = feature_names(features[key])
    width = int(np.prod(features[key].get('shape', (0,))))
    dims = mapping.action_dims or _auto_action_dims(names)
    if dims is None:
        if looks_joint_space(names):
            raise MappingError(_joint_space_message(key, names))
        raise MappingError(f'{key!r} has dimensions {names or width} that are not known '
                           f'end-effector deltas: name them in our order with --action-dims '
                           f'{",".join(ACTION_DIMS)} (\'{ZERO}\' for a missing one)')
    index = []
    for dim in dims:
        if dim == ZERO:
            index.append(-1)
        elif dim in names:
            index.append(names.index(dim))
        elif dim.isdigit() and int(dim) < width:
            index.append(int(dim))
        else:
            raise MappingError(f'action dim {dim!r} is not in {key!r} ({names or width})')
    chosen = [names[i] for i in index if 0 <= i < len(names)]
    if looks_joint_space(chosen):
        raise MappingError(_joint_space_message(key, chosen))
    if index[-1] < 0:
        raise MappingError('the gripper action dimension is required (the last --action-dims '
                           'entry)')
    return tuple(index)


def _auto_action_dims(names: Sequence[str]) -> Optional[Tuple[str, ...]]:
    if tuple(names) == ACTION_DIMS:
        return ACTION_DIMS
    if set(names) <= set(LEROBOT_EE_DIMS) and 'gripper' in names and 'delta_x' in names:
        return tuple(d if d in names else ZERO for d in LEROBOT_EE_DIMS)
    return None


def _state_index(features: Dict[str, Dict[str, Any]], mapping: LeRobotMapping
                 ) -> Tuple[Optional[Tuple[int, ...]], Tuple[str, ...]]:
    feature = features.get(STATE_KEY)
    if feature is None:
        if mapping.state_dims:
            raise MappingError(f'--state-dims given but the dataset has no {STATE_KEY!r}')
        return None, ()
    names = feature_names(feature)
    dims = mapping.state_dims or (STATE_DIMS if tuple(names) == STATE_DIMS else None)
    if dims is None:
        return None, (f'{STATE_KEY} not imported: its dimensions {names} are not '
                      f'{",".join(STATE_DIMS)}; name them with --state-dims',)
    missing = [d for d in dims if d not in names]
    if missing:
        raise MappingError(f'state dims {missing} are not in {STATE_KEY} ({names})')
    return tuple(names.index(d) for d in dims), ()


def _pose_index(features: Dict[str, Dict[str, Any]], mapping: LeRobotMapping
                ) -> Optional[Tuple[int, ...]]:
    if mapping.action_frame != 'absolute':
        return None
    names = feature_names(features.get(STATE_KEY, {}))
    missing = [d for d in mapping.pose_state_dims if d != ZERO and d not in names]
    if missing:
        raise MappingError(f'pose state dims {missing} are not in {STATE_KEY} ({names})')
    return tuple(-1 if d == ZERO else names.index(d) for d in mapping.pose_state_dims)


def _columns(raw: np.ndarray, index: Sequence[int]) -> np.ndarray:
    """raw[:, index] with zeros where the index is -1."""
    out = np.zeros((len(raw), len(index)), dtype=np.float64)
    for column, source in enumerate(index):
        if source >= 0:
            out[:, column] = raw[:, source]
    return out


def to_model_actions(raw: np.ndarray, resolved: ResolvedMapping,
                     state: Optional[np.ndarray] = None) -> Tuple[np.ndarray, int]:
    """(T, D) source actions -> ((T, 7) model actions, how many values were clipped to [-1, 1]).

    Absolute target poses become the step's delta from the current pose in `state` (the
    observation.state rows), angles wrapped to [-pi, pi]: CALVIN's rel_actions, world frame.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or not np.all(np.isfinite(raw)):
        raise MappingError(f'actions must be finite (T, D), got shape {raw.shape}')
    mapping = resolved.mapping
    out = np.zeros((len(raw), len(ACTION_DIMS)), dtype=np.float64)
    out[:, :6] = _columns(raw, resolved.action_index[:-1])
    if resolved.pose_index is not None:
        if state is None or not np.all(np.isfinite(state)):
            raise MappingError('absolute actions need the finite current pose (observation.state)')
        out[:, :6] -= _columns(np.asarray(state, np.float64), resolved.pose_index)
        out[:, 3:6] = (out[:, 3:6] + np.pi) % (2 * np.pi) - np.pi
    if mapping.action_units == 'si':
        out[:, 0:3] /= mapping.scaling.translation_scale_m
        out[:, 3:6] /= mapping.scaling.rotation_scale_rad
    gripper = raw[:, resolved.action_index[-1]]
    is_open = gripper > mapping.gripper_threshold
    if mapping.gripper_open_below:
        is_open = gripper < mapping.gripper_threshold
    out[:, 6] = np.where(is_open, 1.0, -1.0)
    clipped = int(np.sum(np.abs(out[:, :6]) > 1.0))
    return np.clip(out, -1.0, 1.0).astype(np.float32), clipped


def to_state(raw: np.ndarray, resolved: ResolvedMapping) -> Optional[np.ndarray]:
    """(T, D) observation.state -> (T, 4) STATE_CONVENTION, or None when not mapped."""
    if resolved.state_index is None:
        return None
    return np.asarray(raw, dtype=np.float32)[:, list(resolved.state_index)]


def export_features(static_size: Tuple[int, int], gripper_size: Optional[Tuple[int, int]],
                    with_state: bool, video: bool) -> Dict[str, Dict[str, Any]]:
    """The LeRobot features of an export of our recordings (names say our conventions)."""
    camera = 'video' if video else 'image'
    names = ['height', 'width', 'channels']
    features = {CAMERA_PREFIX + 'static': {'dtype': camera, 'shape': (*static_size, 3),
                                           'names': names}}
    if gripper_size is not None:
        features[CAMERA_PREFIX + 'gripper'] = {'dtype': camera, 'shape': (*gripper_size, 3),
                                               'names': names}
    if with_state:
        features[STATE_KEY] = {'dtype': 'float32', 'shape': (len(STATE_DIMS),),
                               'names': list(STATE_DIMS)}
    features[ACTION_KEY] = {'dtype': 'float32', 'shape': (len(ACTION_DIMS),),
                            'names': list(ACTION_DIMS)}
    features[SUCCESS_KEY] = {'dtype': 'bool', 'shape': (1,), 'names': None}
    return features
