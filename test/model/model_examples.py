"""Deterministic example builders for the model tests (no fixtures hiding data)."""
import numpy as np

INSTRUCTION = 'push the red block to the left'


def make_image(seed: int, size: int = 48) -> np.ndarray:
    """(size, size, 3) uint8 RGB noise, deterministic for `seed`."""
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def make_tiny(seed: int = 0, **kwargs):
    """A tiny-preset ModelRollout on CPU, reset to INSTRUCTION."""
    from deer_ros.model.build import rollout_from_preset
    rollout = rollout_from_preset('tiny', seed=seed, device='cpu', **kwargs)
    rollout.reset(INSTRUCTION)
    return rollout


def _byte_chars() -> list:
    """GPT-2's byte-level alphabet in byte order (what ByteLevel BPE vocabularies start with)."""
    printable = (list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1))
                 + list(range(ord('®'), ord('ÿ') + 1)))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [mapping[b] for b in range(256)]


NEOX_MERGES = ('p u', 'pu s', 'pus h', 'Ġ t', 'Ġt h', 'Ġth e', 'Ġ r', 'Ġr e', 'Ġre d', 'Ġ b',
               'Ġb l', 'Ġbl o', 'Ġblo c', 'Ġbloc k', 'Ġt o', 'Ġ l', 'Ġl e', 'Ġle f', 'Ġlef t')


def write_neox_tokenizer(out_dir, pad_token=None, tokenizer_class='GPTNeoXTokenizer'):
    """A small GPT-NeoX-style byte-level BPE (ids 0 <|endoftext|>, 1 <|padding|>) in HF files.

    Written as plain JSON (no training), so every transformers/tokenizers version reads the
    same vocabulary. `pad_token` None: the files name no pad token, as MPT-1B's do.
    """
    import json
    import pathlib
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {'<|endoftext|>': 0, '<|padding|>': 1}
    for token in _byte_chars() + [m.replace(' ', '') for m in NEOX_MERGES]:
        vocab.setdefault(token, len(vocab))
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True,
                  'use_regex': True}
    added = [{'id': i, 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
              'normalized': False, 'special': True} for i, t in enumerate(list(vocab)[:2])]
    spec = {'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': added,
            'normalizer': None, 'pre_tokenizer': byte_level, 'post_processor': byte_level,
            'decoder': byte_level,
            'model': {'type': 'BPE', 'dropout': None, 'unk_token': None,
                      'continuing_subword_prefix': None, 'end_of_word_suffix': None,
                      'fuse_unk': False, 'byte_fallback': False, 'vocab': vocab,
                      'merges': list(NEOX_MERGES)}}
    (out / 'tokenizer.json').write_text(json.dumps(spec))
    config = {'tokenizer_class': tokenizer_class, 'bos_token': '<|endoftext|>',
              'eos_token': '<|endoftext|>', 'unk_token': '<|endoftext|>'}
    if pad_token is not None:
        config['pad_token'] = pad_token
    (out / 'tokenizer_config.json').write_text(json.dumps(config))
    return out
