"""Model card: parameters and cost per exit of a preset, computed from the config.

Builds the preset on the meta device (no memory, no weights) to count parameters, and uses
the analytic MAC counts of flops.py. `python -m deer_ros.model.card deer-3b` prints the table
pasted into docs/model.md.
"""
import sys
from dataclasses import dataclass
from typing import List, Optional

import torch

from deer_ros.model.build import preset_config
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.flops import exit_macs, head_macs, vision_macs

TYPICAL_TOKENS = 13.5     # DeeR's average prompt length on CALVIN (reproduces the paper)


@dataclass(frozen=True)
class ExitRow:
    """One exit: how much of the language model it needs."""

    exit_index: int
    layer: int
    layers: int
    llm_params: int          # embedding + kept layers (cross-attention included)
    llm_gmacs: float         # at `tokens` prompt tokens, two cameras


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def exit_table(preset: str, tokens: float = TYPICAL_TOKENS, vocab_size: Optional[int] = None
               ) -> List[ExitRow]:
    """Rows for every exit of `preset` (vocab from the packaged tokenizer for small presets)."""
    cfg = preset_config(preset)
    with torch.device('meta'):
        model = DeerVLA(cfg)
    per_layer = [_count(b) for b in model.blocks]
    embed = _count(model.lang_encoder.transformer.wte)
    media = 2 * cfg.perceiver.num_latents
    macs = exit_macs(cfg, tokens, media)
    return [ExitRow(k, e, e + 1, embed + sum(per_layer[:e + 1]), macs[k] / 1e9)
            for k, e in enumerate(cfg.exit_layers)]


def render(preset: str, tokens: float = TYPICAL_TOKENS) -> str:
    """Markdown table + fixed costs for `preset`."""
    cfg = preset_config(preset)
    with torch.device('meta'):
        model = DeerVLA(cfg)
    rows = exit_table(preset, tokens)
    lines = [f'{preset}: LLM cost per exit at L = {tokens} prompt tokens, '
             f'{2 * cfg.perceiver.num_latents} media tokens (GMAC; FLOPs = 2 x MAC)', '',
             '| exit | layer (0-based) | layers run | LLM params (M) | fp32 GB | LLM GMAC |',
             '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r.exit_index} | {r.layer} | {r.layers} | {r.llm_params / 1e6:.1f} | '
                     f'{r.llm_params * 4 / 1e9:.2f} | {r.llm_gmacs:.2f} |')
    lines += ['',
              f'vision tower params: {_count(model.vision_encoder) / 1e6:.1f} M, '
              f'perceiver: {_count(model.perceiver) / 1e6:.1f} M, '
              f'exit head: {_count(model.extra_exit) / 1e6:.1f} M',
              f'fixed per frame (2 cameras): vision + perceiver '
              f'{vision_macs(cfg) / 1e9:.1f} GMAC; '
              f'one head evaluation {head_macs(cfg) / 1e9:.3f} GMAC']
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Print the card of each preset named on the command line (default deer-3b)."""
    for name in (argv if argv is not None else sys.argv[1:]) or ['deer-3b']:
        print(render(name))
        print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
