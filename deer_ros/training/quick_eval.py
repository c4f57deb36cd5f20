"""A quick in-process closed-loop check of a trained checkpoint (full model, last exit).

Not the benchmark (that is `deer-ros evaluate`): a few MetaWorld episodes per task, the model
run to its last layer every step, success counted. Scene seeds start at --seed (use seeds the
demonstrations did not: `deer-ros record --seed 0 --episodes-per-task 25` used 0..24).

  python -m deer_ros.training.quick_eval models/tiny-metaworld --episodes 5 --seed 1000
"""
import argparse
import sys
import time
from typing import Dict, List, Optional, Sequence

from deer_ros.sim.tasks import DEFAULT_TASKS


def run_episode(model, sim, task: str, seed: int, skip: Sequence = ()) -> Dict:  # noqa: ANN001
    """One episode with the full model (optionally skipping blocks); returns a summary."""
    obs = sim.reset(task, seed)
    model.reset(obs.instruction)
    last = model.num_layers - 1
    while not sim.done:
        frame = model.encode(obs.static, obs.gripper, state=obs.state)
        model.run_layers(frame, 0, model.num_layers, skip=skip)
        candidate = model.candidate(frame, last)
        model.commit(candidate)
        obs = sim.step(candidate.action).observation
    return {'task': task, 'seed': seed, 'success': sim.success, 'steps': sim.steps}


def closed_loop(checkpoint: str, tasks: Sequence[str], episodes: int, seed: int,
                image_size: int = 64, skip: Sequence = (), threads: int = 1) -> List[Dict]:
    """Episodes per task; returns one summary dict per episode."""
    import torch

    from deer_ros.model.build import rollout_from_checkpoint
    from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
    torch.set_num_threads(threads)
    model = rollout_from_checkpoint(checkpoint, device='cpu')
    sim = MetaWorldSim(SimConfig(static_size=image_size, gripper_size=image_size))
    results = []
    try:
        for task in tasks:
            for e in range(episodes):
                results.append(run_episode(model, sim, task, seed + e, skip))
                r = results[-1]
                print(f'{task:26s} seed {r["seed"]:5d}  success {int(r["success"])}  '
                      f'steps {r["steps"]}', flush=True)
    finally:
        sim.close()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint')
    parser.add_argument('--tasks', nargs='+', default=DEFAULT_TASKS)
    parser.add_argument('--episodes', type=int, default=3)
    parser.add_argument('--seed', type=int, default=1000)
    parser.add_argument('--image-size', type=int, default=64,
                        help='rendered image side (the recordings used 64)')
    parser.add_argument('--skip-default-blocks', action='store_true',
                        help='skip every default block (with its adapter) at every step')
    args = parser.parse_args(argv)
    skip: Sequence = ()
    if args.skip_default_blocks:
        from deer_ros.training.blocks import blocks_for
        from deer_ros.model.checkpoint import read_config
        skip = blocks_for(read_config(args.checkpoint), None)
    start = time.perf_counter()
    results = closed_loop(args.checkpoint, args.tasks, args.episodes, args.seed,
                          args.image_size, skip)
    by_task: Dict[str, List[bool]] = {}
    for r in results:
        by_task.setdefault(r['task'], []).append(r['success'])
    for task, ok in by_task.items():
        print(f'{task:26s} {sum(ok)}/{len(ok)}')
    total = sum(r['success'] for r in results)
    print(f'overall {total}/{len(results)} = {total / max(1, len(results)):.0%} '
          f'({time.perf_counter() - start:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
