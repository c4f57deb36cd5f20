"""What a training step needs per GPU, known before anything is allocated.

The model is built under torch's FakeTensorMode (shapes and dtypes, no storage) from the real
config, and one training step of the trainer's own pieces (FrameInputs, run_layers with its
checkpointing, exit_features, the head and loss, under the step's autocast) runs forward and
backward on fake tensors of the real batch shape while deer_ros.training.live_bytes counts the
bytes alive after every op. So the activation figure is counted at full size, op by op (vision
tower per frame and camera, perceiver, every language-model layer with its cross-attention,
head and loss), including autocast's weight copies and the backward pass's temporaries, not
scaled from a small model.

Parameters, gradients and AdamW state are exact sums over the fake parameters:
  trainable weights  fp32 (the master copy under bf16 / fp16 autocast: no second copy)
  frozen weights     fp32, or the compute precision under bf16 / fp16 (keep_frozen_in)
  gradients          fp32, trainable only; the previous step's are still alive during the
                     forward pass (the trainer zeroes them after it), so they count at the peak
  AdamW              2 fp32 moments per trainable weight; its foreach step adds one fp32
                     temporary per trainable weight (sqrt of the second moment)
Peak = weights + AdamW + max(grads + forward peak, backward peak, grads + AdamW temporary).
DDP replicates all of it plus its gradient buckets (gradient_as_bucket_view off, torch's
default, as the trainer builds it: one more fp32 copy of the gradients); FSDP divides weights,
gradients and AdamW state by the world size and gathers at most two layers' full weights at a
time (an estimate: the trainer offers DDP). Autocast runs on the CPU's dispatch rules here (no
GPU is needed): CUDA's keep a few more ops (e.g. layer norm) in fp32, so half-precision
activations on a GPU may be somewhat higher. Scratch buffers allocated inside kernels
(oneDNN's) are not tensors and are not counted.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch

from deer_ros.training.config import TrainConfig

DEFAULT_TOKENS = 14           # prompt tokens of a typical CALVIN instruction (bench costs)


@dataclass(frozen=True)
class PlanInputs:
    """What the plan needs besides the model config and the TrainConfig."""

    world_size: int = 1           # processes (GPUs); batch_size is the global batch
    prompt_tokens: int = DEFAULT_TOKENS
    cameras: int = 2              # static + gripper

    def __post_init__(self) -> None:
        if self.world_size < 1 or self.prompt_tokens < 1 or self.cameras not in (1, 2):
            raise ValueError('world_size >= 1, prompt_tokens >= 1 and cameras 1 or 2')


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per GPU of one steady-state training step (all counts for one rank)."""

    model: str
    settings: Dict[str, Any]
    trainable_params: int         # numbers of weights
    frozen_params: int
    trainable_bytes: int
    frozen_bytes: int
    grad_bytes: int
    adam_bytes: int
    forward_peak: int             # tensors alive beyond weights / grads / AdamW, forward pass
    backward_peak: int            # the same during backward, new gradients included
    largest_layer_bytes: int      # weights of the largest block (FSDP gathers)

    def layout(self, world: int = 1, fsdp: bool = False) -> Dict[str, int]:
        """Bytes per GPU by kind, and the peak, for DDP (or one GPU) or FSDP over `world`."""
        part = (lambda b: math.ceil(b / world) if fsdp else b)    # noqa: E731
        out = {'trainable': part(self.trainable_bytes), 'frozen': part(self.frozen_bytes),
               'grads': part(self.grad_bytes), 'adam': part(self.adam_bytes),
               'buckets': self.grad_bytes if world > 1 and not fsdp else 0,
               'gathered': 2 * self.largest_layer_bytes if fsdp else 0}
        fwd = out['grads'] + self.forward_peak               # last step's grads still alive
        bwd = self.backward_peak - self.grad_bytes + out['grads']
        step = 2 * out['grads']                              # grads + AdamW's temporary
        fixed = out['trainable'] + out['frozen'] + out['adam'] + out['buckets'] + out['gathered']
        out['peak'] = fixed + max(fwd, bwd, step)
        out['activations'] = out['peak'] - fixed - out['grads']
        return out

    def peak_bytes(self, world: int = 1, fsdp: bool = False) -> int:
        """Peak bytes per GPU of a step."""
        return self.layout(world, fsdp)['peak']


def plan_memory(model_cfg: Any, cfg: TrainConfig, inputs: PlanInputs = PlanInputs()
                ) -> MemoryPlan:
    """Count one training step of model_cfg with cfg's window, batch, freeze and precision."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from deer_ros.model.flamingo import DeerVLA
    from deer_ros.training.optim import set_trainable
    from deer_ros.training.precision import keep_frozen_in
    from deer_ros.training.sampling import Shard
    per_rank = Shard(0, inputs.world_size).local_batch(cfg.batch_size)
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = DeerVLA(model_cfg)
        set_trainable(model, cfg.freeze)                # as the trainer: the same calls
        keep_frozen_in(model, cfg.precision)
        params = list(model.parameters())
        trainable = [p for p in params if p.requires_grad]
        frozen = [p for p in params if not p.requires_grad]
        fwd, bwd = _count_step(model, cfg, per_rank, inputs)
    nbytes = (lambda ps: sum(p.numel() * p.element_size() for p in ps))   # noqa: E731
    n_train = sum(p.numel() for p in trainable)
    settings = dict(window=cfg.window, batch_size=cfg.batch_size, batch_per_rank=per_rank,
                    precision=cfg.precision, checkpoint_activations=cfg.checkpoint_activations,
                    freeze=cfg.freeze, world_size=inputs.world_size,
                    prompt_tokens=inputs.prompt_tokens, cameras=inputs.cameras)
    largest = max(nbytes(block.parameters()) for block in model.blocks)
    return MemoryPlan(model=model_cfg.name, settings=settings, trainable_params=n_train,
                      frozen_params=sum(p.numel() for p in frozen),
                      trainable_bytes=nbytes(trainable), frozen_bytes=nbytes(frozen),
                      grad_bytes=4 * n_train, adam_bytes=8 * n_train, forward_peak=fwd,
                      backward_peak=bwd, largest_layer_bytes=largest)


def _count_step(model: Any, cfg: TrainConfig, batch: int, inputs: PlanInputs) -> tuple:
    """(forward peak, backward peak) bytes of one step on fake tensors.

    The backbone is MultiExitObjective's own code (FrameInputs, run_layers with its
    checkpointing, exit_features) under the trainer's autocast. The head's random exit draws
    need real numbers, which fake tensors do not have, so s1 / s2 are copies of one exit's
    features (same shapes) and the head runs in fp32, as the objective runs it on the CPU.
    """
    from deer_ros.training.data import Batch
    from deer_ros.training.forward import FrameInputs, exit_features, run_layers
    from deer_ros.training.live_bytes import LiveBytes
    from deer_ros.training.losses import action_loss
    from deer_ros.training.precision import autocast
    w, s, tokens = cfg.window, model.cfg.vision.image_size, inputs.prompt_tokens
    state_dim, head = model.cfg.head.state_dim, model.extra_exit
    with LiveBytes() as live:
        frames = [torch.zeros(batch, w, 3, s, s, dtype=torch.uint8)
                  for _ in range(inputs.cameras)]
        data = Batch(frames[0], frames[1] if inputs.cameras == 2 else None,
                     torch.zeros(batch, tokens, dtype=torch.long),
                     torch.ones(batch, tokens, dtype=torch.bool), torch.zeros(batch, w, 7),
                     torch.zeros(batch, w, state_dim) if state_dim else None)
        with autocast(torch.device('cpu'), cfg.precision):
            frame_inputs = FrameInputs(model, data, 0, cfg.shift_pad, torch.Generator(),
                                       vision_grad=cfg.freeze == 'none')
            outputs = run_layers(model, frame_inputs, recompute=cfg.checkpoint_activations)
            features = exit_features(model, outputs, frame_inputs).float()   # (E, B, W, d)
        del outputs, frame_inputs
        e = features.shape[0]
        sequences = torch.cat([features.flatten(0, 1), features[0].clone(),
                               features[-1].clone()])                     # ((E + 2) B, W, d)
        state = None if data.state is None else data.state.repeat(e + 2, 1, 1)
        pose, logit, _ = head(head.fuse(sequences, state))
        total = action_loss(pose, logit, data.actions.repeat(e + 2, 1, 1), cfg.gripper_weight)
        del features, sequences, pose, logit
        forward = live.mark_peak()
        total.backward()
        backward = live.mark_peak()
    return forward, backward


def plan_for_run(model_cfg: Any, cfg: TrainConfig, world_size: Optional[int] = None,
                 prompt_tokens: int = DEFAULT_TOKENS, cameras: int = 2) -> MemoryPlan:
    """plan_memory with the world size of torchrun's environment when none is given."""
    import os
    world = world_size or int(os.environ.get('WORLD_SIZE', '1'))
    return plan_memory(model_cfg, cfg, PlanInputs(world, prompt_tokens, cameras))
