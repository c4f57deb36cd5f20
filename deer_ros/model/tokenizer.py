"""Tokenizer loading, DeeR's prompt, and the small tokenizer this project builds itself.

The real presets use the GPT-NeoX tokenizer of MPT-1B (a local path). Nothing can be
downloaded here, so the small presets use a byte-level BPE trained deterministically on a
generated robot-instruction corpus, with DeeR's added tokens in DeeR's order. Rebuild with
`python -m deer_ros.model.tokenizer [OUT_DIR]`.
"""
import itertools
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


def add_deer_tokens(tokenizer):  # noqa: ANN001,ANN201 - transformers tokenizer in and out
    """Add DeeR's tokens in DeeR's order: <|endofchunk|>, <image>, then pad <PAD>."""
    tokenizer.add_special_tokens({'additional_special_tokens': [END_OF_CHUNK, MEDIA]})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({'pad_token': PAD})
    return tokenizer


def load_tokenizer(path: Optional[str] = None, add_tokens: bool = False):  # noqa: ANN201
    """AutoTokenizer from `path` (default: the packaged small tokenizer).

    `add_tokens=True` for a base tokenizer (e.g. MPT-1B's) that lacks DeeR's added tokens.
    """
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(path or PACKAGED))
    if add_tokens or MEDIA not in tok.get_vocab():
        add_deer_tokens(tok)
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
