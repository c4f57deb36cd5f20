"""`deer-ros bench train`: training throughput per world size and precision, side by side.

Each variant (processes x precision) is a real torchrun job (`python -m torch.distributed.run
--standalone`, gloo on CPU, NCCL on CUDA) running this module's worker: the MultiExitTrainer
of `deer-ros train` on a synthetic recording, `warmup` untimed steps, then `steps` timed ones
between barriers. Variants run in turns (rounds), so a load change on a shared machine falls
on all of them; the table gives the median over rounds of samples (windows) per second and
each variant's ratio to the first.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Tuple

from deer_ros.bench.config import BenchConfig, own_default
from deer_ros.ros_io.param_schema import setting
from deer_ros.training.config import FREEZE_CHOICES


@dataclass(frozen=True)
class TrainBenchConfig(BenchConfig):
    """Settings of `deer-ros bench train`."""

    preset: str = own_default('preset', 'tiny')
    steps: int = own_default('steps', 10)
    warmup: int = own_default('warmup', 2)
    processes: str = setting('1,2', 'world sizes to compare, comma-separated')
    precisions: str = setting('fp32,bf16', 'precisions to compare, comma-separated')
    batch_size: int = setting(8, 'global batch, windows per step', min=1, max=100000)
    window: int = setting(4, 'frames per window', min=1, max=64)
    rounds: int = setting(2, 'turns over all variants (median reported)', min=1, max=100)
    freeze: str = setting('none', "frozen parameters, as deer-ros train's --freeze",
                          choices=FREEZE_CHOICES)
    checkpoint_activations: bool = setting(False, 'recompute each LM layer in backward')

    def variants(self) -> List[Tuple[int, str]]:
        """(processes, precision) pairs in table order."""
        procs = [int(p) for p in self.processes.split(',') if p.strip()]
        precs = [p.strip() for p in self.precisions.split(',') if p.strip()]
        return [(n, p) for n in procs for p in precs]


def synthetic_recording(root: pathlib.Path, image_size: int, episodes: int = 4,
                        length: int = 16, seed: int = 0) -> str:
    """A recording of random two-camera episodes at the model's image size."""
    import numpy as np

    from deer_ros.data.recording import Episode, write_episode
    rng = np.random.default_rng(seed)
    for i in range(episodes):
        frames = rng.integers(0, 256, (2, length, image_size, image_size, 3), dtype=np.uint8)
        actions = rng.uniform(-1, 1, (length, 7)).astype(np.float32)
        actions[:, 6] = np.sign(actions[:, 6])
        write_episode(root, Episode(instruction='pick up the block', task=f'synthetic-{i}',
                                    static=frames[0], gripper=frames[1], actions=actions))
    return str(root)


def run_train_bench(cfg: TrainBenchConfig) -> Dict[str, Any]:
    """Run every variant `rounds` times in turns; returns a JSON-ready result."""
    from deer_ros.bench.models import environment
    from deer_ros.model.build import preset_config
    variants = cfg.variants()
    if not variants:
        raise ValueError('no variant to run (empty --processes or --precisions)')
    samples: Dict[str, List[float]] = {_name(n, p): [] for n, p in variants}
    peaks: Dict[str, List[float]] = {_name(n, p): [] for n, p in variants}
    with tempfile.TemporaryDirectory(prefix='deer-bench-train-') as tmp:
        size = preset_config(cfg.preset).vision.image_size
        data = synthetic_recording(pathlib.Path(tmp) / 'demos', size, seed=cfg.seed)
        for _ in range(cfg.rounds):
            for n, precision in variants:
                out = pathlib.Path(tmp) / 'result.json'
                _launch(cfg, n, precision, data, out)
                measured = json.loads(out.read_text())
                samples[_name(n, precision)].append(measured['samples_s'])
                peaks[_name(n, precision)].append(measured['cuda_peak_gib'])
    medians = {k: statistics.median(v) for k, v in samples.items()}
    first = medians[_name(*variants[0])]
    rows = [dict(variant=_name(n, p), processes=n, precision=p, samples_s=medians[_name(n, p)],
                 rounds=samples[_name(n, p)], ratio=medians[_name(n, p)] / first,
                 cuda_peak_gib=max((v for v in peaks[_name(n, p)] if v is not None),
                                   default=None))
            for n, p in variants]
    env = environment(cfg.device, cfg.threads, cfg.command)
    env['note'] = (f'{os.cpu_count()} CPU cores on this machine, shared with whatever else '
                   'runs; each process uses --threads intra-op threads')
    return dict(benchmark='train', config=asdict(cfg), environment=env, rows=rows)


def _name(processes: int, precision: str) -> str:
    return f'{processes} x {precision}'


def _launch(cfg: TrainBenchConfig, processes: int, precision: str, data: str,
            out: pathlib.Path) -> None:
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc-per-node', str(processes), '-m', __name__, str(out), data,
           '--preset', cfg.preset, '--precision', precision, '--device', cfg.device,
           '--batch-size', str(cfg.batch_size), '--window', str(cfg.window),
           '--steps', str(cfg.steps), '--warmup', str(cfg.warmup),
           '--threads', str(cfg.threads), '--seed', str(cfg.seed), '--freeze', cfg.freeze]
    if cfg.checkpoint_activations:
        cmd.append('--checkpoint-activations')
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{done.stderr[-3000:]}')


def train_bench_markdown(result: Dict[str, Any]) -> str:
    """Samples/s per variant and the ratio to the first."""
    from deer_ros.bench.report import environment_lines, table
    cfg = result['config']
    rows = [[r['variant'], r['samples_s'], r['samples_s'] * cfg['window'], r['ratio'],
             ', '.join(f'{v:.2f}' for v in r['rounds']), r['cuda_peak_gib']]
            for r in result['rows']]
    lines = [f"### Training throughput: {cfg['preset']}, global batch {cfg['batch_size']} "
             f"windows of {cfg['window']} frames, {cfg['steps']} timed steps, "
             f"--freeze {cfg['freeze']}", '',
             *environment_lines(result), '',
             table(['processes x precision', 'samples/s', 'frames/s', 'ratio to first',
                    'per round', 'CUDA peak GiB (rank 0)'], rows, digits=2)]
    return '\n'.join(lines)


def _worker(argv: List[str]) -> None:
    """One rank of a variant: time `steps` trainer steps; rank 0 writes samples/s."""
    import torch

    from deer_ros.cli.train import add_arguments
    from deer_ros.model.build import build_model, preset_config
    from deer_ros.model.tokenizer import load_tokenizer
    from deer_ros.training.distributed import barrier, init_from_env, shutdown
    from deer_ros.training.runner import config_from_args, load_data
    from deer_ros.training.trainer import MultiExitTrainer
    parser = argparse.ArgumentParser()
    parser.add_argument('out')
    parser.add_argument('--steps', type=int)
    parser.add_argument('--warmup', type=int)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.joint_steps = args.steps + args.warmup
    ctx = init_from_env(torch.device(args.device))
    try:
        cfg = config_from_args(argparse.Namespace(**{
            k: v for k, v in vars(args).items() if k not in ('out', 'steps', 'warmup')}))
        torch.set_num_threads(cfg.num_threads)
        tokenizer = load_tokenizer()
        model = build_model(preset_config(args.preset, tokenizer), seed=cfg.seed)
        data = load_data(args.data, tokenizer, model.cfg.vision, cfg.window, False)
        trainer = MultiExitTrainer(model, tokenizer, data, cfg, ctx=ctx)
        for _ in range(args.warmup):
            trainer.train_step()
        barrier(ctx)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        barrier(ctx)
        seconds = time.perf_counter() - start
        peak = None
        if ctx.device.type == 'cuda':                 # rank 0's GPU: every rank holds as much
            peak = torch.cuda.max_memory_allocated(ctx.device) / 2**30
        if ctx.is_main:
            pathlib.Path(args.out).write_text(json.dumps(
                {'samples_s': cfg.batch_size * args.steps / seconds, 'seconds': seconds,
                 'cuda_peak_gib': peak}))
    finally:
        shutdown(ctx)


if __name__ == '__main__':
    _worker(sys.argv[1:])
