"""Run an episode of frames through the model without ROS, one JSON line per frame.

For checking a checkpoint and for debugging. The head's LSTM state carries across the frames
of one call, as in a rollout. `gflops` follows DeeR's paper convention: multiply-accumulates
(GMAC) of the language-model layers run plus the head evaluations; vision cost is reported
separately as `vision_gmacs`.

Examples:
  deer-ros infer --preset tiny --seed 0 --static a.png b.png --instruction "open the drawer"
  deer-ros infer --checkpoint ckpt/ --static s*.png --gripper g*.png --exit-policy deer
      --thresholds 0.02 0.003 0.007 0.009 0.005 1e5
  deer-ros infer --checkpoint deer.pth --tokenizer mpt-1b/ --clip clip.bin --mpt mpt-1b/
      --openflamingo of3b.pt --static s*.png --gripper g*.png --exit-policy deer
      --thresholds -1e8 0.003 0.007 0.009 0.005 1e5
(an official .pth needs no --preset: its architecture is read from the files.)
"""
import argparse
import json
import pathlib
from typing import Any, Dict, List, Optional

from deer_ros.cli.convert import add_official_arguments, official_kwargs, readable_errors
from deer_ros.model.config import HEAD_STEPS, TRANSFORMS

COMMAND = 'infer'
HELP = 'run image frames through the model (no ROS) and print one JSON line per frame'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Model source, inputs and exit policy."""
    src = parser.add_argument_group('model')
    src.add_argument('--checkpoint', help='our checkpoint directory or an official DeeR .pth')
    src.add_argument('--seed', type=int, default=0, help='weights seed for --preset')
    src.add_argument('--device', default=None, help='torch device (default: cuda if available)')
    src.add_argument('--precision', default='fp32', help='fp32 | amp | fp16 | bf16 (autocast)')
    src.add_argument('--max-exit', type=int, default=None,
                     help='build only the layers up to this exit index (memory cap)')
    src.add_argument('--transform', choices=TRANSFORMS, default=None,
                     help="image resize: pil = open_clip's eval transform exactly, torch = "
                          'faster, 1-2 levels off (default: what the checkpoint was trained '
                          'with; official files: pil)')
    src.add_argument('--head-step', choices=HEAD_STEPS, default=None,
                     help="per-frame head: exact = nn.LSTM's own call (DeeR's float order), "
                          'fused = the recurrent term shared by every exit (cheaper, poses '
                          'within ~7e-7) (default: what the checkpoint records; official '
                          'files: exact)')
    add_official_arguments(parser)
    inp = parser.add_argument_group('inputs')
    inp.add_argument('--static', nargs='+', required=True, metavar='IMG',
                     help='static-camera images, one per frame, in order (.png/.jpg/.npy)')
    inp.add_argument('--gripper', nargs='+', metavar='IMG', help='gripper-camera images')
    inp.add_argument('--instruction', default='push the red block to the left')
    pol = parser.add_argument_group('exit policy')
    pol.add_argument('--exit-policy', choices=('deer', 'fixed', 'full'), default='full')
    pol.add_argument('--thresholds', nargs='+', type=float, metavar='T',
                     help='deer: one threshold per exit (the last exit is always forced)')
    pol.add_argument('--fixed-exit', type=int, default=None, help='fixed: exit index')
    pol.add_argument('--criterion', default='rms', help='deer: rms | mean | max')


def run(args: argparse.Namespace) -> int:
    """Load the model, then print one JSON object per frame."""
    from deer_ros.model.build import rollout_from_checkpoint, rollout_from_preset
    if args.gripper and len(args.gripper) != len(args.static):
        raise SystemExit('--gripper needs one image per --static image')
    if args.exit_policy == 'deer' and not args.thresholds:
        raise SystemExit('--exit-policy deer needs --thresholds')
    if args.exit_policy == 'fixed' and args.fixed_exit is None:
        raise SystemExit('--exit-policy fixed needs --fixed-exit')
    if args.checkpoint:
        if pathlib.Path(args.checkpoint).is_dir() and (args.overrides or args.preset):
            raise SystemExit('--set / --preset apply to an official .pth; a converted directory '
                             'carries its whole config')
        with readable_errors('infer'):
            official = {} if pathlib.Path(args.checkpoint).is_dir() else official_kwargs(args)
            rollout = rollout_from_checkpoint(args.checkpoint, device=args.device,
                                              precision=args.precision, max_exit=args.max_exit,
                                              transform=args.transform,
                                              head_step=args.head_step,
                                              **{k: v for k, v in official.items() if v})
    else:
        rollout = rollout_from_preset(args.preset or 'tiny', seed=args.seed, device=args.device,
                                      precision=args.precision, max_exit=args.max_exit,
                                      transform=args.transform, head_step=args.head_step)
    rollout.reset(args.instruction)
    grippers = args.gripper or [None] * len(args.static)
    for index, (static, gripper) in enumerate(zip(args.static, grippers)):
        frame = rollout.encode(read_rgb(static), read_rgb(gripper) if gripper else None)
        record = step(rollout, frame, args.exit_policy, args.thresholds, args.fixed_exit,
                      args.criterion)
        print(json.dumps({'frame': index, **record}), flush=True)
    return 0


def read_rgb(path: str) -> Any:
    """(H, W, 3) uint8 RGB from an image file (PIL) or a .npy array."""
    import numpy as np
    p = pathlib.Path(path)
    if p.suffix == '.npy':
        image = np.load(p)
    else:
        from PIL import Image
        with Image.open(p) as img:
            image = np.asarray(img.convert('RGB'))
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SystemExit(f'{path}: expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}')
    return image


def step(rollout: Any, frame: Any, policy: str, thresholds: Optional[List[float]],
         fixed_exit: Optional[int], criterion: str = 'rms') -> Dict[str, Any]:
    """One control step under a minimal exit policy; commits the exit taken."""
    from deer_ros.policies.criterion import NEVER_EXIT, consistency_value, should_exit
    exits = rollout.exit_layers[:rollout.resident_exit + 1]
    last = len(exits) - 1
    targets = {'full': [last], 'fixed': [min(fixed_exit or 0, last)],
               'deer': list(range(last + 1))}[policy]
    candidates, head_evals = [], 0
    ref = None
    if policy == 'deer':                       # the first exit compares with layer 0's head
        rollout.run_layers(frame, 0, 1)
        ref = rollout.candidate(frame, 0)
        head_evals += 1
    for k in targets:
        if frame.layers_done <= exits[k]:
            rollout.run_layers(frame, frame.layers_done, exits[k] + 1)
        cand = rollout.candidate(frame, exits[k])
        head_evals += 1
        value = None if ref is None else consistency_value(cand.pose, ref.pose, criterion)
        candidates.append({'exit': k, 'layer': exits[k], 'pose': cand.pose.tolist(),
                           'gripper_prob': cand.gripper_prob, 'value': value})
        chosen, ref = (k, cand), cand
        threshold = thresholds[k] if thresholds and k < len(thresholds) else NEVER_EXIT
        if policy != 'deer' or should_exit(value, threshold, k == last):
            break
    rollout.commit(chosen[1])
    layers = exits[chosen[0]] + 1
    gmacs = sum(rollout.layer_gmacs()[:layers]) + head_evals * rollout.head_gmacs
    return {'action': chosen[1].action.tolist(), 'exit_index': chosen[0],
            'exit_layer': exits[chosen[0]], 'layers_executed': layers, 'gflops': gmacs,
            'vision_gmacs': rollout.vision_gmacs, 'head_evals': head_evals,
            'candidates': candidates}
