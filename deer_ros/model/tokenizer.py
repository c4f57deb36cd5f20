"""Tokenizer loading, DeeR's prompt, and the small tokenizer this project builds itself.

The real presets use the GPT-NeoX tokenizer of MPT-1B (a local path). Nothing can be
downloaded here, so the small presets use a byte-level BPE trained deterministically on a
generated robot-instruction corpus, with DeeR's added tokens in DeeR's order. Rebuild with
`python -m deer_ros.model.tokenizer [OUT_DIR]`.
"""
import itertools
import json
import pathlib
import sys
from typing import Iterator, List, Optional

EOS = '<|endoftext|>'
END_OF_CHUNK = '<|endofchunk|>'
MEDIA = '<image>'
PAD = '<PAD>'
PACKAGED = pathlib.Path(__file__).resolve().parent / 'assets' / 'tokenizer'
VOCAB_SIZE = 512


def prompt(instruction: str, eos_token: str = EOS) -> str:
    """DeeR's prompt: `<image>{instruction}<|endofchunk|>{eos}` (no BOS, stripped text)."""
    return f'{MEDIA}{instruction.strip()}{END_OF_CHUNK}{eos_token}'


def declares_pad(path: pathlib.Path) -> bool:
    """Whether the tokenizer files at `path` name a pad token.

    DeeR adds `<PAD>` when `tokenizer.pad_token is None`. Under transformers 4.33 (DeeR's) that
    held exactly when the files name none; newer versions give some classes (GPT-NeoX: MPT's
    tokenizer) a default pad token, which would drop `<PAD>` and leave the vocabulary one short
    of the checkpoint's embedding. So the files decide, not the installed version.
    """
    for name in ('special_tokens_map.json', 'tokenizer_config.json'):
        file = pathlib.Path(path) / name
        if file.is_file() and json.loads(file.read_text()).get('pad_token'):
            return True
    return False


def add_deer_tokens(tokenizer, add_pad: Optional[bool] = None):  # noqa: ANN001,ANN201
    """Add DeeR's tokens in DeeR's order: <|endofchunk|>, <image>, then the pad token <PAD>.

    `add_pad` None: when the tokenizer has no pad token (DeeR's test). New ids follow the base
    vocabulary in that order; anything else is an error, since the checkpoint's rows would not
    match.
    """
    base = len(tokenizer)
    tokenizer.add_special_tokens({'additional_special_tokens': [END_OF_CHUNK, MEDIA]})
    if tokenizer.pad_token is None if add_pad is None else add_pad:
        tokenizer.add_special_tokens({'pad_token': PAD})
    vocab = tokenizer.get_vocab()
    added = [t for t in (END_OF_CHUNK, MEDIA, PAD) if vocab.get(t, -1) >= base]
    ids = [vocab[t] for t in added]
    if ids != list(range(base, base + len(added))):
        raise ValueError(f'DeeR tokens got ids {dict(zip(added, ids))}; expected consecutive '
                         f'ids from {base} in the order {added}')
    return tokenizer


def load_tokenizer(path: Optional[str] = None, add_tokens: bool = False):  # noqa: ANN201
    """AutoTokenizer from `path` (default: the packaged small tokenizer).

    A base tokenizer (e.g. MPT-1B's) lacking DeeR's tokens gets them as DeeR's factory adds
    them; `add_tokens=True` forces that.
    """
    from transformers import AutoTokenizer
    root = pathlib.Path(path) if path else PACKAGED
    tok = AutoTokenizer.from_pretrained(str(root))
    if add_tokens or MEDIA not in tok.get_vocab():
        add_deer_tokens(tok, add_pad=not declares_pad(root))
    return tok


def _corpus() -> Iterator[str]:
    verbs = ['push', 'pull', 'lift', 'grasp', 'pick up', 'place', 'move', 'slide', 'rotate',
             'turn', 'open', 'close', 'stack', 'unstack', 'put', 'take', 'press', 'toggle']
    colours = ['red', 'blue', 'pink', 'green', 'yellow', 'black', 'white', 'purple']
    things = ['block', 'cube', 'drawer', 'door', 'slider', 'switch', 'button', 'light',
              'bulb', 'lever', 'handle', 'cup', 'bowl', 'plate', 'peg', 'ball', 'window']
    places = ['to the left', 'to the right', 'into the drawer', 'on the table', 'on top',
              'in the slider', 'upwards', 'downwards', 'forward', 'back', 'off', 'on']
    for verb, colour, thing, place in itertools.product(verbs, colours, things, places):
        yield f'{verb} the {colour} {thing} {place}'
    yield 'go  towards the, target: then stop! reach 0123456789 and wait?'


def build_tokenizer(out_dir: pathlib.Path, vocab_size: int = VOCAB_SIZE) -> List[str]:
    """Train the small byte-level BPE and save it loadable by AutoTokenizer; returns files."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS)
    add_deer_tokens(tok)
    out_dir.mkdir(parents=True, exist_ok=True)
    return list(tok.save_pretrained(str(out_dir)))


def main(argv: Optional[List[str]] = None) -> int:
    """Rebuild the packaged tokenizer (or write it to the given directory)."""
    args = sys.argv[1:] if argv is None else argv
    out = pathlib.Path(args[0]) if args else PACKAGED
    for name in build_tokenizer(out):
        print(name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
