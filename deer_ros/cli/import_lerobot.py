r"""Convert a LeRobotDataset (v3, a local directory) into a deer_ros dataset.

  deer-ros import-lerobot DIR OUT --static-camera front --gripper-camera wrist \
      --action-dims delta_x,delta_y,delta_z,-,-,-,gripper --action-units si

Cameras: --static-camera / --gripper-camera name `observation.images.<name>` features (the short
name is enough). Left out: our own exports' `static` / `gripper`, or the only camera as static.
Actions: deer_ros models act in relative end-effector deltas (dx, dy, dz, droll, dpitch, dyaw)
scaled to [-1, 1] and a gripper +1 open / -1 close. --action-dims names the dataset's dimension
for each ('-' for one it lacks; a number is an index); LeRobot's end-effector names (delta_x, ...,
gripper) and ours map by themselves. Joint-space actions are refused: they need the arm's
kinematics first. Absolute target poses (--action-frame absolute) become the delta from the
current pose named by --pose-state-dims (angles wrapped). --action-units si divides metres /
radians by the scales (CALVIN's 0.02 m and 0.05 rad by default, as deer_node's action.*
multiplies them back); values beyond [-1, 1] are clipped and counted. The gripper is open
above --gripper-threshold (below, with --gripper-open-below). State: --state-dims names
observation.state's ee_x, ee_y, ee_z, gripper_opening (metres, 0..1). Task strings become
instructions; an episode whose task changes becomes one episode per task. Hub datasets: download
first (`hf download --repo-type dataset REPO --local-dir DIR`); v2.1 datasets: convert with
lerobot's v30 converter.
"""
import argparse
import sys

from deer_ros.ros_io.settings import ActionSettings

COMMAND = 'import-lerobot'
HELP = 'convert a LeRobotDataset v3 (parquet + mp4) into a deer_ros dataset'


def _names(text: str):
    return tuple(n.strip() for n in text.split(',')) if text else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination and the feature mapping."""
    scaling = ActionSettings()
    parser.add_argument('source', help='LeRobotDataset directory (holds meta/info.json)')
    parser.add_argument('output', help='deer_ros dataset directory to write (created; episodes '
                                       'are appended to an existing one)')
    cams = parser.add_argument_group('cameras')
    cams.add_argument('--static-camera', default=None, metavar='KEY',
                      help='static scene camera feature (default: `static`, or the only one)')
    cams.add_argument('--gripper-camera', default=None, metavar='KEY',
                      help="gripper / wrist camera feature ('' for none; default: `gripper` "
                           'when present, else none)')
    act = parser.add_argument_group('actions (end-effector deltas only)')
    act.add_argument('--action-key', default='action', help='feature holding the actions')
    act.add_argument('--action-dims', type=_names, default=None, metavar='N1,...,N7',
                     help="source names for dx,dy,dz,droll,dpitch,dyaw,gripper ('-': none)")
    act.add_argument('--action-units', choices=('model', 'si'), default='model',
                     help='model: deltas already scaled to [-1, 1]; si: metres and radians')
    act.add_argument('--translation-scale-m', type=float, default=None,
                     help=f'metres per model unit, with --action-units si (default '
                          f'{scaling.translation_scale_m})')
    act.add_argument('--rotation-scale-rad', type=float, default=None,
                     help=f'radians per model unit, with --action-units si (default '
                          f'{scaling.rotation_scale_rad})')
    act.add_argument('--action-frame', choices=('delta', 'absolute'), default='delta',
                     help='delta: per-step end-effector deltas; absolute: target poses, turned '
                          'into the delta from the current pose (needs --pose-state-dims and '
                          '--action-units si)')
    act.add_argument('--pose-state-dims', type=_names, default=None, metavar='N1,...,N6',
                     help="observation.state names of the current x,y,z,roll,pitch,yaw ('-': "
                          'none), for --action-frame absolute')
    act.add_argument('--gripper-threshold', type=float, default=0.0,
                     help='gripper values above it mean open (e.g. 0.5 for 0..1 openings)')
    act.add_argument('--gripper-open-below', action='store_true',
                     help='values below the threshold mean open')
    parser.add_argument('--state-dims', type=_names, default=None, metavar='N1,...,N4',
                        help='observation.state names for ee_x,ee_y,ee_z,gripper_opening '
                             '(default: those names; otherwise the state is left out)')


def mapping_from_args(args: argparse.Namespace):
    """LeRobotMapping from parsed options."""
    from deer_ros.data.lerobot_mapping import LeRobotMapping
    given = {name: value for name, value in (('translation_scale_m', args.translation_scale_m),
                                             ('rotation_scale_rad', args.rotation_scale_rad))
             if value is not None}
    if given and args.action_units != 'si':
        raise ValueError('--translation-scale-m / --rotation-scale-rad apply only with '
                         '--action-units si')
    scaling = ActionSettings(**given)
    return LeRobotMapping(static_camera=args.static_camera, gripper_camera=args.gripper_camera,
                          action_key=args.action_key, action_dims=args.action_dims,
                          action_units=args.action_units, scaling=scaling,
                          action_frame=args.action_frame, pose_state_dims=args.pose_state_dims,
                          gripper_threshold=args.gripper_threshold,
                          gripper_open_below=args.gripper_open_below,
                          state_dims=args.state_dims)


def run(args: argparse.Namespace) -> int:
    """Import and print what was read, changed and left out."""
    from deer_ros.data.lerobot_import import import_lerobot
    try:
        stats = import_lerobot(args.source, args.output, mapping_from_args(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f'deer-ros {COMMAND}: {exc}', file=sys.stderr)
        return 2
    print(f'{stats.episodes_read} LeRobot episode(s) -> {stats.episodes_written} episode(s), '
          f'{stats.frames} frames -> {args.output}')
    if stats.clipped_values:
        print(f'  WARNING: {stats.clipped_values} action values outside [-1, 1] were clipped: '
              'check --action-units and the scales')
    for note in stats.notes:
        print(f'  {note}')
    return 0
