"""Small modules that stand in for a skipped block of layers [start, end).

A SkipAdapter is a residual low-rank MLP whose up-projection starts at zero, so an untrained
adapter is exactly the identity (plain layer skipping); a later training issue fits them.
"""
from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import nn

Block = Tuple[int, int]


class SkipAdapter(nn.Module):
    """x + up(gelu(down(LayerNorm(x)))): (B, L, d) -> (B, L, d), identity at init."""

    def __init__(self, d_model: int, rank: int = 64):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.down = nn.Linear(d_model, rank)
        self.up = nn.Linear(rank, d_model)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d)."""
        return x + self.up(nn.functional.gelu(self.down(self.norm(x))))

    def macs(self, tokens: int) -> int:
        """Matmul MACs for a prompt of `tokens` tokens."""
        return 2 * self.down.in_features * self.down.out_features * tokens


class AdapterRegistry(nn.Module):
    """Adapters keyed by the skipped block (start, end); state_dict keys `blocks.{a}_{b}.*`."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict()

    @staticmethod
    def key(block: Block) -> str:
        """ModuleDict key of a block."""
        return f'{int(block[0])}_{int(block[1])}'

    def register(self, block: Block, adapter: nn.Module) -> None:
        """Install (or replace) the adapter of block [start, end)."""
        start, end = block
        if not 0 <= start < end:
            raise ValueError(f'invalid skipped block {block}')
        self.blocks[self.key(block)] = adapter

    def get(self, block: Block) -> Optional[nn.Module]:
        """The adapter of `block`, or None (identity)."""
        key = self.key(block)
        return self.blocks[key] if key in self.blocks else None

    def items(self) -> Iterator[Tuple[Block, nn.Module]]:
        """(block, adapter) pairs."""
        for key, module in self.blocks.items():
            a, b = key.split('_')
            yield (int(a), int(b)), module

    def as_dict(self) -> Dict[Block, nn.Module]:
        """Plain dict view."""
        return dict(self.items())
