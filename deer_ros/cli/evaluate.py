"""Closed-loop MetaWorld benchmark: success rate and LLM compute per exit / skip / budget policy.

Every configuration runs the same episodes (tasks x scene seeds, paired comparisons):
  full          the last exit (the RoboFlamingo-style baseline)
  fixed-K       a fixed shallower exit K
  deer-F        DeeR thresholds calibrated for F x the full model's average compute
  online-F      the same thresholds with our online controller (budget_avg_fraction = F)
  skip          DySL layer skipping at full depth (and deer-F+skip, DeeR + skipping)
  skip-F        DySL skipping with the online controller scaling its skip limits to hold F
  full-shuffled the full model told another target's instruction (the control; language tasks)

--suite depth runs the issue-25 suite (contact-rich and language-conditioned tasks); with a
language-conditioned task in the run the `control` family joins the default families, and the
summary compares `full-shuffled` with `full` on those tasks against the 1/k an
instruction-blind policy can reach.

Default: in-process, i.e. MetaWorldSim driven by the InferenceEngine and the action mapping that
deer_node runs (no ROS transport; identical decisions). --ros runs each configuration through
the real ROS 2 graph instead: sim_node and deer_node as subprocesses, observed over topics.

Thresholds come from --calibration (a `deer-ros calibrate` YAML), else calibration.yaml next to
the checkpoint, else a calibration made on the fly from scripted-expert episodes (scene seeds
1000+, disjoint from the evaluation's). Outputs in --output-dir: summary.md (tables and the
verdict on the target: >= 3x less average LLM compute with success within 3 points of full),
success_vs_compute.png and results.json (every episode).
"""
import argparse
from typing import TYPE_CHECKING, List

if TYPE_CHECKING:
    from deer_ros.evaluation.model_spec import ModelSpec

COMMAND = 'evaluate'
EXECUTION = ('torch_threads', 'workers')   # EvalSettings fields shown under 'execution'
HELP = 'closed-loop MetaWorld benchmark of exit/skip/budget policies (table + plot)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros evaluate`: the fields of ModelSpec, EvalSettings, BenchmarkRequest."""
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.evaluation.benchmark import BenchmarkRequest
    from deer_ros.evaluation.runner import EvalSettings
    from deer_ros.evaluation.suite import DEFAULT_FRACTIONS, FAMILIES
    from deer_ros.sim.tasks import SUITES
    add_model_flags(parser.add_argument_group('model'))
    episodes = parser.add_argument_group('episodes')
    tasks = episodes.add_mutually_exclusive_group()
    tasks.add_argument('--tasks', nargs='*', default=None,
                       help='MetaWorld tasks (default: the suite)')
    tasks.add_argument('--suite', default='default', choices=sorted(SUITES),
                       help='a registered task suite: default = the ten original tasks, '
                       'depth = contact-rich + language-conditioned (default: %(default)s)')
    add_config_flags(episodes, EvalSettings, exclude=EXECUTION,
                     rename={'use_gripper_camera': 'gripper-camera'})
    configs = parser.add_argument_group('configurations')
    configs.add_argument('--budgets', type=float, nargs='*', default=list(DEFAULT_FRACTIONS),
                         help='average-compute budgets as fractions of the full model '
                         '(default: %(default)s)')
    configs.add_argument('--families', nargs='*', default=None, choices=FAMILIES,
                         help='configuration families to run (default: all but control; '
                         'control too when a task is language-conditioned)')
    configs.add_argument('--configs', nargs='*', default=None,
                         help='only these configuration names (e.g. full deer-0.33)')
    add_config_flags(configs, BenchmarkRequest, only=('calibration', 'calibration_episodes'))
    run_group = parser.add_argument_group('execution')
    add_config_flags(run_group, BenchmarkRequest, only=('ros', 'progress'))
    add_config_flags(run_group, EvalSettings, only=EXECUTION)
    run_group.add_argument('-o', '--output-dir', default='runs/benchmark',
                           help='where summary.md, the PNG and results.json go')


def add_model_flags(group: 'argparse._ActionsContainer') -> None:
    """--checkpoint, --preset, --model-seed: ModelSpec's fields (also `deer-ros demo`'s)."""
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.evaluation.model_spec import ModelSpec
    add_config_flags(group, ModelSpec, rename={'seed': 'model-seed'}, dest_prefix='model_')


def model_from_args(args: argparse.Namespace, warnings: List[str]) -> 'ModelSpec':
    """The model the flags ask for: the checkpoint, else the shipped one, else random weights."""
    from deer_ros.cli.config_flags import config_from_args
    from deer_ros.evaluation.model_spec import ModelSpec, resolve_model
    flags = config_from_args(ModelSpec, args, dest_prefix='model_')
    return resolve_model(flags.checkpoint, flags.preset, flags.seed, warnings)


def run(args: argparse.Namespace) -> int:
    """Calibrate if needed, run every configuration, write the outputs."""
    import pathlib
    import shlex
    import sys

    from deer_ros.cli.config_flags import config_from_args
    from deer_ros.evaluation.benchmark import BenchmarkRequest, run_benchmark
    from deer_ros.evaluation.runner import EvalSettings
    from deer_ros.evaluation.suite import default_families
    from deer_ros.sim.tasks import get_task, suite_tasks
    warnings: list = []
    model = model_from_args(args, warnings)
    tasks = tuple(get_task(t).env_name for t in (args.tasks or suite_tasks(args.suite)))
    families = args.families or default_families(any(get_task(t).targets > 1 for t in tasks))
    request = config_from_args(
        BenchmarkRequest, args, model=model,
        settings=config_from_args(EvalSettings, args, tasks=tasks),
        output_dir=pathlib.Path(args.output_dir), fractions=tuple(args.budgets),
        families=tuple(families), config_names=args.configs,
        command='deer-ros ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]), warnings=warnings)
    return run_benchmark(request)
