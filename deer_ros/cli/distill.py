"""Train skip adapters by DySL-style two-stage distillation from a trained, frozen model.

Stage 1: each skippable block's adapter learns to reproduce the block's output from its input
(layer-output distillation). Stage 2: with blocks skipped at random per frame, the head's
actions on the skipped path learn to match the full path's (and the demonstration labels).
Backbone and head stay frozen: the full path is unchanged. Blocks come from --layers (a YAML
written by `deer-ros analyze-layers`) or the default of deer_ros.policies.skipping.

The output is a checkpoint in our format with the adapters inside: every deer-ros command
that loads it registers them (ModelRollout.register_adapter). See docs/training.md.

Example:
  deer-ros distill models/tiny-metaworld runs/demos-tiny -o models/tiny-metaworld
"""
import argparse

COMMAND = 'distill'
HELP = 'DySL-style two-stage distillation of skip adapters into a checkpoint'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros distill`."""
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.training.config import DistillConfig
    from deer_ros.training.frame_cache import CACHE_DIR_HELP
    parser.add_argument('checkpoint', help='trained model (our checkpoint format)')
    parser.add_argument('data', nargs='+', help='recorded dataset directories')
    parser.add_argument('-o', '--output', required=True,
                        help='checkpoint directory to write (may equal the input)')
    parser.add_argument('--layers', metavar='YAML',
                        help='analyze-layers output giving the blocks (default: the default '
                             'static layers of deer_ros.policies.skipping)')
    add_config_flags(parser, DistillConfig, rename={'num_threads': 'threads'})
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto')
    parser.add_argument('--cache-dir', metavar='DIR', help=CACHE_DIR_HELP)
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')


def run(args: argparse.Namespace) -> int:
    """Distil and write the checkpoint with its adapters."""
    import json
    import pathlib
    import time

    import torch

    from deer_ros.cli.config_flags import config_from_args
    from deer_ros.model.checkpoint import CONFIG, load_checkpoint, save_checkpoint
    from deer_ros.model.rollout import resolve_device
    from deer_ros.training.blocks import blocks_for
    from deer_ros.training.config import DistillConfig
    from deer_ros.training.distill import SkipDistiller
    from deer_ros.training.plot import plot_losses
    from deer_ros.training.runner import load_data

    cfg = config_from_args(DistillConfig, args)
    torch.set_num_threads(cfg.num_threads)
    model, tokenizer = load_checkpoint(args.checkpoint)
    old_meta = json.loads((pathlib.Path(args.checkpoint) / CONFIG).read_text()).get(
        'metadata', {})
    if model.cfg.head.history == 'frame' and cfg.window != 1:
        raise ValueError('this head runs frame by frame (trained at --window 1, head.history '
                         "'frame'): distil it with --window 1 and a larger --batch-size")
    blocks = blocks_for(model.cfg, args.layers)
    data = load_data(args.data, tokenizer, model.cfg.vision, cfg.window,
                     progress=not args.no_progress, cache_dir=args.cache_dir)
    device = resolve_device(args.device)
    print(f'blocks {blocks}; {len(data)} windows; {cfg.stage1_steps} + {cfg.stage2_steps} '
          f'steps on {device}')
    distiller = SkipDistiller(model, tokenizer, data, blocks, cfg, device=str(device))
    identity = distiller.eval_stage1(identity=True)
    start = time.perf_counter()
    history = distiller.fit(progress=not args.no_progress)
    seconds = time.perf_counter() - start
    trained = distiller.eval_stage1()
    meta = dict(old_meta)
    meta['distill'] = {'config': cfg.to_dict(), 'blocks': [list(b) for b in blocks],
                       'layers_yaml': args.layers, 'data': list(args.data),
                       'stage1_eval': {'identity': round(identity, 5),
                                       'adapters': round(trained, 5)},
                       'final': {k: round(v, 5) for k, v in history[-1].items()},
                       'seconds': round(seconds, 1)}
    out = save_checkpoint(args.output, distiller.model, tokenizer,
                          adapters=distiller.adapters.cpu(), metadata=meta)
    plot_losses(history, str(out / 'distill_loss.png'), title='skip-adapter distillation')
    print(f'stage-1 relative block MSE (held-out draws): identity {identity:.4f}, '
          f'adapters {trained:.4f}')
    print(f'wrote {out} ({len(blocks)} adapters, {seconds:.0f} s)')
    return 0
