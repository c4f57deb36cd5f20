"""Training checkpoints: the model in our format plus a resumable training state.

A run directory holds `step_XXXXXXX/` checkpoints (deer_ros.model.checkpoint format, loadable
by every deer-ros command) and `latest.txt` naming the newest. Each step directory adds:
  train_state.json   step, phase, configs, loss history (plain JSON)
  optimizer.pt       the optimiser's state_dict: tensors and numbers only, written with
                     torch.save and read back with weights_only=True (no code is unpickled)
The learning-rate schedule is a pure function of the step, and every random draw of step s is
seeded from (seed, s), so (weights, optimiser, step) is all a resume needs.
"""
import json
import pathlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch

STATE_JSON, OPTIMIZER = 'train_state.json', 'optimizer.pt'
LATEST = 'latest.txt'


@dataclass
class TrainState:
    """What a resumed run continues from."""

    step: int = 0                                  # optimisation steps done
    history: List[Dict[str, float]] = field(default_factory=list)   # logged losses
    extra: Dict[str, Any] = field(default_factory=dict)             # config, data recipe


def step_dir(run_dir: pathlib.Path, step: int) -> pathlib.Path:
    """The checkpoint directory of `step`."""
    return run_dir / f'step_{step:07d}'


def save_state(ckpt_dir: pathlib.Path, state: TrainState,
               optimizer: Optional[torch.optim.Optimizer]) -> None:
    """Write the training state beside a model checkpoint and mark it latest."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    data = {'step': state.step, 'history': state.history, 'extra': state.extra}
    (ckpt_dir / STATE_JSON).write_text(json.dumps(data, indent=1) + '\n')
    if optimizer is not None:
        torch.save(optimizer.state_dict(), ckpt_dir / OPTIMIZER)
    (ckpt_dir.parent / LATEST).write_text(ckpt_dir.name + '\n')


def resolve_checkpoint(path: str) -> pathlib.Path:
    """A step directory, or a run directory (its latest.txt) -> the step directory."""
    p = pathlib.Path(path)
    if (p / LATEST).is_file():
        p = p / (p / LATEST).read_text().strip()
    if not (p / STATE_JSON).is_file():
        raise FileNotFoundError(f'{path}: no {STATE_JSON} (not a training checkpoint)')
    return p


def load_state(ckpt_dir: pathlib.Path) -> TrainState:
    """The JSON part of a training checkpoint."""
    data = json.loads((ckpt_dir / STATE_JSON).read_text())
    return TrainState(step=int(data['step']), history=list(data['history']),
                      extra=dict(data.get('extra', {})))


def load_optimizer(ckpt_dir: pathlib.Path, optimizer: torch.optim.Optimizer) -> bool:
    """Restore the optimiser if its state was saved; False when there is none."""
    path = ckpt_dir / OPTIMIZER
    if not path.is_file():
        return False
    optimizer.load_state_dict(torch.load(path, map_location='cpu', weights_only=True))
    return True
