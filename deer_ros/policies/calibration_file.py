"""The calibration YAML the node loads: value distributions and thresholds for a list of budgets.

Format (`format: deer_ros.calibration`, `version: 1`)::

    format: deer_ros.calibration
    version: 1
    criterion: rms                 # consistency measure the values were computed with
    prior: exp                     # exit prior the budgets were solved with
    value_commit: last             # head state committed between frames (values.py)
    exit_layers: [1, 3, 5, ...]    # 0-based layer of each exit
    layer_gmacs: [...]             # GMAC of each LLM layer (mean over the calibration frames)
    head_gmacs: 0.041              # GMAC of one head evaluation
    full_gmacs: 15.6               # GMAC of the full model (all layers + one head evaluation)
    num_samples: 600
    source: {...}                  # dataset, preset, seed, frames used (free-form)
    values: [[...], ...]           # (N_exits, num_samples) consistency values, exit order
    budgets:                       # one entry per requested budget, ascending target
      - target_gmacs: 7.8
        target_fraction: 0.5       # target_gmacs / full_gmacs
        q: 0.83
        thresholds: [...]          # per exit; the last is 1e8 (forced)
        proportions: [...]
        realised_gmacs: 7.79       # on the calibration frames
        expected_gmacs: 7.6
        expected_layers: 5.8
"""
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import yaml

from deer_ros.model.api import full_model_gmacs
from deer_ros.policies.calibration import BudgetSolution, solve_budget

FORMAT_NAME = 'deer_ros.calibration'
FORMAT_VERSION = 1


@dataclass
class Calibration:
    """Per-exit value distributions of recorded frames and the thresholds solved from them."""

    exit_layers: List[int]
    layer_gmacs: List[float]
    head_gmacs: float
    values: np.ndarray                       # (N_exits, n) float64
    criterion: str = 'rms'
    prior: str = 'exp'
    value_commit: str = 'last'
    budgets: List[BudgetSolution] = field(default_factory=list)
    source: Dict[str, Any] = field(default_factory=dict)
    _fraction_cache: Dict[Any, List[float]] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def full_gmacs(self) -> float:
        """GMAC of the full model at the calibration frames' mean layer costs."""
        return full_model_gmacs(self.layer_gmacs, self.exit_layers, self.head_gmacs)

    def thresholds_for_fraction(self, fraction: float, layer_gmacs: Sequence[float],
                                head_gmacs: float) -> List[float]:
        """Thresholds realising `fraction` of the full model at these layer costs.

        Layer costs follow the instruction's token count, so a fraction budget is solved per
        instruction from the stored values (cached per cost profile).
        """
        key = (round(float(fraction), 9), tuple(round(float(g), 12) for g in layer_gmacs),
               round(float(head_gmacs), 12))
        cache = self._fraction_cache
        if key not in cache:
            full = full_model_gmacs(layer_gmacs, self.exit_layers, head_gmacs)
            cache[key] = list(solve_budget(self.values, self.exit_layers, list(layer_gmacs),
                                           float(head_gmacs), fraction * full,
                                           self.prior).thresholds)
        return list(cache[key])

    def solve(self, target_gmacs: Optional[float] = None,
              target_fraction: Optional[float] = None) -> BudgetSolution:
        """Solve thresholds for a target (GMAC, or a fraction of `full_gmacs`) from the values."""
        if target_gmacs is None:
            if target_fraction is None:
                raise ValueError('give target_gmacs or target_fraction')
            target_gmacs = target_fraction * self.full_gmacs
        return solve_budget(self.values, self.exit_layers, self.layer_gmacs, self.head_gmacs,
                            float(target_gmacs), self.prior)

    def add_budgets(self, targets_gmacs: Sequence[float]) -> None:
        """Solve and store one BudgetSolution per target, sorted by target."""
        for target in targets_gmacs:
            self.budgets.append(self.solve(target_gmacs=target))
        self.budgets.sort(key=lambda b: b.target_gmacs)

    def thresholds_for(self, target_gmacs: float) -> List[float]:
        """Thresholds of the stored budget nearest to target_gmacs (solved anew if none)."""
        if not self.budgets:
            return self.solve(target_gmacs=target_gmacs).thresholds
        best = min(self.budgets, key=lambda b: abs(b.target_gmacs - target_gmacs))
        return list(best.thresholds)

    def to_dict(self) -> Dict[str, Any]:
        """Plain-types dict in the YAML layout of the module docstring."""
        full = self.full_gmacs
        budgets = []
        for b in self.budgets:
            entry = asdict(b)
            entry.pop('prior')
            entry['target_fraction'] = b.target_gmacs / full
            budgets.append(entry)
        return {
            'format': FORMAT_NAME, 'version': FORMAT_VERSION,
            'criterion': self.criterion, 'prior': self.prior, 'value_commit': self.value_commit,
            'exit_layers': [int(x) for x in self.exit_layers],
            'layer_gmacs': [float(x) for x in self.layer_gmacs],
            'head_gmacs': float(self.head_gmacs), 'full_gmacs': full,
            'num_samples': int(self.values.shape[1]), 'source': dict(self.source),
            'values': [[float(v) for v in row] for row in self.values],
            'budgets': budgets,
        }


def save_calibration(calibration: Calibration, path: Union[str, Path]) -> Path:
    """Write the calibration YAML (creating parent directories)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w') as stream:
        yaml.safe_dump(calibration.to_dict(), stream, sort_keys=False, default_flow_style=None,
                       width=100)
    return path


def load_calibration(path: Union[str, Path]) -> Calibration:
    """Read a calibration YAML written by `save_calibration` / `deer-ros calibrate`."""
    with open(path) as stream:
        data = yaml.safe_load(stream)
    if not isinstance(data, dict) or data.get('format') != FORMAT_NAME:
        raise ValueError(f'{path}: not a {FORMAT_NAME} file')
    if data.get('version') != FORMAT_VERSION:
        raise ValueError(f'{path}: unsupported version {data.get("version")}')
    prior = data.get('prior', 'exp')
    budgets = [BudgetSolution(target_gmacs=float(b['target_gmacs']), q=float(b['q']),
                              prior=prior, thresholds=[float(t) for t in b['thresholds']],
                              proportions=[float(p) for p in b['proportions']],
                              realised_gmacs=float(b['realised_gmacs']),
                              expected_gmacs=float(b['expected_gmacs']),
                              expected_layers=float(b['expected_layers']))
               for b in data.get('budgets') or []]
    values = np.asarray(data['values'], dtype=np.float64)
    exit_layers = [int(x) for x in data['exit_layers']]
    if values.ndim != 2 or values.shape[0] != len(exit_layers):
        raise ValueError(f'{path}: values must be (len(exit_layers), n), got {values.shape}')
    return Calibration(exit_layers=exit_layers,
                       layer_gmacs=[float(x) for x in data['layer_gmacs']],
                       head_gmacs=float(data['head_gmacs']), values=values,
                       criterion=data.get('criterion', 'rms'), prior=prior,
                       value_commit=data.get('value_commit', 'last'), budgets=budgets,
                       source=dict(data.get('source') or {}))
