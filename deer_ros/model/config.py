"""Architecture of the multi-exit VLA as plain dataclasses, and the named presets.

One config fully describes a model: our checkpoints store `DeerConfig.to_dict()` as JSON and
rebuild the same modules from it, so no architecture fact lives only in code.
"""
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Optional, Tuple

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TRANSFORMS = ('pil', 'torch')
HEAD_STEPS = ('exact', 'fused')
# torch.compile modes of a rollout's compiled layers: 'default' compiles each layer;
# 'reduce-overhead' compiles each exit segment as one callable, a CUDA graph on a GPU
COMPILE_MODES = ('default', 'reduce-overhead')
FEATURE_NORMS = ('auto', 'batch')
HEAD_HISTORIES = ('episode', 'frame')


@dataclass(frozen=True)
class VisionConfig:
    """open_clip VisionTransformer (CLIP ViT); only its pre-`ln_post` patch tokens are used."""

    image_size: int = 224          # square input side, pixels
    patch_size: int = 14
    width: int = 1024              # token width = perceiver width = cross-attention media width
    layers: int = 24
    head_width: int = 64
    mlp_ratio: float = 4.0
    embed_dim: int = 768           # CLIP projection width (kept for checkpoint compatibility)
    quick_gelu: bool = True        # OpenAI CLIP weights were trained with QuickGELU
    mean: Tuple[float, float, float] = CLIP_MEAN
    std: Tuple[float, float, float] = CLIP_STD
    # the resize the weights were trained with, hence the default at inference: 'pil' = open_clip's
    # eval transform exactly (PIL bicubic; DeeR's official checkpoints), 'torch' = torch's
    # antialiased bicubic (faster, within 1-2 levels; what our training uses, so also the value
    # for checkpoints that predate this field)
    transform: str = 'torch'

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f'vision.transform must be one of {TRANSFORMS}, '
                             f'got {self.transform!r}')

    @property
    def num_patches(self) -> int:
        """Patch tokens per image (CLS excluded)."""
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class PerceiverConfig:
    """open_flamingo PerceiverResampler, shared by both cameras ("post" fusion)."""

    depth: int = 6
    dim_head: int = 64
    heads: int = 8
    num_latents: int = 64
    ff_mult: int = 4


@dataclass(frozen=True)
class LMConfig:
    """MosaicGPT language model (kept layers only) with gated cross-attention layers."""

    d_model: int = 2048
    n_heads: int = 16
    n_layers: int = 12             # kept (built) layers
    vocab_size: int = 50280        # len(tokenizer) after the three added tokens
    mlp_ratio: int = 4
    alibi_bias_max: int = 8
    # ALiBi slope formula: 'mpt' (llm-foundry, MPT-7B) or 'mosaic_gpt' (MPT-1B's code); they
    # differ only when n_heads is not a power of two (see mosaic.alibi_slopes)
    alibi_slopes: str = 'mpt'
    qk_ln: bool = True             # MPT-1B: LayerNorm on q and k; MPT-7B: off
    low_precision_layernorm: bool = True
    layer_norm_eps: float = 1e-5
    cross_attn_every: int = 1      # layer i has cross-attention iff (i + 1) % every == 0
    xattn_dim_head: int = 64
    xattn_heads: int = 8
    xattn_ff_mult: int = 4
    gate_init: float = 0.0         # open_flamingo starts gates at 0 (tanh(0) = 0: no vision)

    def __post_init__(self) -> None:
        if self.alibi_slopes not in ('mpt', 'mosaic_gpt'):
            raise ValueError(f"lm.alibi_slopes must be 'mpt' or 'mosaic_gpt', "
                             f'got {self.alibi_slopes!r}')

    def has_xattn(self, layer: int) -> bool:
        """Whether layer `layer` (0-based) starts with a gated cross-attention block."""
        return (layer + 1) % self.cross_attn_every == 0


@dataclass(frozen=True)
class HeadConfig:
    """The shared exit head `extra_exit`, with DeeR's saved layout fields."""

    hidden_size: int = 1024
    out_features: int = 6
    lstm_num_layers: int = 4
    lstm_layernorm: bool = True
    mlp_layernorm: bool = True
    mlp_num_hidden_layers: int = 2
    mlp_hidden_dims: Tuple[int, ...] = (1024, 512, 256)   # first mlp_num_hidden_layers used
    dropout_mode: str = 'layerwise'                        # 'layerwise' | 'last' | legacy
    exit_dropout: float = 0.4
    lstm_dropout: float = 0.3
    pooling: str = 'max'
    # optional robot-state input (after RoboFlamingo's use_state; DeeR's checkpoints have none)
    state_dim: int = 0                     # 0: no state input
    state_features: int = 64               # width of the state embedding joined to the LSTM input
    state_mean: Tuple[float, ...] = ()     # per-dim normalisation, from the training data
    state_std: Tuple[float, ...] = ()      # (empty: 0 and 1)
    # normalisation of the pooled exit feature before the LSTM. 'auto' = DeeR's head (none)
    # without a state, a parameter-free layer norm with one (what checkpoints before this field
    # used); 'batch' = BatchNorm1d (running statistics at inference): per channel, so a few huge
    # channels cannot squash the image-dependent ones (docs/training.md, "does not use its
    # cameras"). Official DeeR checkpoints are always 'auto'.
    feature_norm: str = 'auto'
    # the per-frame head step, hence the default at inference: 'exact' = nn.LSTM's own call, in
    # DeeR's float order (official checkpoints: its criterion values to the last bit), 'fused'
    # = HeadStep, the recurrent term shared by every exit of a frame (cheaper; poses within
    # ~7e-7; what our training's checkpoints use, so also the value for those predating this
    # field). See docs/official_checkpoints.md
    step: str = 'fused'
    # what the LSTM remembers at inference. 'episode' = its state is carried from frame to
    # frame through the rollout (DeeR; official checkpoints); 'frame' = it starts from zero
    # every frame, as a head trained on windows of one frame saw it: with no history to lean
    # on, its action must come from this frame's cameras and state (docs/training.md)
    history: str = 'episode'

    def __post_init__(self) -> None:
        if self.step not in HEAD_STEPS:
            raise ValueError(f'head.step must be one of {HEAD_STEPS}, got {self.step!r}')
        if self.history not in HEAD_HISTORIES:
            raise ValueError(f'head.history must be one of {HEAD_HISTORIES}, '
                             f'got {self.history!r}')
        if self.state_dim < 0 or any(len(v) not in (0, self.state_dim)
                                     for v in (self.state_mean, self.state_std)):
            raise ValueError('state_mean / state_std must have state_dim entries (or none)')
        if self.feature_norm not in FEATURE_NORMS:
            raise ValueError(f'head.feature_norm must be one of {FEATURE_NORMS}, '
                             f'got {self.feature_norm!r}')
        if self.pooling != 'max':
            raise ValueError(f'only max pooling is implemented, got {self.pooling!r}')
        if self.mlp_num_hidden_layers > len(self.mlp_hidden_dims):
            raise ValueError('mlp_num_hidden_layers exceeds len(mlp_hidden_dims)')


def default_exits(n_layers: int, interval: int = 2) -> Tuple[int, ...]:
    """DeeR's exit list: every `interval` layers, plus the last kept layer (0-based)."""
    return tuple(range(interval - 1, n_layers - 1, interval)) + (n_layers - 1,)


@dataclass(frozen=True)
class DeerConfig:
    """Everything needed to build a DeerVLA with the same parameter names and shapes."""

    name: str = 'custom'
    vision: VisionConfig = field(default_factory=VisionConfig)
    perceiver: PerceiverConfig = field(default_factory=PerceiverConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    exit_layers: Tuple[int, ...] = (1, 3, 5, 7, 9, 11)

    def __post_init__(self) -> None:
        exits = tuple(int(e) for e in self.exit_layers)
        if list(exits) != sorted(set(exits)) or not exits:
            raise ValueError(f'exit_layers must be ascending and unique, got {exits}')
        if exits[-1] >= self.lm.n_layers:
            raise ValueError(f'exit layer {exits[-1]} >= n_layers {self.lm.n_layers}')
        object.__setattr__(self, 'exit_layers', exits)

    def truncated(self, max_exit: int) -> 'DeerConfig':
        """The same model keeping only the layers up to exit `max_exit` (DeeR's max_layer)."""
        if not 0 <= max_exit < len(self.exit_layers):
            raise ValueError(f'max_exit {max_exit} outside 0..{len(self.exit_layers) - 1}')
        last = self.exit_layers[max_exit]
        return replace(self, lm=replace(self.lm, n_layers=last + 1),
                       exit_layers=self.exit_layers[:max_exit + 1])

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'DeerConfig':
        """Inverse of to_dict; unknown keys are an error so typos do not pass silently."""
        parts = {'vision': VisionConfig, 'perceiver': PerceiverConfig, 'lm': LMConfig,
                 'head': HeadConfig}
        kwargs: Dict[str, Any] = {}
        for key, value in data.items():
            if key in parts:
                kwargs[key] = _build(parts[key], value)
            elif key in ('name', 'exit_layers'):
                kwargs[key] = tuple(value) if key == 'exit_layers' else value
            else:
                raise ValueError(f'unknown DeerConfig field {key!r}')
        return cls(**kwargs)


def _build(cls: type, value: Dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise ValueError(f'unknown {cls.__name__} fields {sorted(unknown)}')
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


def _tiny() -> DeerConfig:
    return DeerConfig(
        name='tiny',
        vision=VisionConfig(image_size=32, patch_size=8, width=64, layers=2, head_width=32,
                            embed_dim=32),
        perceiver=PerceiverConfig(depth=1, dim_head=16, heads=2, num_latents=8, ff_mult=2),
        lm=LMConfig(d_model=64, n_heads=4, n_layers=12, vocab_size=0, xattn_dim_head=16,
                    xattn_heads=2, xattn_ff_mult=2, gate_init=0.25),
        head=HeadConfig(hidden_size=64, mlp_hidden_dims=(64, 32, 16)),
        exit_layers=default_exits(12))


def _small() -> DeerConfig:
    return DeerConfig(
        name='small',
        vision=VisionConfig(image_size=64, patch_size=8, width=128, layers=4, head_width=32,
                            embed_dim=64),
        perceiver=PerceiverConfig(depth=2, dim_head=32, heads=4, num_latents=16, ff_mult=2),
        lm=LMConfig(d_model=256, n_heads=8, n_layers=12, vocab_size=0, xattn_dim_head=32,
                    xattn_heads=4, gate_init=0.25),
        head=HeadConfig(hidden_size=256, mlp_hidden_dims=(256, 128, 64)),
        exit_layers=default_exits(12))


def _mini() -> DeerConfig:
    """Between tiny and small: 64 px cameras, a 128-wide LM; trains on one CPU core (issue 14)."""
    return DeerConfig(
        name='mini',
        vision=VisionConfig(image_size=64, patch_size=8, width=64, layers=2, head_width=32,
                            embed_dim=32),
        perceiver=PerceiverConfig(depth=1, dim_head=16, heads=2, num_latents=8, ff_mult=2),
        lm=LMConfig(d_model=128, n_heads=4, n_layers=12, vocab_size=0, xattn_dim_head=32,
                    xattn_heads=2, xattn_ff_mult=2, gate_init=0.25),
        head=HeadConfig(hidden_size=128, mlp_hidden_dims=(128, 64, 32)),
        exit_layers=default_exits(12))


def _mini2() -> DeerConfig:
    """`mini` with open gates and batch-normed exit features (issue 14).

    Trained from scratch, `mini` never used its images (docs/training.md, "does not use its
    cameras"). On a synthetic image-only task these two changes learn in 50-75 steps what
    `mini`'s defaults had not learnt in 300 (test_training_learns_the_action_from_the_image);
    on the MetaWorld scenes a 2200-step run still did not use the images (same docs).
    """
    cfg = _mini()
    return replace(cfg, name='mini2', lm=replace(cfg.lm, gate_init=1.0),
                   head=replace(cfg.head, feature_norm='batch'))


def _mini2_xattn4() -> DeerConfig:
    """`mini2` with cross-attention at every 4th layer (3, 7, 11), as OpenFlamingo-9B places it.

    For the depth suite (issue 25): with cross-attention in every layer the first exit already
    has both hops (colour word -> image, image -> the read token) and `mini` did all its work
    in layers 0-1. Here exit 0 (after layer 1) sees no image at all, only the instruction and
    the robot state, so a frame that needs the scene must go deeper; exits 1.. see it.
    """
    cfg = _mini2()
    return replace(cfg, name='mini2-xattn4', lm=replace(cfg.lm, cross_attn_every=4))


def _deer_3b() -> DeerConfig:
    return DeerConfig(name='deer-3b', lm=LMConfig(alibi_slopes='mosaic_gpt'),
                      exit_layers=default_exits(12))


def _deer_9b() -> DeerConfig:
    lm = LMConfig(d_model=4096, n_heads=32, n_layers=16, qk_ln=False, cross_attn_every=4)
    return DeerConfig(name='deer-9b', lm=lm, exit_layers=default_exits(16))


PRESETS = {'tiny': _tiny, 'mini': _mini, 'mini2': _mini2, 'mini2-xattn4': _mini2_xattn4,
           'small': _small, 'deer-3b': _deer_3b, 'deer-9b': _deer_9b}


def preset(name: str, vocab_size: Optional[int] = None) -> DeerConfig:
    """A named preset; `vocab_size` fills in presets sized by the packaged tokenizer (0)."""
    if name not in PRESETS:
        raise KeyError(f'unknown preset {name!r}; known: {sorted(PRESETS)}')
    cfg = PRESETS[name]()
    if vocab_size is not None:
        cfg = replace(cfg, lm=replace(cfg.lm, vocab_size=vocab_size))
    return cfg
