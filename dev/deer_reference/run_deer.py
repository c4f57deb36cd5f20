"""Run DeeR-VLA's own inference code on the case make_case.py wrote; one JSON line per frame.

Run in the reference venv (transformers 4.33.1, tokenizers 0.13.3, open_clip_torch 2.20.0):
  /tmp/deer_ref_venv/bin/python dev/deer_reference/run_deer.py SRC CASE
SRC is assemble.sh's output. The model is built as robot_flamingo/models/factory.py builds it
(open_clip model + transform, tokenizer + DeeR's added tokens, MosaicGPT + EmbeddingFnMixin +
FlamingoLMMixin + resize_token_embeddings, MPTFlamingo with the .pth's head fields), weights
loaded as eval_calvin.py loads them (base MPT, CLIP, then the DeeR .pth, non-strict: so every
missing key is checked here), and each frame goes through ModelWrapper.step's calls
(preprocess_image, preprocess_text_calvin, model(..., dynamic_early_exit=True,
exit_controller=ExitController(ActionValueNet(...)))).
"""
import json
import os
import pathlib
import sys
import types

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file


def stub_flop_counters() -> None:
    """Stub module-level imports that DeeR's inference never calls.

    fvcore/thop: FLOP printing in flamingo_mpt.py; zarr: normalizer.py, diffusion head only.
    """
    for name, attrs in (('fvcore', {}), ('fvcore.nn', {'FlopCountAnalysis': None}),
                        ('thop', {'profile': None}), ('zarr', {'Array': object})):
        sys.modules[name] = types.SimpleNamespace(**attrs)


def data_functions(repo: pathlib.Path) -> dict:
    """DeeR's preprocess_image and preprocess_text_calvin, from data.py's own source.

    Only those two functions are executed, without the module's dataset imports (CALVIN, ...).
    """
    import ast
    source = (repo / 'robot_flamingo' / 'data' / 'data.py').read_text()
    tree = ast.parse(source)
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef)
              and n.name in ('preprocess_image', 'preprocess_text_calvin')]
    scope = {'torch': torch}
    exec(compile(ast.Module(wanted, []), 'data.py', 'exec'), scope)
    return scope


def build(src: pathlib.Path, case: pathlib.Path):
    """(model, image_processor, tokenizer) exactly as DeeR's factory + eval_calvin make them."""
    sys.path.insert(0, str(src))
    stub_flop_counters()
    import open_clip
    from open_flamingo.src.flamingo_lm import FlamingoLMMixin
    from open_flamingo.src.utils import extend_instance
    from transformers import AutoTokenizer

    from mosaic_ref.configuration_mosaic_gpt import MosaicGPTConfig
    from mosaic_ref.mosaic_gpt import MosaicGPT
    from robot_flamingo.models.flamingo_mpt import MPTFlamingo

    clip_cfg = json.loads((case / 'open_clip_config.json').read_text())['model_cfg']
    open_clip.factory._MODEL_CONFIGS['deer-reference'] = clip_cfg
    vision_encoder, _, image_processor = open_clip.create_model_and_transforms('deer-reference')
    vision_encoder.visual.output_tokens = True
    clip = {k: v for k, v in torch.load(case / 'clip.bin', weights_only=True).items()
            if k.startswith('visual.')}                      # the text tower is unused
    missing = vision_encoder.load_state_dict(clip, strict=False).missing_keys
    assert not [k for k in missing if k.startswith('visual.')], missing

    tokenizer = AutoTokenizer.from_pretrained(str(case / 'tokenizer'))
    tokenizer.add_special_tokens({'additional_special_tokens': ['<|endofchunk|>', '<image>']})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({'pad_token': '<PAD>'})

    mpt_cfg = json.loads((case / 'mpt' / 'config.json').read_text())
    lang = MosaicGPT(MosaicGPTConfig(**mpt_cfg))
    base = {k: v for k, v in load_file(str(case / 'mpt' / 'model.safetensors')).items()
            if k != 'transformer.wte.weight'}           # the .pth's trained wte replaces it
    lang.load_state_dict(base, strict=False)

    class EmbeddingFnMixin:
        def get_input_embeddings(self):
            return self.transformer.wte

        def set_input_embeddings(self, new_embeddings):
            self.transformer.wte = new_embeddings

    extend_instance(lang, EmbeddingFnMixin)
    extend_instance(lang, FlamingoLMMixin)
    lang.set_decoder_layers_attr_name('transformer.blocks')
    lang.resize_token_embeddings(len(tokenizer))

    blob = torch.load(case / 'deer.pth', weights_only=True)
    model = MPTFlamingo(
        vision_encoder, lang, tokenizer.encode('<|endofchunk|>')[-1],
        tokenizer.encode('<image>')[-1], vis_dim=clip_cfg['vision_cfg']['width'],
        cross_attn_every_n_layers=_xattn_every(blob['model_state_dict']), window_size=12,
        use_gripper=True, fusion_mode='post', sep_lm_head=True, llm='mpt_dolly_3b',
        pooling=blob['pooling'], decoder_type='lstm', head_type='deterministic',
        early_exit_layer=blob['early_exit_layer'], multi_exit=False,
        exit_interval=blob['exit_interval'], exit_dropout=blob['exit_dropout'],
        lstm_dropout=blob['lstm_dropout'], dropout_mode=blob['dropout_mode'],
        mlp_layernorm=blob['mlp_layernorm'], lstm_layernorm=blob['lstm_layernorm'],
        mlp_num_hidden_layers=blob['mlp_num_hidden_layers'],
        lstm_num_layers=blob['lstm_num_layers'])
    state = {k[len('module.'):]: v for k, v in blob['model_state_dict'].items()
             if not k.startswith('module.lm_head.')}   # the case's lm_head is a placeholder
    result = model.load_state_dict(state, strict=False)
    # non-strict, as DeeR loads: check instead that every weight of the model written by
    # make_case.py (same names by design) is now in DeeR's model, bit for bit
    ours = load_file(str(case / 'ours_state.safetensors'))
    theirs = model.state_dict()
    absent = [k for k in ours if k not in theirs]
    differ = [k for k in ours if k in theirs and not torch.equal(ours[k], theirs[k])]
    assert not absent and not differ, f'absent {absent[:5]}, different {differ[:5]}'
    print(f'weights: all {len(ours)} tensors equal in DeeR\'s model '
          f'(unexpected in the .pth: {len(result.unexpected_keys)})')
    return model.eval(), image_processor, tokenizer


def _xattn_every(state) -> int:
    first = min(int(k.split('.')[4]) for k in state if '.gated_cross_attn_layer.' in k)
    return first + 1


def run(model, image_processor, tokenizer, case: pathlib.Path, thresholds, frames: int,
        src: pathlib.Path):
    """ModelWrapper.step's calls, frame by frame, with DeeR's exit controller."""
    fns = data_functions(src)
    preprocess_image = fns['preprocess_image']
    preprocess_text_calvin = fns['preprocess_text_calvin']
    from robot_flamingo.models.value_net import ActionValueNet, ExitController
    exits = model.get_all_exit_idx()
    value_net = ActionValueNet(exit_list=exits, exit_head=model.extra_exit,
                               interval=model_interval(exits), window_size=1,
                               threshold_type='L2')
    controller = ExitController(value_net, exits, steps_per_stage=1, leq=True, max_layer=12)
    controller.thresholds = dict(zip(exits, thresholds))
    values = []
    infer = value_net.forward
    value_net.forward = lambda feats, i=None, **kw: _logged(infer(feats, i, **kw), i, values)
    model.clear_all_exit_memory()
    model.set_all_exit_window_size(1)
    lines = []
    for t in range(frames):
        controller.set_timestep(t)
        values.clear()
        static = Image.fromarray(np.load(case / 'frames' / f's{t}.npy'))
        gripper = Image.fromarray(np.load(case / 'frames' / f'g{t}.npy'))
        image_x = preprocess_image([static], image_processor).unsqueeze(1).unsqueeze(1)
        gripper_x = preprocess_image([gripper], image_processor).unsqueeze(1).unsqueeze(1)
        text_x, mask = preprocess_text_calvin([INSTRUCTION], tokenizer)
        with torch.no_grad():
            out = model(vision_x=image_x, lang_x=text_x, attention_mask=mask,
                        vision_gripper=gripper_x, state_tensor=None, return_feature=True,
                        deterministic=True, exit_id=None, dynamic_early_exit=True,
                        exit_controller=controller)
        action = torch.concat((out.logits[0], out.logits[1] > 0.5), dim=2).squeeze(0)[-1]
        action[-1] = (action[-1] - 0.5) * 2
        lines.append({'frame': t, 'exit_layer': int(out.exit_layer),
                      'action': action.tolist(), 'values': list(values)})
    return lines


def model_interval(exits) -> int:
    """exit_interval recovered from the exit list (DeeR passes args.exit_interval)."""
    return exits[1] - exits[0] if len(exits) > 1 else 1


def _logged(value, i, values):
    values.append(float(value))
    return value


INSTRUCTION = 'push the red block to the left'

if __name__ == '__main__':
    src, case = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    torch.set_num_threads(int(os.environ.get('DEER_REF_THREADS', '1')))   # as make_case.py
    model, processor, tokenizer = build(src, case)
    policies = json.loads((case / 'policies.json').read_text())
    frames = len(list((case / 'frames').glob('s*.npy')))
    for name, thresholds in policies.items():
        lines = run(model, processor, tokenizer, case, thresholds, frames, src)
        (case / f'deer_{name}.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in lines))
        print(name, [r['exit_layer'] for r in lines])
