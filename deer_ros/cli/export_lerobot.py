"""Export a deer_ros dataset as a LeRobotDataset v3, written by LeRobot's own writer.

  deer-ros export-lerobot runs/demos runs/demos-lerobot --robot-type sawyer

LeRobot's viewers and training scripts read the result. Features: `observation.images.static`
and `.gripper` (mp4, --vcodec; or lossless PNG with --images png), `observation.state` (ee_x,
ee_y, ee_z, gripper_opening) when recorded, `action` (dx, dy, dz, droll, dpitch, dyaw, gripper:
deer_ros's model convention, relative end-effector deltas in [-1, 1], gripper +1 open / -1
close) and `next.success`; the instruction is the task string. meta/deer_ros.json keeps task
ids, success and per-episode metadata, so `deer-ros import-lerobot` of the export gives the
same episodes (frames bit for bit with --images png; within the codec's error with video).
"""
import argparse
import sys

COMMAND = 'export-lerobot'
HELP = 'export a deer_ros dataset as a LeRobotDataset v3 (LeRobot tools can view and train on it)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination and the writer's options."""
    from deer_ros.data.lerobot_export import VCODECS, ExportOptions
    defaults = ExportOptions()
    parser.add_argument('source', help='deer_ros dataset directory (holds dataset.json)')
    parser.add_argument('output', help='new LeRobotDataset directory (must not exist)')
    parser.add_argument('--repo-id', default=defaults.repo_id,
                        help='dataset name in its metadata (the Hub repo to push it to later)')
    parser.add_argument('--robot-type', default='', help="info.json robot_type, e.g. 'sawyer'")
    parser.add_argument('--images', choices=('video', 'png'), default='video',
                        help='video: mp4, small, lossy; png: lossless images in the parquet')
    parser.add_argument('--vcodec', choices=VCODECS, default=defaults.vcodec,
                        help='video codec (libsvtav1 is LeRobot\'s default)')


def run(args: argparse.Namespace) -> int:
    """Export and say where."""
    from deer_ros.data.lerobot_export import ExportOptions, export_lerobot
    options = ExportOptions(repo_id=args.repo_id, robot_type=args.robot_type,
                            video=args.images == 'video', vcodec=args.vcodec)
    try:
        count = export_lerobot(args.source, args.output, options)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f'deer-ros {COMMAND}: {exc}', file=sys.stderr)
        return 2
    print(f'{count} episode(s) -> {args.output} (LeRobotDataset v3, {args.images})')
    return 0
