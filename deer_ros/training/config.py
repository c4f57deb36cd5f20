"""Settings of multi-exit training and of skip-adapter distillation (one dataclass each).

Defaults are sized for the `tiny` preset trained from scratch on CPU; DeeR's own values for the
3B model are listed in docs/training.md next to ours.
"""
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Optional, Tuple

FREEZE_CHOICES = ('none', 'vision', 'deer')


@dataclass(frozen=True)
class TrainConfig:
    """Multi-exit training (DeeR section 5): data windows, optimiser, schedule, checkpoints."""

    window: int = 12                  # frames per sample (DeeR: 12)
    batch_size: int = 8               # windows per step
    joint_steps: int = 2000           # phase 1: backbone + head (DeeR's "joint" epochs)
    head_steps: int = 0               # phase 2: head only, backbone under no_grad ("post")
    lr: float = 1e-3                  # peak AdamW learning rate, phase 1
    head_lr: float = 2.5e-4           # peak learning rate of phase 2 (fresh optimiser)
    head_lr_scale: float = 1.0        # phase-1 head LR = lr * this (DeeR: 0.25)
    weight_decay: float = 0.01        # on >= 2-D weights only (no norms, biases, embeddings)
    warmup_steps: int = 200           # linear warm-up, then constant (DeeR's schedule)
    grad_clip: float = 1.0            # global norm
    gripper_weight: float = 0.01      # BCE weight next to the pose Huber loss (DeeR: 0.01)
    shift_pad: int = 2                # random-shift augmentation, pixels at the model's size
    freeze: str = 'none'              # 'none' | 'vision' | 'deer' (see docs/training.md)
    seed: int = 0
    save_every: int = 500             # checkpoint every N steps (and at each phase end)
    log_every: int = 10               # loss history resolution, steps
    num_threads: int = 2              # torch CPU threads
    use_state: bool = False           # a new model's head takes the recorded robot state

    def __post_init__(self) -> None:
        if self.window < 1 or self.batch_size < 1:
            raise ValueError('window and batch_size must be >= 1')
        if self.joint_steps < 0 or self.head_steps < 0 or self.total_steps == 0:
            raise ValueError('need joint_steps + head_steps > 0, both >= 0')
        if self.freeze not in FREEZE_CHOICES:
            raise ValueError(f'freeze must be one of {FREEZE_CHOICES}, got {self.freeze!r}')
        if self.shift_pad < 0:
            raise ValueError('shift_pad must be >= 0')

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

    window: int = 12
    batch_size: int = 8
    stage1_steps: int = 300           # adapters imitate the skipped block's output
    stage2_steps: int = 300           # actions on skipped paths imitate the full path
    lr: float = 1e-3
    warmup_steps: int = 50
    grad_clip: float = 1.0
    adapter_rank: int = 16
    skip_prob: float = 0.5            # stage 2: chance each block is skipped, per frame
    label_weight: float = 0.5         # stage 2: weight of the demonstration-label loss
    gripper_weight: float = 0.01
    shift_pad: int = 2
    seed: int = 0
    log_every: int = 10
    num_threads: int = 2
    blocks: Optional[Tuple[Tuple[int, int], ...]] = None   # None: from analysis or default

    def __post_init__(self) -> None:
        if self.stage1_steps < 0 or self.stage2_steps < 0:
            raise ValueError('stage steps must be >= 0')
        if not 0.0 <= self.skip_prob <= 1.0:
            raise ValueError('skip_prob must be within [0, 1]')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)
