"""Settings of multi-exit training and of skip-adapter distillation (one dataclass each).

Defaults are sized for the `tiny` preset trained from scratch on CPU; DeeR's own values for the
3B model are listed in docs/training.md next to ours.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

FREEZE_CHOICES = ('none', 'vision', 'deer')
PRECISION_CHOICES = ('fp32', 'bf16', 'fp16')


def option(default: Any, help: str, **meta: Any) -> Any:
    """A config field with its help text (deer_ros.cli.config_flags makes it a flag)."""
    return field(default=default, metadata=dict(help=help, **meta))


@dataclass(frozen=True)
class TrainConfig:
    """Multi-exit training (DeeR section 5): data windows, optimiser, schedule, checkpoints.

    Each field's help is also its `deer-ros train` flag's help (--num-threads is --threads).
    """

    window: int = option(12, 'frames per sample (DeeR: 12)')
    batch_size: int = option(8, 'windows per step, all processes together (torchrun: each of '
                                'N processes trains on batch_size / N of them)')
    joint_steps: int = option(2000, 'phase-1 steps, backbone + head (DeeR\'s "joint" epochs; '
                                    'with --resume: change the saved schedule)')
    head_steps: int = option(0, 'phase-2 steps, head only, backbone under no_grad (DeeR\'s '
                                '"post"; with --resume: change the saved schedule)')
    lr: float = option(1e-3, 'phase-1 peak AdamW learning rate')
    head_lr: float = option(2.5e-4, 'phase-2 peak learning rate (fresh optimiser)')
    head_lr_scale: float = option(1.0, 'phase-1 head LR = lr x this (DeeR: 0.25)')
    weight_decay: float = option(0.01, 'AdamW weight decay, on >= 2-D weights only (no norms, '
                                       'biases, embeddings)')
    warmup_steps: int = option(200, 'linear warm-up steps, then constant LR (DeeR\'s schedule)')
    grad_clip: float = option(1.0, 'gradient clipping, global norm')
    gripper_weight: float = option(0.01, 'BCE weight next to the pose Huber loss (DeeR: 0.01)')
    shift_pad: int = option(2, 'random-shift pixels at the model image size (0: off)')
    freeze: str = option('none', "frozen parameters: none, vision, deer (DeeR's split; see "
                                 'docs/training.md)', choices=FREEZE_CHOICES)
    seed: int = option(0, 'init, data and sampling seed')
    save_every: int = option(500, 'checkpoint every N steps (and at each phase end)')
    log_every: int = option(10, 'loss history resolution, steps')
    num_threads: int = option(2, 'torch CPU threads (per process under torchrun)')
    use_state: bool = option(False, "a new model whose head also takes the recorded robot "
                                    'state (end-effector position + gripper opening)')
    early_frames: int = option(0, "windows starting in an episode's first N frames are "
                                  'sampled --early-repeat times as often (0: off)')
    early_repeat: int = option(1, 'how many times each early window is sampled: the frames '
                                  'that must read the scene carry more of the loss')
    precision: str = option('fp32', 'compute precision: autocast to bf16 or fp16 (fp16 with '
                                    'loss scaling); trained weights and AdamW stay fp32, '
                                    'frozen weights are kept in the compute precision '
                                    '(with --resume: change the saved one)',
                            choices=PRECISION_CHOICES)
    checkpoint_activations: bool = option(False, 'recompute each language-model layer in the '
                                                 'backward pass instead of keeping its '
                                                 'activations (less memory, ~1/3 more compute)')
    workers: int = option(2, 'DataLoader worker processes reading the next batches from the '
                             'frame cache while a step trains (0: read in the training '
                             'process); the batches are the same for any value')

    def __post_init__(self) -> None:
        if self.window < 1 or self.batch_size < 1:
            raise ValueError('window and batch_size must be >= 1')
        if self.joint_steps < 0 or self.head_steps < 0 or self.total_steps == 0:
            raise ValueError('need joint_steps + head_steps > 0, both >= 0')
        if self.freeze not in FREEZE_CHOICES:
            raise ValueError(f'freeze must be one of {FREEZE_CHOICES}, got {self.freeze!r}')
        if self.shift_pad < 0:
            raise ValueError('shift_pad must be >= 0')
        if self.early_frames < 0 or self.early_repeat < 1:
            raise ValueError('early_frames must be >= 0 and early_repeat >= 1')
        if self.workers < 0:
            raise ValueError('workers must be >= 0')
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f'precision must be one of {PRECISION_CHOICES}, '
                             f'got {self.precision!r}')

    @property
    def total_steps(self) -> int:
        """Steps of both phases."""
        return self.joint_steps + self.head_steps

    def phase(self, step: int) -> str:
        """'joint' or 'head' for a 0-based optimisation step."""
        return 'joint' if step < self.joint_steps else 'head'

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'TrainConfig':
        """Inverse of to_dict, ignoring keys of other versions."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class DistillConfig:
    """DySL-style two-stage distillation of skip adapters (the backbone and head stay frozen)."""

    window: int = option(12, 'frames per sample')
    batch_size: int = option(8, 'windows per step')
    stage1_steps: int = option(300, 'stage 1: adapters imitate the skipped block\'s output')
    stage2_steps: int = option(300, 'stage 2: actions on skipped paths imitate the full path')
    lr: float = option(1e-3, 'peak AdamW learning rate')
    warmup_steps: int = option(50, 'linear warm-up steps, then constant LR')
    grad_clip: float = option(1.0, 'gradient clipping, global norm')
    adapter_rank: int = option(16, 'rank of each skip adapter')
    skip_prob: float = option(0.5, 'stage 2: probability that a block is skipped, per frame')
    label_weight: float = option(0.5, 'stage 2: weight of the demonstration-label loss')
    gripper_weight: float = option(0.01, 'BCE weight next to the pose Huber loss')
    shift_pad: int = option(2, 'random-shift pixels at the model image size (0: off)')
    seed: int = option(0, 'data and sampling seed')
    log_every: int = option(10, 'loss history resolution, steps')
    num_threads: int = option(2, 'torch CPU threads')
    blocks: Optional[Tuple[Tuple[int, int], ...]] = None   # None: from analysis or default

    def __post_init__(self) -> None:
        if self.stage1_steps < 0 or self.stage2_steps < 0:
            raise ValueError('stage steps must be >= 0')
        if not 0.0 <= self.skip_prob <= 1.0:
            raise ValueError('skip_prob must be within [0, 1]')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)
