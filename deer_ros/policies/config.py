"""EngineConfig: every setting of the exit / skip / budget policies, once, with its metadata.

Each field carries `metadata` (description, unit, min, max, choices, live) from which the ROS node
generates parameter descriptors; `live=True` fields may change at run time through
`InferenceEngine.update_config`, applied from the next frame.

The config is frozen and checked when it is made, so an EngineConfig that exists is in range;
change it with `dataclasses.replace` (or `updated`, which also refuses read-only fields). Whether
it fits a given model is `fit_problem`, the one rule the engine and the node's parameters share.
"""
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Optional, Sequence, Tuple

from deer_ros.policies.criterion import NEVER_EXIT
from deer_ros.policies.kinds import CRITERIA, POLICIES, Criterion, Policy


def _field(default: Any, description: str, unit: str = '', min: Optional[float] = None,
           max: Optional[float] = None, choices: Optional[Sequence[str]] = None,
           live: bool = True) -> Any:
    meta = {'description': description, 'unit': unit, 'min': min, 'max': max,
            'choices': tuple(choices) if choices else None, 'live': live}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class EngineConfig:
    """Settings of InferenceEngine. Units are in the names where they have one."""

    policy: Policy = _field(
        'deer', "exit policy: 'deer' dynamic early exit, 'fixed' exit, 'full'", choices=POLICIES)
    criterion: Criterion = _field('rms', "DeeR consistency measure over the 6 pose values",
                                  choices=CRITERIA)
    thresholds: Tuple[float, ...] = _field(
        (), 'DeeR threshold per exit (exit iff value <= threshold); the deepest allowed exit '
        'always fires', unit='pose units')
    fixed_exit: int = _field(-1, "exit index run by policy 'fixed' (-1: deepest resident)",
                             min=-1, max=64)
    max_exit: int = _field(-1, 'deepest exit index any policy may use (DeeR max_layer; -1: '
                           'all)', min=-1, max=64)
    # --- DySL layer skipping -------------------------------------------------------------
    skip_enabled: bool = _field(False, 'DySL-style skipping of dynamic layer blocks')
    static_layers: Tuple[int, ...] = _field(
        (), 'layers always executed (empty: ~20% evenly spaced, layer 0 included); blocks = '
        'runs of the other layers')
    skip_history: int = _field(5, 'actions in the trajectory-continuity window (k)',
                               unit='steps', min=2, max=100)
    skip_continuity_min: float = _field(-0.1, 'skip only if C_t = -mean |A_j - A_j-1| >= this',
                                        unit='pose units', min=-10.0, max=0.0)
    skip_gripper_window: int = _field(3, 'a gripper change within this many past steps '
                                      'forces full depth (0: off)', unit='steps', min=0, max=100)
    skip_verify: bool = _field(True, 'post guidance: check a skipped pass against the nearest '
                               'static layer exit, rerun without skipping on disagreement')
    skip_verify_threshold: float = _field(0.05, 'post-guidance disagreement limit (same '
                                          'measure as the criterion)', unit='pose units',
                                          min=0.0, max=10.0)
    # --- average compute budget ----------------------------------------------------------
    budget_avg_gflops: float = _field(0.0, 'target average LLM compute per action (0: off)',
                                      unit='GMAC', min=0.0, max=1e6)
    budget_avg_fraction: float = _field(0.0, 'target average compute as a fraction of the '
                                        'full model (0: off; ignored if budget_avg_gflops set)',
                                        min=0.0, max=1.0)
    budget_gain: float = _field(0.3, 'integral gain of the compute controller (log threshold '
                                'scale per unit of normalised error)', min=0.0, max=10.0)
    budget_window: int = _field(100, 'frames in the running averages reported and controlled',
                                unit='frames', min=1, max=100000)
    budget_scale_max: float = _field(1000.0, 'bound of the compute controller: its threshold '
                                     'scale stays within [1/this, this] (at a bound it reports '
                                     'saturation)', min=1.0, max=1e4)
    # --- latency deadline ----------------------------------------------------------------
    budget_latency_ms: float = _field(0.0, 'deadline from frame arrival to action (0: off)',
                                      unit='ms', min=0.0, max=60000.0)
    latency_percentile: float = _field(99.0, 'percentile of measured segment latency used to '
                                       'predict the next segment', unit='%', min=50.0,
                                       max=100.0)
    latency_window: int = _field(200, 'latency samples kept per estimator', unit='samples',
                                 min=5, max=100000)
    latency_margin_ms: float = _field(1.0, 'safety margin kept before the deadline', unit='ms',
                                      min=0.0, max=1000.0)
    # --- GPU memory budget ---------------------------------------------------------------
    budget_gpu_memory_mb: float = _field(0.0, 'cap on the memory our process holds on the GPU '
                                         '(0: off)', unit='MB', min=0.0, max=1e7)
    memory_reserve_mb: float = _field(0.0, 'shed layers when device free memory falls below '
                                      'this (0: off)', unit='MB', min=0.0, max=1e7)
    memory_hysteresis_mb: float = _field(256.0, 'headroom required before reloading layers',
                                         unit='MB', min=0.0, max=1e6)
    memory_grow_patience: int = _field(10, 'consecutive frames with headroom before reloading '
                                       'one exit', unit='frames', min=1, max=100000)
    layer_memory_mb: float = _field(0.0, 'memory of one resident layer (0: learn it from '
                                    'measurements)', unit='MB', min=0.0, max=1e6)
    memory_device_index: int = _field(-1, "NVML device index (-1: the model's device, "
                                      'cuda:N -> N)', min=-1, max=64, live=False)

    def __post_init__(self) -> None:
        """Sequences become tuples (frozen all the way down); ValueError names a bad field."""
        object.__setattr__(self, 'thresholds', tuple(self.thresholds))
        object.__setattr__(self, 'static_layers', tuple(self.static_layers))
        self._check_ranges()

    def _check_ranges(self) -> None:
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta.get('choices') and value not in meta['choices']:
                raise ValueError(f'{f.name}={value!r}: must be one of {meta["choices"]}')
            if isinstance(value, bool) or isinstance(value, (tuple, str)):
                continue
            if meta.get('min') is not None and value < meta['min']:
                raise ValueError(f'{f.name}={value}: below minimum {meta["min"]}')
            if meta.get('max') is not None and value > meta['max']:
                raise ValueError(f'{f.name}={value}: above maximum {meta["max"]}')
        if any(not isinstance(t, (int, float)) for t in self.thresholds):
            raise ValueError(f'thresholds={self.thresholds!r}: must be numbers')
        bad = [t for t in self.thresholds if NEVER_EXIT < t < 0 or t != t]
        if bad:
            raise ValueError(f'thresholds={list(self.thresholds)!r}: {bad[0]} is negative; a '
                             'threshold bounds a consistency distance (>= 0). To never exit '
                             f'at an exit use DeeR\'s sentinel {NEVER_EXIT:g}')
        if any(int(x) < 0 for x in self.static_layers):
            raise ValueError(f'static_layers={self.static_layers!r}: must be >= 0')

    def updated(self, **changes: Any) -> 'EngineConfig':
        """A validated copy with `changes`; unknown names or non-live fields raise ValueError."""
        meta = {f.name: f.metadata for f in fields(self)}
        for name in changes:
            if name not in meta:
                raise ValueError(f'unknown setting {name!r}')
            if not meta[name]['live']:
                raise ValueError(f'{name} is read-only at run time')
        return replace(self, **changes)

    @staticmethod
    def describe() -> Dict[str, Dict[str, Any]]:
        """Map each field name to {default, type, description, unit, min, max, choices, live}."""
        out = {}
        for f in fields(EngineConfig):
            out[f.name] = dict(f.metadata, default=f.default, type=f.type)
        return out


def fit_problem(cfg: EngineConfig, num_exits: int, num_layers: Optional[int] = None
                ) -> Optional[Tuple[str, str]]:
    """(field, why) when `cfg` cannot drive a model with these exits / layers, else None.

    DeeR needs a threshold for every exit before the deepest one it may take (the deepest always
    fires); exit indices must name an exit; static layers a layer (when num_layers is given).
    """
    allowed = num_exits if cfg.max_exit < 0 else min(cfg.max_exit + 1, num_exits)
    if cfg.policy == 'deer' and len(cfg.thresholds) < allowed - 1:
        return 'thresholds', (f'{len(cfg.thresholds)} given, policy deer needs {allowed - 1} '
                              '(one per exit before the deepest allowed)')
    for name in ('fixed_exit', 'max_exit'):
        if getattr(cfg, name) >= num_exits:
            return name, f'{getattr(cfg, name)} >= {num_exits} exits'
    if num_layers is not None and any(int(s) >= num_layers for s in cfg.static_layers):
        return 'static_layers', f'{list(cfg.static_layers)}: must be < {num_layers} layers'
    return None
