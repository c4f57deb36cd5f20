"""Tune DeeR thresholds online with Bayesian optimisation (scikit-optimize), as DeeR does.

Each evaluation calls a scoring function with a threshold list (one per exit, the last 1e8) and
expects (score, avg_cost): e.g. the simulation benchmark's success rate and average GMAC per
action. The objective minimised is -score + penalty * max(0, avg_cost - budget); the budget is
--budget, else the average cost of the initial thresholds (DeeR's choice). Initial thresholds come
from --thresholds or from a calibration YAML (--calibration with --budget-gflops).
"""
import argparse

COMMAND = 'tune'
HELP = 'Bayesian optimisation of exit thresholds against any scoring function (DeeR online)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros tune`."""
    parser.add_argument('--score', required=True,
                        help="scoring callable 'package.module:function' taking thresholds "
                        'and returning (score, avg_cost)')
    parser.add_argument('--thresholds', type=float, nargs='*', default=None,
                        help='initial thresholds, one per exit (the last is forced)')
    parser.add_argument('--calibration', help='calibration YAML giving initial thresholds')
    parser.add_argument('--budget-gflops', type=float, default=None,
                        help='with --calibration: which budget to start from; also the budget')
    parser.add_argument('--budget', type=float, default=None,
                        help='average-cost budget of the penalty (default: the initial cost)')
    parser.add_argument('--penalty', type=float, default=1.0, help='DeeR: 1.0')
    parser.add_argument('--n-calls', type=int, default=20, help='evaluations (DeeR: 20)')
    parser.add_argument('--acq', default='LCB', choices=('LCB', 'EI', 'PI'),
                        help='acquisition function')
    parser.add_argument('--radius', type=float, default=0.5,
                        help='search box: initial threshold +- radius * |threshold|')
    parser.add_argument('--seed', type=int, default=0, help='random_state of gp_minimize')
    parser.add_argument('-o', '--output', default='tuned_thresholds.yaml', help='YAML to write')


def run(args: argparse.Namespace) -> int:
    """Run the optimisation and write the best thresholds and the history."""
    import yaml

    from deer_ros.policies.tuning import load_scorer, tune_thresholds

    initial = args.thresholds
    budget = args.budget
    if args.calibration:
        from deer_ros.policies.calibration_file import load_calibration
        calibration = load_calibration(args.calibration)
        target = args.budget_gflops if args.budget_gflops is not None else \
            0.5 * calibration.full_gmacs
        initial = initial or calibration.thresholds_for(target)
        budget = budget if budget is not None else args.budget_gflops
    if not initial:
        print('give --thresholds or --calibration')
        return 2
    scorer = load_scorer(args.score)

    def report(entry: dict) -> None:
        print(f"score {entry['score']:.4g} cost {entry['avg_cost']:.4g} "
              f"objective {entry['objective']:.4g}")

    result = tune_thresholds(scorer, initial, budget=budget, penalty=args.penalty,
                             n_calls=args.n_calls, radius=args.radius, acq_func=args.acq,
                             seed=args.seed, callback=report)
    out = {'thresholds': result.thresholds, 'objective': result.objective,
           'score': result.score, 'avg_cost': result.avg_cost, 'budget': result.budget,
           'penalty': args.penalty, 'history': result.history}
    with open(args.output, 'w') as stream:
        yaml.safe_dump(out, stream, sort_keys=False, default_flow_style=None)
    print(f'best thresholds {result.thresholds} -> {args.output}')
    return 0
