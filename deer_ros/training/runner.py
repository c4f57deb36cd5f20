"""`deer-ros train` glue: arguments -> config, data, model, trainer; resume and export."""
import argparse
import pathlib
import time
from typing import Any, List, Optional, Tuple

import torch

from deer_ros.training.config import TrainConfig
from deer_ros.training.state import TrainState, load_state, resolve_checkpoint

LOSS_PNG = 'loss.png'


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig from the CLI options (one flag per field, deer_ros.cli.config_flags).

    A flag left at None (--joint-steps / --head-steps not given) keeps the config's default.
    """
    return TrainConfig.from_dict({k: v for k, v in vars(args).items() if v is not None})


def load_data(paths: List[str], tokenizer: Any, vision: Any, window: int, progress: bool,
              early: Tuple[int, int] = (0, 1), cache_dir: Optional[str] = None) -> Any:
    """WindowDataset over every episode of the given recordings, frames read from disk.

    Each recording's frames are preprocessed once into its frame cache (beside it, or under
    cache_dir; rebuilt when the recording changes), so memory does not grow with the data.
    early: WindowDataset's.
    """
    from deer_ros.training.data import WindowDataset
    from deer_ros.training.frame_cache import open_cache
    stores = [open_cache(p, vision, cache_dir, progress) for p in paths]
    return WindowDataset.from_stores(stores, tokenizer, window, early=early)


def with_history(model: Any, window: int) -> Any:
    """The model, its head remembering at inference what it saw in training (head.history).

    A head trained on windows of one frame never saw a carried LSTM state: it runs
    frame by frame ('frame'); longer windows carry the state through the rollout ('episode').
    """
    import dataclasses
    history = 'frame' if window == 1 else 'episode'
    if model.cfg.head.history != history:
        head = dataclasses.replace(model.cfg.head, history=history)
        model.cfg = dataclasses.replace(model.cfg, head=head)
        model.extra_exit.cfg = head
    return model


Started = Tuple[Any, Any, TrainConfig, TrainState, List[str], Any]


def with_state_input(model_cfg: Any, paths: List[str]) -> Any:
    """model_cfg whose head takes the robot state, normalised by the recordings' statistics.

    Only the `state` arrays are read (npz members load lazily); a recording without them is
    an error: the state input cannot be learnt from nothing.
    """
    import dataclasses

    import numpy as np

    from deer_ros.data.recording import STATE_DIM, list_episodes
    states = []
    for path in (e for p in paths for e in list_episodes(p)):
        with np.load(path, allow_pickle=False) as arrays:
            if 'state' not in arrays.files:
                raise ValueError(f'{path} has no robot state; record it or drop --use-state')
            states.append(arrays['state'])
    stacked = np.concatenate(states).astype(np.float64)
    mean = tuple(round(float(v), 6) for v in stacked.mean(0))
    std = tuple(round(max(float(v), 1e-3), 6) for v in stacked.std(0))
    head = dataclasses.replace(model_cfg.head, state_dim=STATE_DIM, state_mean=mean,
                               state_std=std)
    return dataclasses.replace(model_cfg, head=head)


def _start(args: argparse.Namespace) -> Started:
    from deer_ros.model.build import build_model, preset_config
    from deer_ros.model.checkpoint import load_checkpoint
    from deer_ros.model.tokenizer import load_tokenizer
    if args.resume:
        ckpt = resolve_checkpoint(args.resume)
        state = load_state(ckpt)
        saved = dict(state.extra['train_config'])
        for key in ('joint_steps', 'head_steps', 'precision'):
            if getattr(args, key) is not None:
                saved[key] = getattr(args, key)
        cfg = TrainConfig.from_dict(saved)
        old_joint = int(state.extra['train_config']['joint_steps'])
        if state.step > cfg.total_steps or (state.step > min(old_joint, cfg.joint_steps)
                                            and old_joint != cfg.joint_steps):
            raise ValueError(f'cannot resume at step {state.step} with joint_steps '
                             f'{cfg.joint_steps}, head_steps {cfg.head_steps}')
        state.extra['train_config'] = cfg.to_dict()
        model, tokenizer = load_checkpoint(str(ckpt))
        return model, tokenizer, cfg, state, list(state.extra['data']), ckpt
    cfg = config_from_args(args)
    if args.init:
        model, tokenizer = load_checkpoint(args.init)
    else:
        tokenizer = load_tokenizer()
        model_cfg = preset_config(args.preset, tokenizer)
        if cfg.use_state:
            model_cfg = with_state_input(model_cfg, args.data)
        model = build_model(model_cfg, seed=cfg.seed)
    model = with_history(model, cfg.window)
    extra = {'train_config': cfg.to_dict(), 'data': [str(p) for p in args.data],
             'init': args.init or f'preset:{args.preset}', 'model_seed': cfg.seed}
    return model, tokenizer, cfg, TrainState(extra=extra), list(args.data), None


def train_from_args(args: argparse.Namespace) -> Optional[pathlib.Path]:
    """Run (or resume) training as the CLI describes; returns the final checkpoint dir.

    Under torchrun every process runs this: each joins the process group, trains its shard
    of every step, and rank 0 alone prints, plots and writes (the other ranks return None).
    """
    from deer_ros.model.rollout import resolve_device
    from deer_ros.training.distributed import init_from_env, shutdown
    ctx = init_from_env(resolve_device(args.device))
    try:
        return _train(args, ctx)
    finally:
        shutdown(ctx)


def _train(args: argparse.Namespace, ctx: Any) -> Optional[pathlib.Path]:
    from deer_ros.model.checkpoint import save_checkpoint
    from deer_ros.training.plot import plot_losses
    from deer_ros.training.state import step_dir
    from deer_ros.training.trainer import MultiExitTrainer

    model, tokenizer, cfg, state, data_paths, ckpt = _start(args)
    torch.set_num_threads(cfg.num_threads)
    run_dir = pathlib.Path(args.output if not args.resume else _run_dir(args.resume))
    main = ctx.is_main
    progress = main and not args.no_progress
    data = load_data(data_paths, tokenizer, model.cfg.vision, cfg.window, progress,
                     early=(cfg.early_frames, cfg.early_repeat), cache_dir=args.cache_dir)
    world = ctx.shard.world_size
    record_run(state, world, cfg.precision)
    trainer = MultiExitTrainer(model, tokenizer, data, cfg, state=state, ctx=ctx)
    if main:
        print(f'{data.num_episodes} episodes, {len(data)} windows of {cfg.window}; '
              f'{cfg.total_steps} steps on {world} x {ctx.device} ({ctx.backend or "single"}'
              f' process{"es" if world > 1 else ""}, {cfg.batch_size // world} windows '
              f'each per step), {cfg.precision}; run dir {run_dir}')
    if ckpt is not None:
        trainer.resume_optimizer(ckpt)
        if main:
            print(f'resumed from {ckpt} at step {state.step}')
    started = time.perf_counter()
    elapsed0 = float(state.extra.get('train_seconds', 0.0))

    def on_save(path: pathlib.Path) -> None:
        state.extra['train_seconds'] = elapsed0 + time.perf_counter() - started
        plot_losses(state.history, str(run_dir / LOSS_PNG), title=_title(model, cfg))

    trainer.state.extra['windows'] = len(data)
    at_end = trainer.state.step >= cfg.total_steps     # the same on every rank
    trainer.fit(run_dir, progress=progress, on_save=on_save)
    final = step_dir(run_dir, trainer.state.step)
    if at_end and not final.exists():            # resumed at the end: nothing new to save
        final = trainer.save(run_dir)
    if not main:
        return None
    on_save(final)
    if args.export:
        meta = {'trained_steps': trainer.state.step, 'train_config': cfg.to_dict(),
                'data': data_paths, 'windows': len(data), 'init': state.extra.get('init'),
                'train_seconds': round(state.extra['train_seconds'], 1)}
        out = save_checkpoint(args.export, trainer.model, tokenizer, metadata=meta)
        plot_losses(state.history, str(out / LOSS_PNG), title=_title(model, cfg))
    return final


def record_run(state: TrainState, world_size: int, precision: str) -> None:
    """Note in the training state which world size and precision train from this step on.

    `runs` lists [first step, world size, precision] each time a (resumed) run changes them.
    """
    runs = state.extra.setdefault('runs', [])
    if not runs or runs[-1][1:] != [world_size, precision]:
        runs.append([state.step, world_size, precision])
    state.extra.update(world_size=world_size, precision=precision)


def plan_from_args(args: argparse.Namespace) -> Any:
    """The MemoryPlan of the run these arguments describe; loads no weights.

    The model config comes from the preset, --init's or --resume's checkpoint; cameras and
    prompt length from the recordings when given.
    """
    from deer_ros.model.build import preset_config
    from deer_ros.model.checkpoint import read_config
    from deer_ros.training.memory_plan import DEFAULT_TOKENS, plan_for_run
    if args.plan_gpus is not None and not args.plan:
        raise ValueError('--plan-gpus needs --plan')
    data = list(args.data)
    if args.resume:
        ckpt = resolve_checkpoint(args.resume)
        cfg = TrainConfig.from_dict(load_state(ckpt).extra['train_config'])
        model_cfg = read_config(str(ckpt))
    else:
        cfg = config_from_args(args)
        model_cfg = read_config(args.init) if args.init else preset_config(args.preset)
        if cfg.use_state:
            model_cfg = with_state_input(model_cfg, data)
    cameras, tokens = _data_shape(data) if data else (2, DEFAULT_TOKENS)
    return plan_for_run(model_cfg, cfg, args.plan_gpus, tokens, cameras)


def _data_shape(paths: List[str]) -> Tuple[int, int]:
    """(cameras, longest prompt in tokens) of the recordings, from their metadata only."""
    import json

    from deer_ros.data.recording import list_episodes, read_info
    from deer_ros.model.tokenizer import load_tokenizer, prompt
    tokenizer = load_tokenizer()
    cameras = {1 if read_info(p).gripper_size is None else 2 for p in paths}
    if len(cameras) != 1:
        raise ValueError('the recordings mix one and two cameras')
    instructions = {json.loads(e.with_suffix('.json').read_text())['instruction']
                    for p in paths for e in list_episodes(p)}
    tokens = max(len(tokenizer(prompt(i, tokenizer.eos_token))['input_ids'])
                 for i in instructions)
    return cameras.pop(), tokens


def _run_dir(resume: str) -> pathlib.Path:
    ckpt = resolve_checkpoint(resume)
    return ckpt.parent


def _title(model: Any, cfg: TrainConfig) -> str:
    return (f'{model.cfg.name}: multi-exit training (window {cfg.window}, '
            f'batch {cfg.batch_size}, seed {cfg.seed})')
