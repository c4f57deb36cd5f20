"""Calibrate DeeR exit thresholds on recorded episodes for a list of compute budgets.

For every frame of every episode (in recording order, deterministic): the model runs in full,
the shared head is evaluated on layer 0 and on every exit from the committed head state, and the
consistency values between consecutive exits are collected (DeeR §4.1). Thresholds are then
solved per budget: exit proportions p_k ∝ q^k (or --prior gauss/gamma), DeeR's greedy sequential
quantiles, and q found so that the average LLM compute realised on these frames meets the budget.

Budgets are average LLM GMAC per action (--budgets-gflops) or fractions of the full model
(--budget-fractions). The YAML written (see deer_ros.policies.calibration_file) is loaded by the
node with `load_calibration(path)`; it keeps the values, so any other budget can be solved later.
"""
import argparse

from deer_ros.cli.import_mcap import add_topic_arguments

COMMAND = 'calibrate'
HELP = 'collect exit-consistency values on recorded episodes and solve thresholds per budget'


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--preset/--checkpoint/--seed/--device/--precision."""
    group = parser.add_argument_group('model')
    group.add_argument('--checkpoint', help='our checkpoint directory or an official DeeR .pth '
                       '(default: a random model from --preset)')
    group.add_argument('--preset', default='tiny',
                       help='model preset when no checkpoint is given (default: %(default)s)')
    group.add_argument('--seed', type=int, default=0,
                       help='weights seed for --preset, and sampling seed (default: 0)')
    group.add_argument('--device', default=None, help='torch device (default: cuda if any)')
    group.add_argument('--precision', default='fp32', help='fp32 | amp | fp16 | bf16 ...')


def load_rollout(args: argparse.Namespace):
    """A ModelRollout from the parsed model options."""
    from deer_ros.model.build import rollout_from_checkpoint, rollout_from_preset
    if args.checkpoint:
        return rollout_from_checkpoint(args.checkpoint, device=args.device,
                                       precision=args.precision)
    return rollout_from_preset(args.preset, seed=args.seed, device=args.device,
                               precision=args.precision)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros calibrate`."""
    parser.add_argument('data', help='recorded dataset directory (deer_ros recording format) or '
                        'a rosbag2 .mcap file / directory (see deer-ros import-mcap)')
    parser.add_argument('-o', '--output', default='calibration.yaml',
                        help='YAML to write (default: %(default)s)')
    add_model_arguments(parser)
    parser.add_argument('--budgets-gflops', type=float, nargs='*', default=[],
                        help='target average LLM GMAC per action, one threshold set each')
    parser.add_argument('--budget-fractions', type=float, nargs='*', default=None,
                        help='targets as fractions of the full model (default: 0.25 0.5 0.75 '
                        'when no --budgets-gflops)')
    parser.add_argument('--criterion', default='rms', choices=('rms', 'mean', 'max'),
                        help='consistency measure (DeeR: rms)')
    parser.add_argument('--prior', default='exp', choices=('exp', 'gauss', 'gamma'),
                        help='exit prior (DeeR: exp, p_k ∝ q^k)')
    parser.add_argument('--commit', default='last', choices=('last', 'random'),
                        help='head state carried between frames: deepest exit (full model) or '
                        'a seeded random exit (DeeR-like history)')
    parser.add_argument('--warmup-frames', type=int, default=0,
                        help='frames at the start of each episode not sampled (still run)')
    parser.add_argument('--stride', type=int, default=1, help='sample every N-th frame')
    parser.add_argument('--max-episodes', type=int, default=0, help='0: all')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_topic_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the calibration and write the YAML."""
    import numpy as np
    from tqdm import tqdm

    import tempfile

    from deer_ros.cli.import_mcap import topics_from_args
    from deer_ros.data.mcap_import import import_mcap, is_mcap
    from deer_ros.data.recording import iter_episodes, read_info
    from deer_ros.policies.calibration_file import Calibration, save_calibration
    from deer_ros.policies.values import ValueSamples, episode_values

    if is_mcap(args.data):
        imported = tempfile.mkdtemp(prefix='deer_ros_mcap_')
        stats = import_mcap(args.data, imported, topics_from_args(args))
        print(f'imported {stats.episodes} episode(s) from {args.data}')
        args.data = imported
    info = read_info(args.data)
    episodes = info.episodes[:args.max_episodes] if args.max_episodes else info.episodes
    total = sum(int(e.get('length', 0)) for e in episodes)
    model = load_rollout(args)
    samples = ValueSamples()
    rng = np.random.default_rng(args.seed)
    with tqdm(total=total, unit='frame', desc='calibrate', disable=args.no_progress) as bar:
        for i, episode in enumerate(iter_episodes(args.data)):
            if args.max_episodes and i >= args.max_episodes:
                break
            episode_values(model, episode.instruction, episode.static, episode.gripper, samples,
                           criterion=args.criterion, commit=args.commit, rng=rng,
                           warmup_frames=args.warmup_frames, stride=args.stride, progress=bar,
                           state=episode.state)
    if not samples.columns:
        print('no frames sampled')
        return 1
    calibration = Calibration(
        exit_layers=list(model.exit_layers), layer_gmacs=samples.mean_layer_gmacs(),
        head_gmacs=samples.head_gmacs, values=samples.values, criterion=args.criterion,
        prior=args.prior, value_commit=args.commit,
        source={'data': str(args.data), 'checkpoint': args.checkpoint, 'preset': args.preset,
                'seed': args.seed, 'frames': int(samples.values.shape[1]),
                'warmup_frames': args.warmup_frames, 'stride': args.stride})
    fractions = args.budget_fractions
    if fractions is None:
        fractions = [] if args.budgets_gflops else [0.25, 0.5, 0.75]
    targets = list(args.budgets_gflops) + [f * calibration.full_gmacs for f in fractions]
    calibration.add_budgets(targets)
    path = save_calibration(calibration, args.output)
    for b in calibration.budgets:
        print(f'target {b.target_gmacs:.4g} GMAC: q={b.q:.4g} realised {b.realised_gmacs:.4g} '
              f'({100 * b.relative_error:+.1f}%) thresholds {[round(t, 5) for t in b.thresholds]}')
    print(f'wrote {path}')
    return 0
