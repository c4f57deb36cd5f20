"""Find DySL static ("informative") layers: how much each layer changes its input.

Over recorded frames, every LLM layer's input and output hidden states are compared by cosine
similarity (mean over prompt tokens, then over frames). The layers that change their input most
(lowest similarity), about --static-fraction of them, plus layer 0, are static: always executed.
The others are dynamic, grouped into skippable blocks of consecutive layers between static
layers, cut at exit layers. Writes a YAML with the per-layer similarity, `static_layers` (the
EngineConfig setting) and `blocks`.
"""
import argparse

from deer_ros.cli.calibrate import add_model_arguments

COMMAND = 'analyze-layers'
HELP = 'per-layer input/output cosine similarity -> DySL static layers and skippable blocks'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `deer-ros analyze-layers`."""
    parser.add_argument('data', help='recorded dataset directory (deer_ros recording format)')
    parser.add_argument('-o', '--output', default='layers.yaml', help='YAML to write')
    add_model_arguments(parser)
    parser.add_argument('--static-fraction', type=float, default=0.2,
                        help='fraction of layers kept static (default: %(default)s)')
    parser.add_argument('--max-frames', type=int, default=200, help='frames analysed (0: all)')
    parser.add_argument('--stride', type=int, default=1, help='use every N-th frame')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def hidden_states(frame) -> 'object':
    """(L + 1, tokens, d) float64 numpy: the prompt embedding then each layer's output."""
    import numpy as np
    tensors = [frame.embedding] + list(frame.outputs)
    return np.stack([t.detach().float().cpu().numpy()[0] for t in tensors]).astype(np.float64)


def run(args: argparse.Namespace) -> int:
    """Run the analysis and write the YAML."""
    import numpy as np
    import yaml
    from tqdm import tqdm

    from deer_ros.cli.calibrate import load_rollout
    from deer_ros.data.recording import iter_episodes
    from deer_ros.policies.skipping import (layer_cosine_similarity, select_static_layers,
                                            skip_blocks)

    model = load_rollout(args)
    sims = []
    with tqdm(total=args.max_frames or None, unit='frame', desc='analyze-layers',
              disable=args.no_progress) as bar:
        for episode in iter_episodes(args.data):
            model.reset(episode.instruction)
            for t in range(0, len(episode.static), max(1, args.stride)):
                gripper = None if episode.gripper is None else episode.gripper[t]
                frame = model.encode(episode.static[t], gripper)
                model.run_layers(frame, 0, model.num_layers)
                sims.append(layer_cosine_similarity(hidden_states(frame)))
                bar.update(1)
                if args.max_frames and len(sims) >= args.max_frames:
                    break
            if args.max_frames and len(sims) >= args.max_frames:
                break
    if not sims:
        print('no frames')
        return 1
    similarity = np.mean(np.stack(sims), axis=0)
    static = select_static_layers(similarity, args.static_fraction)
    blocks = skip_blocks(model.num_layers, static, model.exit_layers)
    out = {'format': 'deer_ros.layers', 'version': 1, 'frames': len(sims),
           'num_layers': int(model.num_layers),
           'exit_layers': [int(e) for e in model.exit_layers],
           'cosine_similarity': [float(s) for s in similarity],
           'static_fraction': args.static_fraction, 'static_layers': static,
           'blocks': [[int(a), int(b)] for a, b in blocks],
           'source': {'data': str(args.data), 'checkpoint': args.checkpoint,
                      'preset': args.preset, 'seed': args.seed}}
    with open(args.output, 'w') as stream:
        yaml.safe_dump(out, stream, sort_keys=False, default_flow_style=None)
    print(f'static layers {static}, blocks {blocks} -> {args.output}')
    return 0
