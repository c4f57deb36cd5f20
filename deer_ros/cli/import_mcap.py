"""Convert a rosbag2 MCAP recording of cameras + instruction (+ action) into a deer_ros dataset.

Record on the robot with e.g.
  ros2 bag record -s mcap /camera/static/image_raw /camera/gripper/image_raw /instruction /action
then `deer-ros import-mcap BAG DATASET`. Each instruction becomes one episode; gripper frames pair
with static frames by stamp within --slop-s. Without --action-topic the actions are zero
(meta has_actions: false): fine for `calibrate` and `analyze-layers`, not for `train`.
"""
import argparse

COMMAND = 'import-mcap'
HELP = 'convert a rosbag2 MCAP recording (cameras + instruction [+ action]) to a dataset'


def add_topic_arguments(parser: argparse.ArgumentParser) -> None:
    """Topic options shared by every command that reads MCAP recordings."""
    group = parser.add_argument_group('MCAP topics (when the data is a rosbag2 .mcap)')
    group.add_argument('--static-topic', default='/camera/static/image_raw')
    group.add_argument('--gripper-topic', default='/camera/gripper/image_raw',
                       help="'' for a static camera only")
    group.add_argument('--instruction-topic', default='/instruction')
    group.add_argument('--action-topic', default=None,
                       help='deer_ros/msg/ActionCommand topic with the actions taken, if recorded')
    group.add_argument('--slop-s', type=float, default=0.05,
                       help='max stamp difference of a static/gripper pair, seconds')


def topics_from_args(args: argparse.Namespace):
    """McapTopics from parsed options."""
    from deer_ros.data.mcap_import import McapTopics
    return McapTopics(static=args.static_topic, gripper=args.gripper_topic or None,
                      instruction=args.instruction_topic, action=args.action_topic,
                      slop_s=args.slop_s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Source, destination and topics."""
    parser.add_argument('bag', help='an .mcap file or a rosbag2 directory of .mcap files')
    parser.add_argument('output', help='dataset directory to write (created)')
    parser.add_argument('--fps', type=float, default=10.0, help='control rate of the recording')
    add_topic_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Import and print what was read and skipped."""
    from deer_ros.data.mcap_import import import_mcap

    stats = import_mcap(args.bag, args.output, topics_from_args(args), fps=args.fps)
    print(f'{stats.episodes} episode(s), {stats.frames} static frames read; skipped: '
          f'{stats.unpaired_static} without a gripper pair, {stats.no_instruction} before any '
          f'instruction, {stats.bad_images} bad images; {stats.missing_actions} frames without '
          f'an action -> {args.output}')
    for error in stats.errors:
        print(f'  {error}')
    return 0
