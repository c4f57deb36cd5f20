"""Strict state-dict accounting: every expected parameter present with the right shape.

DeeR's reference loads non-strictly, so a layout or prefix mismatch silently leaves heads
random. We fail instead, naming what is missing or mis-shaped, and report unexpected keys.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

_BLOCK = re.compile(r'lang_encoder\.transformer\.blocks\.(\d+)\.')


class CheckpointError(ValueError):
    """A checkpoint does not provide the parameters the configured model needs."""


@dataclass
class LoadReport:
    """What a load took from where, and what it could not use."""

    missing: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)    # keys no rule knows
    ignored: List[str] = field(default_factory=list)       # known but unused (aux heads, ...)
    sources: Dict[str, int] = field(default_factory=dict)  # source name -> parameters taken

    @property
    def ok(self) -> bool:
        """True when every expected parameter was found with the right shape."""
        return not self.missing and not self.mismatched

    def summary(self, limit: int = 20) -> str:
        """Human-readable multi-line summary (first `limit` names of each list)."""
        lines = [f'taken: {self.sources}']
        for title, items in (('missing', self.missing), ('wrong shape', self.mismatched),
                             ('unexpected', self.unexpected), ('ignored', self.ignored)):
            if items:
                shown = ', '.join(str(i) for i in items[:limit])
                more = f' ... (+{len(items) - limit})' if len(items) > limit else ''
                lines.append(f'{title} ({len(items)}): {shown}{more}')
        return '\n'.join(lines)


def layer_index(name: str) -> Optional[int]:
    """The LM layer a `lang_encoder.transformer.blocks.{i}.*` key belongs to, else None."""
    match = _BLOCK.match(name)
    return int(match.group(1)) if match else None


def expected_shapes(model: nn.Module) -> Dict[str, Tuple[int, ...]]:
    """Parameter and persistent-buffer shapes the model needs (works on meta tensors)."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check(expected: Mapping[str, Tuple[int, ...]], found: Mapping[str, torch.Tensor],
          report: LoadReport) -> LoadReport:
    """Fill missing / mismatched in `report`; raise CheckpointError unless complete."""
    for name, shape in expected.items():
        if name not in found:
            report.missing.append(name)
        elif tuple(found[name].shape) != shape:
            report.mismatched.append((name, tuple(found[name].shape), shape))
    if not report.ok:
        raise CheckpointError('checkpoint does not match the configured model:\n'
                              + report.summary())
    return report


def load_into(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Assign checked weights (no copy for CPU tensors); the model may live on meta."""
    model.load_state_dict(dict(weights), strict=True, assign=True)
