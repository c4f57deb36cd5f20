"""DeeR's token ids and vocabulary size, whatever transformers version is installed.

The expected ids were produced by DeeR-VLA's own steps (robot_flamingo/models/factory.py: add
`<|endofchunk|>`, `<image>`, then `<PAD>` if `pad_token is None`; data.py's
preprocess_text_calvin) under transformers 4.33.1, DeeR's pinned version, on the tokenizer
files `write_neox_tokenizer` writes (dev/deer_reference/README.md shows how).
"""
import pytest
from model_examples import INSTRUCTION, write_neox_tokenizer

from deer_ros.model.tokenizer import END_OF_CHUNK, MEDIA, PAD, load_tokenizer, prompt

DEER_IDS = [278, 260, 263, 266, 271, 272, 263, 276, 277, 0]    # <image> ... <|endofchunk|> eos
# (pad token in the files, tokenizer class) -> DeeR's (len(tokenizer), pad id)
CASES = {(None, 'GPTNeoXTokenizer'): (280, 279),        # MPT's case: newer transformers
         (None, 'PreTrainedTokenizerFast'): (280, 279),  # invent a pad token here
         ('<|padding|>', 'GPTNeoXTokenizer'): (279, 1)}


@pytest.mark.parametrize('pad,cls', list(CASES))
def test_tokenizer_reproduces_deer_ids_and_vocab_size(tmp_path, pad, cls):
    tok = load_tokenizer(str(write_neox_tokenizer(tmp_path / 'base', pad, cls)))
    size, pad_id = CASES[(pad, cls)]
    assert len(tok) == size and tok.pad_token_id == pad_id
    assert tok.convert_tokens_to_ids([END_OF_CHUNK, MEDIA]) == [277, 278]
    assert tok(prompt(INSTRUCTION, tok.eos_token))['input_ids'] == DEER_IDS
    if pad is None:
        assert tok.pad_token == PAD


def test_saved_tokenizer_reloads_unchanged(tmp_path):
    tok = load_tokenizer(str(write_neox_tokenizer(tmp_path / 'base')))
    tok.save_pretrained(str(tmp_path / 'saved'))
    again = load_tokenizer(str(tmp_path / 'saved'))
    assert len(again) == len(tok) and again.pad_token_id == tok.pad_token_id
    assert again(prompt(INSTRUCTION))['input_ids'] == DEER_IDS
