r"""Train a multi-exit model on recorded episodes (DeeR's recipe, deer_vla.md section 5).

Samples are windows of --window consecutive frames with the episode's instruction. One shared
exit head is trained on every exit's feature sequence and on random-exit histories (an exit
drawn per timestep; a prefix from exit a then exit b); loss = Huber(pose) + 0.01 * BCE(gripper).
AdamW, linear warm-up then constant LR, gradient clipping, random-shift augmentation. Phase 1
(--joint-steps) trains backbone and head; the optional phase 2 (--head-steps) trains only the
head on a frozen backbone (DeeR's "post" strategy).

--window 1 trains a head without history: the checkpoint's head then runs frame by frame at
inference too (head.history 'frame'), so its action has to come from the current cameras and
state. --early-frames N --early-repeat R samples the windows that start in an episode's first
N frames R times as often: the frames where the scene decides the motion carry the loss.

Checkpoints (our model format plus optimiser state) go to OUTPUT/step_N every --save-every
steps; --resume OUTPUT continues the latest one identically (--joint-steps / --head-steps may
then lengthen or shorten the schedule: the LR is constant after warm-up and every random draw
depends on the step only, so the result equals a run started with those values). The loss
plot is OUTPUT/loss.png.
A small preset has no pretrained weights, so by default everything trains, the vision
encoder included (--freeze to change). See docs/training.md.

Several processes / GPUs: start the same command with torchrun (torch.distributed; NCCL on
GPUs, one per process, gloo on CPU). --batch-size is the global batch: each of N processes
trains on batch_size / N windows of it, gradients are averaged by DistributedDataParallel, and
rank 0 alone prints, plots and writes checkpoints. With the same --batch-size and --seed the
run equals a one-process run up to float rounding, and a checkpoint resumes on any number of
processes that divides the batch. train_state.json records the world size and precision.

Precision: --precision bf16 or fp16 autocasts the forward (CUDA or CPU); the trained weights,
their gradients and AdamW's state stay fp32; fp16 adds loss scaling (GradScaler); weights
frozen by --freeze are kept in the compute precision. --checkpoint-activations recomputes
each language-model layer in the backward pass instead of storing its activations.

Data larger than memory: each recording's frames are resized once into a cache on disk (a
.deer_cache folder inside it, or --cache-dir; rebuilt when the recording changes) and
--workers DataLoader processes read the next batches from it while a step trains; the
trainer's memory does not grow with the dataset, and any --workers gives the same batches.

Memory plan: --plan prints, per GPU, the weights, gradients, AdamW state and activations of a
step of the run described (preset or --init / --resume checkpoint, --window, --batch-size,
--freeze, --precision, --checkpoint-activations; --plan-gpus N for DDP / FSDP over N GPUs),
counted on fake tensors at full size, without allocating anything, and exits.

Examples:
  deer-ros train runs/demos-tiny --preset tiny -o runs/train-tiny --export models/tiny-metaworld
  torchrun --nproc-per-node 8 -m deer_ros.cli train DATA --init models/deer-3b \
      --freeze deer --batch-size 32 --precision bf16 --checkpoint-activations -o runs/ft
  deer-ros train --preset deer-3b --freeze deer --batch-size 32 --precision fp16 \
      --plan --plan-gpus 8
"""
import argparse

COMMAND = 'train'
HELP = 'multi-exit training (DeeR recipe) on recorded demonstrations'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros train`."""
    from deer_ros.training.frame_cache import CACHE_DIR_HELP
    from deer_ros.cli.config_flags import add_config_flags
    from deer_ros.training.config import TrainConfig
    parser.add_argument('data', nargs='*', help='recorded dataset directories (optional with '
                        '--plan: then 2 cameras and 14 prompt tokens are assumed)')
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--preset', default='tiny', help='model preset trained from scratch '
                     '(default %(default)s)')
    src.add_argument('--init', metavar='CKPT', help='start from a checkpoint (our format)')
    src.add_argument('--resume', metavar='RUN', help='continue a run (its directory or a '
                     'step_N checkpoint in it); the saved settings are used')
    parser.add_argument('-o', '--output', default='runs/train', help='run directory '
                        '(default %(default)s)')
    parser.add_argument('--export', metavar='DIR',
                        help='also write the final model and its loss plot to DIR')
    add_config_flags(parser, TrainConfig, rename={'num_threads': 'threads'},
                     optional=('joint_steps', 'head_steps', 'precision'))
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto (under '
                        'torchrun, cuda means cuda:LOCAL_RANK)')
    parser.add_argument('--cache-dir', metavar='DIR', help=CACHE_DIR_HELP)
    plan = parser.add_argument_group('memory plan (nothing is allocated, nothing trains)')
    plan.add_argument('--plan', action='store_true', help='print the memory per GPU of this '
                      'run: weights, gradients, AdamW state and activations at the peak of a '
                      'step, counted on fake tensors at full size; then exit')
    plan.add_argument('--plan-gpus', type=int, metavar='N', help='with --plan: processes '
                      '(GPUs) to plan for; adds the DDP and FSDP layouts (default $WORLD_SIZE '
                      'or 1)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')


def run(args: argparse.Namespace) -> int:
    """Build or restore the model, train, export; 0 on success."""
    import pathlib

    import shlex
    import sys

    from deer_ros.training.runner import plan_from_args, train_from_args
    if args.plan or args.plan_gpus is not None:
        from deer_ros.bench.plan_report import plan_markdown
        command = 'deer-ros ' + ' '.join(shlex.quote(a) for a in sys.argv[1:])
        try:
            print(plan_markdown(plan_from_args(args), command))
        except ValueError as exc:
            print(f'deer-ros train --plan: {exc}', file=sys.stderr)
            return 2
        return 0
    if not args.data and not args.resume:
        print('deer-ros train: give the recordings to train on (only --plan runs without '
              'them)', file=sys.stderr)
        return 2
    final = train_from_args(args)
    if final is None:                    # a torchrun rank other than 0: rank 0 reports
        return 0
    print(f'final checkpoint: {final}')
    if args.export:
        print(f'exported to {pathlib.Path(args.export)}')
    return 0
