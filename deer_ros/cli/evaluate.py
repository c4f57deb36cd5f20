"""Closed-loop MetaWorld benchmark: success rate and LLM compute per exit / skip / budget policy.

Every configuration runs the same episodes (tasks x scene seeds, paired comparisons):
  full          the last exit (the RoboFlamingo-style baseline)
  fixed-K       a fixed shallower exit K
  deer-F        DeeR thresholds calibrated for F x the full model's average compute
  online-F      the same thresholds with our online controller (budget_avg_gflops = F x full)
  skip          DySL layer skipping at full depth (and deer-F+skip, DeeR + skipping)

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

COMMAND = 'evaluate'
HELP = 'closed-loop MetaWorld benchmark of exit/skip/budget policies (table + plot)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros evaluate`."""
    from deer_ros.evaluation.suite import DEFAULT_FRACTIONS, FAMILIES
    model = parser.add_argument_group('model')
    model.add_argument('--checkpoint', default='',
                       help='checkpoint directory (default: models/tiny-metaworld if present, '
                       'else --preset with random weights)')
    model.add_argument('--preset', default='tiny', help='preset without a checkpoint')
    model.add_argument('--model-seed', type=int, default=0, help='weights seed of --preset')
    episodes = parser.add_argument_group('episodes')
    episodes.add_argument('--tasks', nargs='*', default=None,
                          help='MetaWorld tasks (default: all ten registered)')
    episodes.add_argument('--episodes-per-task', type=int, default=3,
                          help='scene seeds per task (default: %(default)s)')
    episodes.add_argument('--seed', type=int, default=0, help='first scene seed')
    episodes.add_argument('--max-steps', type=int, default=0,
                          help="actions per episode; 0: the task's limit (200)")
    episodes.add_argument('--image-size', type=int, default=64,
                          help='camera side, px (default 64: the shipped model was trained on it)')
    episodes.add_argument('--no-gripper-camera', action='store_true',
                          help='feed only the static camera to the model')
    configs = parser.add_argument_group('configurations')
    configs.add_argument('--budgets', type=float, nargs='*', default=list(DEFAULT_FRACTIONS),
                         help='average-compute budgets as fractions of the full model '
                         '(default: %(default)s)')
    configs.add_argument('--families', nargs='*', default=list(FAMILIES), choices=FAMILIES,
                         help='configuration families to run')
    configs.add_argument('--configs', nargs='*', default=None,
                         help='only these configuration names (e.g. full deer-0.33)')
    configs.add_argument('--calibration', default='',
                         help='calibration YAML (deer-ros calibrate); default: next to the '
                         'checkpoint, else made on the fly')
    configs.add_argument('--calibration-episodes', type=int, default=2,
                         help='expert episodes per task for an on-the-fly calibration')
    run_group = parser.add_argument_group('execution')
    run_group.add_argument('--ros', action='store_true',
                           help='run through the ROS 2 graph (sim_node + deer_node processes)')
    run_group.add_argument('--workers', type=int, default=1,
                           help='in-process worker processes (default: %(default)s)')
    run_group.add_argument('--torch-threads', type=int, default=1,
                           help='torch threads per process (default: %(default)s)')
    run_group.add_argument('-o', '--output-dir', default='runs/benchmark',
                           help='where summary.md, the PNG and results.json go')
    run_group.add_argument('--no-progress', action='store_true', help='no progress bars')


def run(args: argparse.Namespace) -> int:
    """Calibrate if needed, run every configuration, write the outputs."""
    from deer_ros.evaluation.benchmark import BenchmarkRequest, run_benchmark
    request = BenchmarkRequest.from_args(args)
    return run_benchmark(request)
