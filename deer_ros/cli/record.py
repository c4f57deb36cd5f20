"""Record scripted-expert demonstrations in MetaWorld into a deer_ros recording.

Episode e (0-based) of every task uses scene seed `--seed + e`: the same command writes the same
episodes. Frames from the static and gripper cameras, the instruction, the 7-D actions in the
model's convention (xyz deltas in [-1, 1], zero rotations, gripper +1 open / -1 close) and the
success flag are stored; see docs/simulation.md for the format.

--action-noise adds Gaussian noise (std in action units) to the expert's xyz before it is applied
and recorded: the expert then corrects its own perturbations, so the data covers states slightly
off the ideal path (useful against compounding errors). --label expert records the expert's clean
action at each of those states instead of the applied one (DART): the motion so far then no longer
tells the label, so a cloned policy has to look at the scene. --start-jitter X Y Z starts the
hand up to that far (m) from the task's own start, uniformly and reproducibly per episode, so the
fixed start stops giving the goal away. Failed episodes are dropped unless --keep-failed.

--policy CKPT collects DAgger data instead: the checkpoint drives the arm (full depth, last exit)
and every frame is labelled with the expert's action at that state, so the data covers the states
the trained policy reaches and how to recover from them (docs/training.md). --expert-mix B lets
the expert act on a fraction B of the steps. Every DAgger episode is written, failed or not: its
labels are the expert's either way.

Example:
  deer-ros record -o data/demos --episodes-per-task 20 --tasks drawer-open-v3 reach-v3
  deer-ros record -o data/dagger --policy models/mini-metaworld --image-size 64 --seed 100
  deer-ros record -o data/dart --action-noise 0.3 --label expert --start-jitter 0.1 0.08 0.06
  deer-ros record -o data/depth --suite depth --episodes-per-task 20 --image-size 64
"""
import argparse
import time

from deer_ros.sim.metaworld_sim import MAX_HAND_OFFSET_M
from deer_ros.sim.rollout import LABELS, ExpertConfig, expert_episode, relabelled_episode
from deer_ros.sim.tasks import SUITES

COMMAND = 'record'
HELP = 'run MetaWorld scripted experts and write demonstration episodes'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros record`."""
    parser.add_argument('-o', '--output', default='data/demos',
                        help='dataset directory (created; default %(default)s)')
    tasks = parser.add_mutually_exclusive_group()
    tasks.add_argument('--tasks', nargs='+', default=None, metavar='TASK',
                       help='MetaWorld tasks (default: the suite)')
    tasks.add_argument('--suite', default='default', choices=sorted(SUITES),
                       help='a registered task suite (deer_ros/sim/tasks.py; default '
                       '%(default)s: the ten original tasks)')
    parser.add_argument('--episodes-per-task', type=int, default=10, metavar='N',
                        help='episodes per task (default %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='scene seed of the first episode (default %(default)s)')
    parser.add_argument('--image-size', type=int, default=96, metavar='PX',
                        help='static camera image side in pixels (default %(default)s)')
    parser.add_argument('--gripper-size', type=int, default=None, metavar='PX',
                        help='gripper camera image side in pixels (default: --image-size)')
    parser.add_argument('--max-steps', type=int, default=0,
                        help="actions per episode, 0 = the task's limit (default %(default)s)")
    parser.add_argument('--action-noise', type=float, default=0.0, metavar='STD',
                        help='Gaussian noise std on expert xyz, action units (default 0)')
    parser.add_argument('--label', choices=LABELS, default='applied',
                        help='with --action-noise: record the applied (noisy) action or the '
                             "expert's clean one (DART) (default %(default)s)")
    parser.add_argument('--start-jitter', type=float, nargs=3, default=(0.0, 0.0, 0.0),
                        metavar=('X', 'Y', 'Z'),
                        help='expert episodes: hand start varies uniformly within +- these '
                             f'metres (each <= {MAX_HAND_OFFSET_M}; default 0 0 0)')
    parser.add_argument('--policy', default=None, metavar='CKPT',
                        help='DAgger: this checkpoint acts, the expert labels (default: the '
                             'expert acts)')
    parser.add_argument('--expert-mix', type=float, default=0.0, metavar='B',
                        help='with --policy: fraction of steps the expert takes (default 0)')
    parser.add_argument('--threads', type=int, default=1, metavar='N',
                        help='with --policy: torch CPU threads (default %(default)s)')
    parser.add_argument('--keep-failed', action='store_true',
                        help='also write episodes whose task did not succeed')
    parser.add_argument('--append', action='store_true',
                        help='add to an existing dataset instead of refusing')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Record; return 0, or 1 when nothing could be written."""
    from tqdm import tqdm

    from deer_ros.data.recording import list_episodes, write_episode
    from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
    from deer_ros.sim.tasks import get_task, suite_tasks

    tasks = [get_task(t).env_name for t in (args.tasks or suite_tasks(args.suite))]
    if list_episodes(args.output) and not args.append:
        print(f'{args.output} already holds episodes; use --append or another --output')
        return 1
    if args.policy is None and args.expert_mix:
        print('--expert-mix needs --policy')
        return 1
    if not 0.0 <= args.expert_mix <= 1.0:
        print('--expert-mix must be within [0, 1]')
        return 1
    if args.policy is not None and (args.label != 'applied' or any(args.start_jitter)):
        print('--label and --start-jitter apply to expert episodes, not to --policy (DAgger)')
        return 1
    try:
        expert = ExpertConfig(action_noise=args.action_noise, label=args.label,
                              start_jitter_m=tuple(args.start_jitter))
    except ValueError as error:
        print(f'invalid option: {error}')
        return 1
    driver = None
    if args.policy is not None:
        from deer_ros.training.dagger import CheckpointDriver
        driver = CheckpointDriver(args.policy, threads=args.threads)
    sim = MetaWorldSim(SimConfig(static_size=args.image_size,
                                 gripper_size=args.gripper_size or args.image_size,
                                 max_steps=args.max_steps))
    summary = {t: [0, 0] for t in tasks}       # task -> [successes, written]
    steps, start = 0, time.perf_counter()
    bar = tqdm(total=len(tasks) * args.episodes_per_task, unit='ep', disable=args.quiet)
    try:
        for task in tasks:
            for e in range(args.episodes_per_task):
                meta = {'episode_in_task': e}
                if driver is None:
                    episode = expert_episode(sim, task, args.seed + e, expert, meta=meta)
                else:
                    meta['policy'] = args.policy
                    episode = relabelled_episode(sim, task, args.seed + e, driver,
                                                 args.expert_mix, meta=meta)
                steps += len(episode)
                summary[task][0] += episode.success
                if episode.success or args.keep_failed or driver is not None:
                    write_episode(args.output, episode, fps=1.0 / sim.control_dt_s,
                                  source='deer-ros record')
                    summary[task][1] += 1
                bar.set_postfix(task=task, ok=f'{summary[task][0]}/{e + 1}')
                bar.update()
    finally:
        bar.close()
        sim.close()
    elapsed = time.perf_counter() - start
    for task, (ok, written) in summary.items():
        print(f'{task:26s} success {ok}/{args.episodes_per_task}  written {written}')
    print(f'{steps} steps in {elapsed:.1f} s ({1e3 * elapsed / max(steps, 1):.1f} ms/step) '
          f'-> {args.output}')
    return 0 if any(w for _, w in summary.values()) else 1
