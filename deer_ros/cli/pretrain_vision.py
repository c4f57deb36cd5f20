"""Pretrain a preset's perceiver (and optionally its ViT) to localise the task objects, for --init.

Renders MetaWorld scenes right after reset (every other one with the hand start jittered) and
trains the perceiver (with --train-encoder the ViT too; by default it stays frozen at its random
initialisation, as in the shipped recipe), through a small attention read-out, to regress the
object and goal positions (or, in a language-conditioned task, the object and every marker:
the vision encoder never sees the instruction). The positions are simulator truth, used for
training only. The output is a checkpoint of the preset (with the robot-state input when
--state-from is given) whose vision encoder and perceiver carry the pretrained weights;
everything else is freshly initialised. Train it on with
`deer-ros train DATA --init OUT --freeze vision` (docs/training.md, the shipped recipe).

Example (the shipped model's step 3, about 200 s of rendering + 6 min on 2 CPU cores):
  deer-ros pretrain-vision -o runs/pv --scenes-per-task 2000 --state-from runs/dart runs/demos
"""
import argparse
import json
from pathlib import Path

COMMAND = 'pretrain-vision'
HELP = 'pretrain the perceiver (+ ViT) to localise scene objects (for train --init)'
TASKS = ('reach-v3', 'button-press-topdown-v3', 'drawer-close-v3', 'drawer-open-v3',
         'window-open-v3')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros pretrain-vision`."""
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.training.vision_pretrain import VisionPretrainConfig
    parser.add_argument('-o', '--output', required=True, help='checkpoint directory to write')
    parser.add_argument('--preset', default='mini2', help='model preset (default: mini2)')
    parser.add_argument('--state-from', nargs='+', default=None, metavar='DATA',
                        help='recordings whose robot-state statistics the model\'s state '
                             'input is normalised with (a model without state input if absent)')
    tasks = parser.add_mutually_exclusive_group()
    tasks.add_argument('--tasks', nargs='+', default=list(TASKS), metavar='TASK',
                       help='tasks to render (default: the five of the shipped model)')
    tasks.add_argument('--suite', default=None,
                       help='a registered task suite instead of --tasks (e.g. depth)')
    add_config_flags(parser, VisionPretrainConfig, rename={'num_threads': 'threads'})
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Render, pretrain, write the checkpoint and its R^2 history."""
    import torch
    from deer_ros.cli.config_flags import config_from_args
    from deer_ros.model.build import build_model, preset_config
    from deer_ros.model.checkpoint import save_checkpoint
    from deer_ros.model.tokenizer import load_tokenizer
    from deer_ros.sim.scene_samples import render_scenes
    from deer_ros.sim.tasks import suite_tasks
    from deer_ros.training.runner import with_state_input
    from deer_ros.training.vision_pretrain import VisionPretrainConfig, pretrain_vision
    try:
        cfg = config_from_args(VisionPretrainConfig, args)
        tasks = list(suite_tasks(args.suite)) if args.suite else list(args.tasks)
        tokenizer = load_tokenizer()
        model_cfg = preset_config(args.preset, tokenizer)
    except (KeyError, ValueError) as exc:
        print(f'deer-ros pretrain-vision: {exc}')
        return 2
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.num_threads)
    if args.state_from:
        model_cfg = with_state_input(model_cfg, args.state_from)
    model = build_model(model_cfg, seed=cfg.seed)
    static, gripper, targets, task_ids = render_scenes(
        tasks, cfg.scenes_per_task, cfg.scene_seed, model.cfg.vision.image_size,
        progress=not args.no_progress)
    history = pretrain_vision(model, static, gripper, targets, task_ids, cfg)
    out = Path(args.output)
    save_checkpoint(str(out), model, tokenizer, metadata={'vision_pretraining': {
        **cfg.to_dict(), 'tasks': tasks, 'preset': args.preset}})
    (out / 'vision_pretraining.json').write_text(json.dumps(history, indent=1))
    print(f'wrote {out} (held-out R^2 history in vision_pretraining.json)')
    return 0
