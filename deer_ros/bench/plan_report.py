"""The memory plan as a markdown table (deer_ros.training.memory_plan counts; this shows)."""
from typing import Any, List

from deer_ros.bench.report import table
from deer_ros.training.memory_plan import MemoryPlan

_GB = 1024.0 ** 3


ROWS = (('trainable', 'trainable weights (fp32)'), ('frozen', 'frozen weights ({})'),
        ('grads', 'gradients (fp32)'), ('adam', 'AdamW moments (2 x fp32)'),
        ('buckets', 'DDP gradient buckets (fp32)'), ('gathered', 'FSDP gathered layers'),
        ('activations', 'activations + temporaries at the peak'), ('peak', '**peak per GPU**'))


def plan_rows(plan: MemoryPlan) -> List[List[Any]]:
    """Header and rows (GB) per GPU: one column for 1 GPU, or DDP and FSDP for world > 1."""
    world = plan.settings['world_size']
    layouts = [('1 GPU', plan.layout())]
    if world > 1:
        layouts = [(f'DDP x{world}', plan.layout(world)),
                   (f'FSDP x{world}', plan.layout(world, fsdp=True))]
    frozen = 'fp32' if plan.settings['precision'] == 'fp32' else plan.settings['precision']
    rows = [[label.format(frozen)] + [values[key] / _GB for _, values in layouts]
            for key, label in ROWS if any(values[key] for _, values in layouts)]
    return [['per GPU, GB'] + [name for name, _ in layouts]] + rows


def plan_markdown(plan: MemoryPlan, command: str = '') -> str:
    """The plan as a markdown table with its settings."""
    s = plan.settings
    rows = plan_rows(plan)
    lines = [f"### Memory plan: {plan.model}, window {s['window']}, global batch "
             f"{s['batch_size']} ({s['batch_per_rank']} per GPU), {s['precision']}, "
             f"activation checkpointing {'on' if s['checkpoint_activations'] else 'off'}, "
             f"freeze {s['freeze']}, {s['cameras']} camera(s), {s['prompt_tokens']} prompt "
             'tokens', '']
    if command:
        lines += [f'- command: `{command}`']
    lines += [f'- weights: {plan.trainable_params / 1e6:.1f} M trainable, '
              f'{plan.frozen_params / 1e6:.1f} M frozen; GB = 2^30 bytes',
              '- counted by running one training step on fake tensors at full size (nothing '
              'allocated); AdamW state exists from the first step on', '',
              table(rows[0], rows[1:])]
    return '\n'.join(lines)
