"""Convert an official DeeR-VLA checkpoint (+ the files it needs) into our checkpoint format.

The DeeR .pth carries the trained perceiver, cross-attention, embedding and exit head; the
frozen MPT blocks come from its `old_decoder_blocks` alias or --mpt, missing trainables from
--openflamingo, and the vision tower from --clip. The architecture is read from the files
(MPT config.json, the CLIP weights' shapes or an open_clip config beside them, the head fields
and shapes in the .pth); --preset only fills what no file says, --set overrides any field.
Every parameter the model needs must be found (strict accounting); unexpected keys are listed.
The output directory (config.json, model.safetensors, tokenizer/) loads with
`--checkpoint DIR` everywhere. See docs/official_checkpoints.md.

Example:
  deer-ros convert deer_D_D.pth --out ckpt/deer-3b-D --tokenizer mpt-1b-dolly/
      --mpt mpt-1b-dolly/ --openflamingo of3b/checkpoint.pt --clip vit-l-14-openai.bin
"""
import argparse
import json
from typing import Any, Dict

COMMAND = 'convert'
HELP = 'convert an official DeeR checkpoint into our safetensors + JSON format'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input files, architecture preset and output directory."""
    parser.add_argument('deer', help='official DeeR .pth (torch.save dict, model_state_dict)')
    parser.add_argument('--out', required=True, help='output directory (our format)')
    add_official_arguments(parser)
    parser.add_argument('--max-exit', type=int, default=None,
                        help='keep only the layers up to this exit index')


def run(args: argparse.Namespace) -> int:
    """Load strictly, save in our format, print a JSON summary."""
    from deer_ros.model.checkpoint import save_checkpoint
    from deer_ros.model.official import load_official
    loaded = load_official(args.deer, max_exit=args.max_exit, **official_kwargs(args))
    out = save_checkpoint(args.out, loaded.model, loaded.tokenizer,
                          metadata={'converted_from': args.deer, 'sources': loaded.report.sources})
    report = loaded.report
    print(json.dumps({'out': str(out), 'config': loaded.model.cfg.name,
                      'layers': loaded.model.cfg.lm.n_layers,
                      'exit_layers': list(loaded.model.cfg.exit_layers),
                      'taken': report.sources, 'unexpected': report.unexpected,
                      'ignored': len(report.ignored), 'architecture_from': loaded.origin}))
    return 0


def add_official_arguments(parser: argparse.ArgumentParser) -> None:
    """The files an official DeeR .pth needs, and the architecture knobs (also for infer)."""
    group = parser.add_argument_group('official DeeR checkpoint files')
    group.add_argument('--tokenizer', help='base tokenizer directory (MPT: GPT-NeoX); '
                                           "DeeR's tokens are added as DeeR adds them")
    group.add_argument('--clip', help='open_clip ViT-L-14 openai weights (file or HF dir)')
    group.add_argument('--openflamingo', help='OpenFlamingo checkpoint.pt')
    group.add_argument('--mpt', help='base MPT directory (config.json + weights) or file')
    group.add_argument('--preset', default=None,
                       help='fills only what no file says (default: deer-3b, or deer-9b for '
                            'd_model 4096); for infer without --checkpoint: random weights '
                            '(default tiny)')
    group.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                       dest='overrides',
                       help='override one architecture field, e.g. lm.n_heads=16, '
                            'head.lstm_num_layers=4, early_exit_layer=11, exit_interval=2, '
                            'vision.transform=torch (repeatable)')


def official_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """load_official keyword arguments from the parsed official-file options."""
    from deer_ros.model.official_config import parse_overrides
    return {'preset': args.preset, 'tokenizer_path': args.tokenizer, 'clip_path': args.clip,
            'openflamingo_path': args.openflamingo, 'mpt_path': args.mpt,
            'overrides': parse_overrides(args.overrides)}
