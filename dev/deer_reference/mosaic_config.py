"""MosaicGPTConfig for the reference harness: the fields DeeR's mosaic_gpt_3b.py reads.

Our own stand-in for the config class of mosaicml/mpt-1b-redpajama-200b-dolly's remote code;
it only holds values (the model code reads them), with MPT-1B's defaults.
"""
from transformers import PretrainedConfig

DEFAULTS = dict(d_model=2048, n_heads=16, n_layers=24, mlp_ratio=4, max_seq_len=2048,
                vocab_size=50432, attn_pdrop=0.0, resid_pdrop=0.0, emb_pdrop=0.0,
                attn_impl='torch', attn_qk_ln=True, attn_clip_qkv=None, softmax_scale=None,
                prefix_lm=False, attn_uses_sequence_id=False, alibi=True, alibi_bias_max=8,
                init_device='cpu', logit_scale=None, no_bias=True, verbose=0,
                param_init_fn='none', embedding_fraction=1.0, low_precision_layernorm=True,
                use_cache=False)


class MosaicGPTConfig(PretrainedConfig):
    """Plain value holder; unknown keys go to PretrainedConfig."""

    model_type = 'mosaic_gpt'

    def __init__(self, **kwargs):
        for key, value in DEFAULTS.items():
            setattr(self, key, kwargs.pop(key, value))
        super().__init__(**kwargs)
