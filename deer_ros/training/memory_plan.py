"""What a training step needs per GPU, known before anything is allocated.

The model is built under torch's FakeTensorMode (shapes and dtypes, no storage) from the real
config, and one training step of the trainer's own forward pieces (FrameInputs, run_layers,
exit_features, sequence_losses) runs forward and backward on fake tensors of the real batch
shape while deer_ros.training.live_bytes counts the bytes alive after every op. So the
activation figure is counted at full size, op by op (vision tower per frame and camera,
perceiver, every language-model layer with its cross-attention, head and loss), including the
autocast weight copies and the temporaries of the backward pass, not scaled from a small model.

Parameters, gradients and AdamW state are exact sums over the fake parameters:
  trainable weights  fp32 (the master copy under bf16 / fp16 autocast: no second copy)
  frozen weights     fp32, or the compute precision under bf16 / fp16
  gradients          fp32, trainable only; the previous step's are still alive during the
                     forward pass (the trainer zeroes them after it), so they count at the peak
  AdamW              2 fp32 moments per trainable weight; its foreach step adds one fp32
                     temporary per trainable weight (sqrt of the second moment)
Peak = weights + AdamW + max(grads + forward peak, backward peak, grads + AdamW temporary).
DDP replicates all of it (plus, with gradient buckets that are not views of the gradients,
one more fp32 copy of the gradients); FSDP divides weights, gradients and AdamW state by the
world size and gathers at most two layers' full weights at a time.
Autocast runs on the CPU's dispatch rules here (no GPU is needed): the CUDA rules differ in a
few ops (e.g. layer norm kept in fp32), so half-precision activations are approximate.
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch

from deer_ros.training.config import TrainConfig

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
DEFAULT_TOKENS = 14           # prompt tokens of a typical CALVIN instruction (bench costs)
_GB = 1024.0 ** 3


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

    @property
    def activation_bytes(self) -> int:
        """Activations and temporaries at the step's peak (the peak less the fixed state)."""
        return self.peak_bytes() - self.trainable_bytes - self.frozen_bytes - self.adam_bytes \
            - self.grad_bytes

    def peak_bytes(self, world: int = 1, fsdp: bool = False, buckets: bool = False) -> int:
        """Peak per GPU; world / fsdp shard the state, buckets adds DDP's gradient buckets."""
        state = self.trainable_bytes + self.frozen_bytes + self.adam_bytes
        grads = self.grad_bytes
        gathered = 0
        if fsdp:
            state, grads = math.ceil(state / world), math.ceil(grads / world)
            gathered = 2 * self.largest_layer_bytes
        fwd = grads + self.forward_peak
        bwd = self.backward_peak - self.grad_bytes + grads
        step = grads + self.grad_bytes // (world if fsdp else 1)
        extra = grads if buckets and world > 1 and not fsdp else 0
        return state + gathered + extra + max(fwd, bwd, step)


def plan_memory(model_cfg: Any, cfg: TrainConfig, inputs: PlanInputs = PlanInputs()
                ) -> MemoryPlan:
    """Count one training step of model_cfg with cfg's window, batch, freeze and precision."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from deer_ros.model.flamingo import DeerVLA
    from deer_ros.training.optim import set_trainable
    per_rank = math.ceil(cfg.batch_size / inputs.world_size)
    dtype = DTYPES[cfg.precision]
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = DeerVLA(model_cfg)
        set_trainable(model, cfg.freeze)
        for p in model.parameters():
            if not p.requires_grad and dtype != torch.float32:
                p.data = p.data.to(dtype)       # frozen weights in the compute precision
        params = list(model.parameters())
        trainable = [p for p in params if p.requires_grad]
        frozen = [p for p in params if not p.requires_grad]
        fwd, bwd = _count_step(model, cfg, per_rank, inputs, dtype)
    nbytes = (lambda ps: sum(p.numel() * p.element_size() for p in ps))   # noqa: E731
    n_train = sum(p.numel() for p in trainable)
    settings = dict(window=cfg.window, batch_size=cfg.batch_size, batch_per_rank=per_rank,
                    precision=cfg.precision, checkpoint_activations=cfg.checkpoint_activations,
                    freeze=cfg.freeze, world_size=inputs.world_size,
                    prompt_tokens=inputs.prompt_tokens, cameras=inputs.cameras)
    largest = max(sum(p.numel() * p.element_size() for p in block.parameters())
                  for block in model.blocks)
    return MemoryPlan(model=model_cfg.name, settings=settings, trainable_params=n_train,
                      frozen_params=sum(p.numel() for p in frozen),
                      trainable_bytes=nbytes(trainable), frozen_bytes=nbytes(frozen),
                      grad_bytes=4 * n_train, adam_bytes=8 * n_train, forward_peak=fwd,
                      backward_peak=bwd, largest_layer_bytes=largest)


def _count_step(model: Any, cfg: TrainConfig, batch: int, inputs: PlanInputs,
                dtype: torch.dtype) -> tuple:
    """(forward peak, backward peak) bytes of one step on fake tensors."""
    from deer_ros.training.data import Batch
    from deer_ros.training.forward import FrameInputs, exit_features, run_layers
    from deer_ros.training.live_bytes import LiveBytes
    from deer_ros.training.losses import sequence_losses
    w, s, tokens = cfg.window, model.cfg.vision.image_size, inputs.prompt_tokens
    state_dim = model.cfg.head.state_dim
    with LiveBytes() as live:
        frames = [torch.zeros(batch, w, 3, s, s, dtype=torch.uint8)
                  for _ in range(inputs.cameras)]
        data = Batch(frames[0], frames[1] if inputs.cameras == 2 else None,
                     torch.zeros(batch, tokens, dtype=torch.long),
                     torch.ones(batch, tokens, dtype=torch.bool), torch.zeros(batch, w, 7),
                     torch.zeros(batch, w, state_dim) if state_dim else None)
        gen = torch.Generator().manual_seed(0)
        with torch.autocast('cpu', dtype=dtype, enabled=dtype != torch.float32):
            frame_inputs = FrameInputs(model, data, 0, cfg.shift_pad, gen,
                                       vision_grad=cfg.freeze == 'none')
            outputs = run_layers(model, frame_inputs, checkpoint=cfg.checkpoint_activations)
            features = exit_features(model, outputs, frame_inputs)
            del outputs
            drawn = features[0].clone()          # s1 / s2: gathers of the same shape
            losses = sequence_losses(model.extra_exit, features, drawn, drawn.clone(),
                                     data.actions, cfg.gripper_weight, data.state)
            total = torch.stack(list(losses.values())).sum()
        del features, drawn, losses, frame_inputs
        forward = live.mark_peak()
        total.backward()
        backward = live.mark_peak()
    return forward, backward


def plan_rows(plan: MemoryPlan, world: int) -> List[List[Any]]:
    """Table rows (GB) per GPU: one column for 1 GPU, or DDP and FSDP for world > 1."""
    layouts = [('1 GPU', 1, False)]
    if world > 1:
        layouts = [(f'DDP x{world}', world, False), (f'FSDP x{world}', world, True)]
    gb = (lambda b: round(b / _GB, 3))   # noqa: E731

    def shard(b: int, fsdp: bool, w: int) -> float:
        return gb(math.ceil(b / w)) if fsdp else gb(b)
    rows = [['trainable weights (fp32)'] + [shard(plan.trainable_bytes, f, w)
                                            for _, w, f in layouts],
            [f"frozen weights ({_frozen_dtype(plan)})"] + [shard(plan.frozen_bytes, f, w)
                                                           for _, w, f in layouts],
            ['gradients (fp32)'] + [shard(plan.grad_bytes, f, w) for _, w, f in layouts],
            ['AdamW moments (2 x fp32)'] + [shard(plan.adam_bytes, f, w)
                                            for _, w, f in layouts],
            ['activations + temporaries at the peak'] + [
                gb(plan.peak_bytes(w, f) - _state(plan, w, f)) for _, w, f in layouts],
            ['**peak per GPU**'] + [gb(plan.peak_bytes(w, f)) for _, w, f in layouts]]
    return [['', *[name for name, _, _ in layouts]]] + rows


def _state(plan: MemoryPlan, world: int, fsdp: bool) -> int:
    total = plan.trainable_bytes + plan.frozen_bytes + plan.adam_bytes + plan.grad_bytes
    return math.ceil(total / world) if fsdp else total


def _frozen_dtype(plan: MemoryPlan) -> str:
    return 'fp32' if plan.settings['precision'] == 'fp32' else plan.settings['precision']


def plan_markdown(plan: MemoryPlan, command: str = '') -> str:
    """The plan as a markdown table with its settings."""
    from deer_ros.bench.report import table
    s = plan.settings
    rows = plan_rows(plan, s['world_size'])
    head = (f"### Memory plan: {plan.model}, window {s['window']}, global batch "
            f"{s['batch_size']} ({s['batch_per_rank']} per GPU), {s['precision']}, "
            f"activation checkpointing {'on' if s['checkpoint_activations'] else 'off'}, "
            f"freeze {s['freeze']}, {s['cameras']} camera(s), {s['prompt_tokens']} prompt "
            f"tokens")
    lines = [head, '']
    if command:
        lines += [f'- command: `{command}`']
    lines += [f'- weights: {plan.trainable_params / 1e6:.1f} M trainable, '
              f'{plan.frozen_params / 1e6:.1f} M frozen; GB = 2^30 bytes',
              '- counted by running one training step on fake tensors (no memory used); '
              'DDP gradient buckets not included (0 with gradient_as_bucket_view)', '',
              table(rows[0], rows[1:])]
    return '\n'.join(lines)


def plan_dict(plan: MemoryPlan) -> Dict[str, Any]:
    """JSON-ready plan with the peaks of each layout."""
    out = dataclasses.asdict(plan)
    world = plan.settings['world_size']
    out['peak_bytes'] = {'one_gpu': plan.peak_bytes(),
                         'ddp': plan.peak_bytes(world), 'fsdp': plan.peak_bytes(world, True)}
    return out


def plan_for_run(model_cfg: Any, cfg: TrainConfig, world_size: Optional[int] = None,
                 prompt_tokens: int = DEFAULT_TOKENS, cameras: int = 2) -> MemoryPlan:
    """plan_memory with the world size of torchrun's environment when none is given."""
    import os
    world = world_size or int(os.environ.get('WORLD_SIZE', '1'))
    return plan_memory(model_cfg, cfg, PlanInputs(world, prompt_tokens, cameras))
