"""The main job: the shipped model drives a simulated arm closed-loop over ROS 2, in one command.

Starts sim_node (MetaWorld, two cameras) and deer_node (autostart, the shipped checkpoint
models/mini-metaworld, or the tiny preset with random weights and a loud warning when it is
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
    """Options of `deer-ros demo`: the fields of ModelSpec and DemoConfig."""
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.cli.evaluate import add_model_flags
    from deer_ros.evaluation.demo import DEMO_TASKS, DemoConfig
    add_model_flags(parser)
    parser.add_argument('--tasks', nargs='*', default=list(DEMO_TASKS), help='MetaWorld tasks')
    add_config_flags(parser, DemoConfig, optional=('max_steps',))
    parser.add_argument('-o', '--output-dir', default=str(DemoConfig.output_dir),
                        help='logs, params files and pictures (default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    import pathlib

    from deer_ros.cli.config_flags import config_from_args
    from deer_ros.cli.evaluate import model_from_args
    from deer_ros.evaluation.demo import RANDOM_MAX_STEPS, DemoConfig, run_demo
    from deer_ros.sim.tasks import get_task
    warnings: list = []
    model = model_from_args(args, warnings)
    max_steps = args.max_steps
    if max_steps is None:
        max_steps = RANDOM_MAX_STEPS if model.is_random else 0
    cfg = config_from_args(DemoConfig, args, model=model, max_steps=max_steps,
                           tasks=tuple(get_task(t).env_name for t in args.tasks),
                           output_dir=pathlib.Path(args.output_dir), warnings=warnings)
    return run_demo(cfg)
