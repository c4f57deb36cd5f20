"""Which blocks of layers get a skip adapter: the layer analysis, or a documented default.

Source, in order: a YAML written by `deer-ros analyze-layers` (its `blocks`), else the default
of deer_ros.policies.skipping: evenly spaced static layers (20%, layer 0 first) and the runs of
dynamic layers between them, cut after every exit layer.
"""
from typing import List, Optional, Tuple

from deer_ros.model.config import DeerConfig
from deer_ros.policies.skipping import default_static_layers, skip_blocks

Block = Tuple[int, int]


def blocks_from_yaml(path: str) -> List[Block]:
    """The `blocks` list of an analyze-layers YAML."""
    import yaml
    with open(path) as stream:
        data = yaml.safe_load(stream)
    if 'blocks' not in data:
        raise ValueError(f'{path}: no "blocks" entry (not an analyze-layers file?)')
    return [(int(a), int(b)) for a, b in data['blocks']]


def blocks_for(cfg: DeerConfig, layers_yaml: Optional[str] = None) -> List[Block]:
    """Skippable blocks of a model: from `layers_yaml` when given, else the default rule."""
    n = cfg.lm.n_layers
    if layers_yaml:
        blocks = blocks_from_yaml(layers_yaml)
    else:
        blocks = skip_blocks(n, default_static_layers(n), cfg.exit_layers)
    bad = [b for b in blocks if not 0 <= b[0] < b[1] <= n]
    if bad:
        raise ValueError(f'blocks {bad} do not fit a {n}-layer model')
    return sorted(blocks)
