"""Convert an official DeeR-VLA checkpoint (+ the files it needs) into our checkpoint format.

The DeeR .pth carries the trained perceiver, cross-attention, embedding and exit head; the
frozen MPT blocks come from its `old_decoder_blocks` alias or --mpt, missing trainables from
--openflamingo, and the vision tower from --clip. Every parameter the model needs must be
found (strict accounting); unexpected keys are listed. The output directory (config.json,
model.safetensors, tokenizer/) loads with `--checkpoint DIR` everywhere.

Example:
  deer-ros convert deer_D_D.pth --out ckpt/deer-3b-D --tokenizer mpt-1b-dolly/
      --mpt mpt-1b-dolly/ --openflamingo of3b/checkpoint.pt --clip vit-l-14-openai.bin
"""
import argparse
import json

COMMAND = 'convert'
HELP = 'convert an official DeeR checkpoint into our safetensors + JSON format'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input files, architecture preset and output directory."""
    parser.add_argument('deer', help='official DeeR .pth (torch.save dict, model_state_dict)')
    parser.add_argument('--out', required=True, help='output directory (our format)')
    parser.add_argument('--preset', default='deer-3b',
                        help='architecture: deer-3b | deer-9b | tiny (default: %(default)s)')
    parser.add_argument('--tokenizer', help='base tokenizer directory (MPT-1B: GPT-NeoX)')
    parser.add_argument('--clip', help='open_clip ViT-L-14 openai state dict')
    parser.add_argument('--openflamingo', help='OpenFlamingo checkpoint.pt')
    parser.add_argument('--mpt', help='base MPT weights (HF directory or file)')
    parser.add_argument('--max-exit', type=int, default=None,
                        help='keep only the layers up to this exit index')


def run(args: argparse.Namespace) -> int:
    """Load strictly, save in our format, print a JSON summary."""
    from deer_ros.model.checkpoint import save_checkpoint
    from deer_ros.model.official import load_official
    loaded = load_official(args.deer, preset=args.preset, tokenizer_path=args.tokenizer,
                           clip_path=args.clip, openflamingo_path=args.openflamingo,
                           mpt_path=args.mpt, max_exit=args.max_exit)
    out = save_checkpoint(args.out, loaded.model, loaded.tokenizer,
                          metadata={'converted_from': args.deer, 'sources': loaded.report.sources})
    report = loaded.report
    print(json.dumps({'out': str(out), 'config': loaded.model.cfg.name,
                      'layers': loaded.model.cfg.lm.n_layers,
                      'exit_layers': list(loaded.model.cfg.exit_layers),
                      'taken': report.sources, 'unexpected': report.unexpected,
                      'ignored': len(report.ignored)}))
    return 0
