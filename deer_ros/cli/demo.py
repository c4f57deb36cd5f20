"""The main job: the shipped model drives a simulated arm closed-loop over ROS 2, in one command.

Starts sim_node (MetaWorld, two cameras) and deer_node (autostart, the shipped checkpoint
models/tiny-metaworld, or the tiny preset with random weights and a loud warning when it is
missing) as subprocesses on a private ROS domain (ROS_DOMAIN_ID, unless set, and
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), runs a few episodes of a few tasks, prints each
episode's success and the LLM compute it saved against the full model (from deer_node's
telemetry topic), saves an image strip and a GIF of the first episode, then stops both nodes
with SIGINT.
"""
import argparse

COMMAND = 'demo'
HELP = 'closed-loop MetaWorld demo over ROS 2 (sim_node + deer_node), the README main job'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros demo`."""
    from deer_ros.evaluation.demo import DEMO_TASKS
    parser.add_argument('--checkpoint', default='',
                        help='checkpoint (default: models/tiny-metaworld if present)')
    parser.add_argument('--preset', default='tiny', help='preset when no checkpoint exists')
    parser.add_argument('--tasks', nargs='*', default=list(DEMO_TASKS), help='MetaWorld tasks')
    parser.add_argument('--episodes-per-task', type=int, default=2, help='(default: 2)')
    parser.add_argument('--seed', type=int, default=0, help='first scene seed')
    parser.add_argument('--max-steps', type=int, default=None,
                        help="actions per episode (default: the task's limit; 40 with random "
                        'weights)')
    parser.add_argument('--budget-fraction', type=float, default=0.33,
                        help="deer_node's budget.avg_fraction (0: thresholds only)")
    parser.add_argument('-o', '--output-dir', default='runs/demo',
                        help='logs, params files and pictures (default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    import pathlib

    from deer_ros.evaluation.demo import RANDOM_MAX_STEPS, DemoConfig, run_demo
    from deer_ros.evaluation.model_spec import resolve_model
    from deer_ros.sim.tasks import get_task
    warnings: list = []
    model = resolve_model(args.checkpoint, args.preset, 0, warnings)
    max_steps = args.max_steps
    if max_steps is None:
        max_steps = RANDOM_MAX_STEPS if model.is_random else 0
    cfg = DemoConfig(model=model, tasks=tuple(get_task(t).env_name for t in args.tasks),
                     episodes_per_task=args.episodes_per_task, seed=args.seed,
                     max_steps=max_steps, budget_fraction=args.budget_fraction,
                     output_dir=pathlib.Path(args.output_dir), warnings=warnings)
    return run_demo(cfg)
