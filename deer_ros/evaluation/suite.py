"""The configurations the benchmark compares (pure: no torch, no rclpy).

Each `EvalConfig` is a set of EngineConfig overrides plus what it stands for. `build_suite` makes
the standard list: the full model (last exit, the RoboFlamingo-style baseline), fixed shallower
exits, DeeR with calibrated thresholds at several average budgets, DySL skipping, and our online
compute controller at the same budgets.

A budget F is a fraction of the full model of the frames actually run (`budget_avg_fraction`):
`deer-F` solves the thresholds for F at each instruction's layer costs (the engine's threshold
solver; static, budget_gain 0), `online-F` starts there and lets the controller hold F, and
`skip-F` is DySL skipping at full depth with the controller widening or narrowing its skip
limits to hold F (skipping has no calibration to be static with). The
thresholds listed here (solved for F of the calibration's mean full model) are the fallback of
an engine without a calibration.

The `control` family is the shuffled-instruction control of language-conditioned tasks:
`full-shuffled` runs the full model on the same episodes but tells it another target's
instruction (MetaWorldSim.control_instruction). A policy that uses the instruction drops to at
most 1/k there; one that ignores it scores the same as `full`.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

FAMILIES = ('full', 'fixed', 'deer', 'online', 'skip', 'control')
STANDARD_FAMILIES = FAMILIES[:-1]        # the default; 'control' joins for language tasks
INSTRUCTIONS = ('given', 'shuffled')     # what the policy is told: the episode's, or another's
DEFAULT_FRACTIONS = (0.25, 0.33, 0.5)


@dataclass(frozen=True)
class EvalConfig:
    """One evaluated configuration."""

    name: str                                  # short id, e.g. 'deer-0.33'
    family: str                                # one of FAMILIES
    description: str                           # one line for the table
    engine: Dict[str, Any] = field(default_factory=dict)   # EngineConfig field overrides
    budget_fraction: Optional[float] = None    # target average compute / full model
    instruction: str = 'given'                 # one of INSTRUCTIONS

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f'family must be one of {FAMILIES}, got {self.family!r}')
        if self.instruction not in INSTRUCTIONS:
            raise ValueError(f'instruction must be one of {INSTRUCTIONS}, '
                             f'got {self.instruction!r}')


ThresholdSource = Callable[[float], List[float]]   # budget in GMAC -> thresholds per exit


def build_suite(num_exits: int, full_gmacs: float, thresholds_for: ThresholdSource,
                fractions: Sequence[float] = DEFAULT_FRACTIONS,
                families: Sequence[str] = STANDARD_FAMILIES) -> List[EvalConfig]:
    """The standard configurations, in table order (see the module docstring)."""
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f'unknown families {sorted(unknown)}; known: {FAMILIES}')
    if any(not 0.0 < f < 1.0 for f in fractions):
        raise ValueError('budget fractions must be within (0, 1)')
    out: List[EvalConfig] = []
    last = num_exits - 1
    if 'full' in families:
        out.append(EvalConfig('full', 'full', f'full model (exit {last}, baseline)',
                              {'policy': 'full'}))
    if 'control' in families:
        out.append(EvalConfig('full-shuffled', 'control', 'full model told another target '
                              '(language tasks; control)', {'policy': 'full'},
                              instruction='shuffled'))
    if 'fixed' in families:
        out += [EvalConfig(f'fixed-{k}', 'fixed', f'fixed exit {k}',
                           {'policy': 'fixed', 'fixed_exit': k}) for k in range(last)]
    for fraction in sorted(fractions):
        target = fraction * full_gmacs
        thresholds = [float(t) for t in thresholds_for(target)]
        deer = {'policy': 'deer', 'thresholds': thresholds, 'budget_avg_fraction': fraction}
        if 'deer' in families:
            out.append(EvalConfig(f'deer-{fraction:g}', 'deer',
                                  f'DeeR, thresholds for {fraction:g} x full',
                                  dict(deer, budget_gain=0.0), fraction))
        if 'online' in families:
            out.append(EvalConfig(f'online-{fraction:g}', 'online',
                                  f'DeeR + online controller at {fraction:g} x full',
                                  dict(deer), fraction))
    if 'skip' in families:
        out.append(EvalConfig('skip', 'skip', 'DySL skipping, full depth',
                              {'policy': 'full', 'skip_enabled': True}))
        out += [EvalConfig(f'skip-{fraction:g}', 'skip',
                           f'DySL skipping, full depth, limits held at {fraction:g} x full',
                           {'policy': 'full', 'skip_enabled': True,
                            'budget_avg_fraction': fraction}, fraction)
                for fraction in sorted(fractions)]
        if fractions and 'deer' in families:
            fraction = sorted(fractions)[len(fractions) // 2]
            thresholds = [float(t) for t in thresholds_for(fraction * full_gmacs)]
            out.append(EvalConfig(f'deer-{fraction:g}+skip', 'skip',
                                  f'DeeR ({fraction:g} x full thresholds) + DySL skipping',
                                  {'policy': 'deer', 'thresholds': thresholds,
                                   'budget_avg_fraction': fraction, 'budget_gain': 0.0,
                                   'skip_enabled': True}, fraction))
    return out


def default_families(language_conditioned: bool) -> List[str]:
    """The families run when none are named: the control only where it means something."""
    return list(FAMILIES if language_conditioned else STANDARD_FAMILIES)


def select(suite: Sequence[EvalConfig], names: Optional[Sequence[str]]) -> List[EvalConfig]:
    """The configurations named (all when names is empty or None); unknown names raise."""
    if not names:
        return list(suite)
    known = {c.name: c for c in suite}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f'unknown configurations {missing}; known: {list(known)}')
    return [known[n] for n in names]
