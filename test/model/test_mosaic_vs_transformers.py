"""Our MosaicGPT block equals transformers' MPT block where both apply (qk_ln off)."""
import torch
from transformers import MptConfig
from transformers.models.mpt.modeling_mpt import MptBlock, build_mpt_alibi_tensor

from deer_ros.model.config import LMConfig
from deer_ros.model.mosaic import MosaicBlock, alibi_slopes, attention_bias


def _copy_weights(ours: MosaicBlock, theirs: MptBlock) -> None:
    with torch.no_grad():
        theirs.norm_1.weight.copy_(ours.ln_1.weight)
        theirs.norm_2.weight.copy_(ours.ln_2.weight)
        theirs.attn.Wqkv.weight.copy_(ours.attn.Wqkv.weight)
        theirs.attn.out_proj.weight.copy_(ours.attn.out_proj.weight)
        theirs.ffn.up_proj.weight.copy_(ours.mlp.mlp_up.weight)
        theirs.ffn.down_proj.weight.copy_(ours.mlp.mlp_down.weight)


def _randomise_norms(block: MosaicBlock) -> None:
    with torch.no_grad():
        for norm in (block.ln_1, block.ln_2):
            norm.weight.uniform_(0.5, 1.5)


def test_mosaic_block_matches_transformers_mpt_block():
    torch.manual_seed(0)
    for n_heads in (4, 6):   # 6: non-power-of-two ALiBi slope ordering
        cfg = LMConfig(d_model=48, n_heads=n_heads, n_layers=1, vocab_size=10, qk_ln=False,
                       low_precision_layernorm=False)
        ours = MosaicBlock(cfg).eval()
        _randomise_norms(ours)
        hf_cfg = MptConfig(d_model=48, n_heads=n_heads, n_layers=1, expansion_ratio=4,
                           max_seq_len=32, vocab_size=10, no_bias=True)
        theirs = MptBlock(hf_cfg).eval()
        _copy_weights(ours, theirs)
        x = torch.randn(2, 11, 48)
        alibi = build_mpt_alibi_tensor(n_heads, 11)                    # (H, 1, L)
        causal = torch.ones(11, 11, dtype=torch.bool).triu(1)[None, None]
        expected, _ = theirs(x, position_bias=alibi, attention_mask=causal)
        got = ours(x, attention_bias(n_heads, 11, 8, x.device, torch.float32))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_alibi_slopes_match_transformers():
    for n_heads in (4, 6, 16, 32):
        theirs = build_mpt_alibi_tensor(n_heads, 2)[:, 0, 0] * -1.0   # key 0 = -1 * slope
        torch.testing.assert_close(alibi_slopes(n_heads), theirs)


def test_qk_layernorm_changes_output_and_loads_mosaic_names():
    cfg = LMConfig(d_model=32, n_heads=4, n_layers=1, vocab_size=10, qk_ln=True)
    block = MosaicBlock(cfg)
    names = set(block.state_dict())
    assert names == {'ln_1.weight', 'attn.Wqkv.weight', 'attn.q_ln.weight', 'attn.k_ln.weight',
                     'attn.out_proj.weight', 'ln_2.weight', 'mlp.mlp_up.weight',
                     'mlp.mlp_down.weight'}


def test_low_precision_layernorm_runs_in_autocast_dtype():
    cfg = LMConfig(d_model=32, n_heads=4, n_layers=1, vocab_size=10)
    block = MosaicBlock(cfg)
    x = torch.randn(1, 5, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert block.ln_1(x).dtype == torch.bfloat16
    assert block.ln_1(x).dtype == torch.float32


def test_alibi_slope_styles_differ_only_for_non_power_of_two_heads():
    for n_heads in (4, 16, 32):
        torch.testing.assert_close(alibi_slopes(n_heads, 8, 'mosaic_gpt'), alibi_slopes(n_heads))
    # MPT-1B's MosaicGPT code (DeeR 3B): 2^-(h * 8 / H); llm-foundry interleaves instead
    expected = 1.0 / 2.0 ** (torch.arange(1, 7, dtype=torch.float32) * 8 / 6)
    torch.testing.assert_close(alibi_slopes(6, 8, 'mosaic_gpt'), expected)
    assert not torch.allclose(alibi_slopes(6, 8, 'mosaic_gpt'), alibi_slopes(6, 8, 'mpt'))
