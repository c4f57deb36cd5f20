"""Which model an evaluation or the demo runs: a checkpoint, else the shipped one, else a preset.

`resolve_model(checkpoint='', preset='tiny')` picks, in order: the checkpoint given, the shipped
checkpoint models/mini-metaworld (when it exists), the preset with random weights (with a loud
warning: the actions are then meaningless).
"""
import pathlib
from dataclasses import dataclass
from typing import Any, List, Optional

from deer_ros.ros_io.param_schema import setting

SHIPPED_MODEL = pathlib.Path('models') / 'mini-metaworld'
RANDOM_WARNING = ('WARNING: no trained checkpoint found ({where}); using the {preset!r} preset '
                  'with RANDOM weights (seed {seed}). Its actions are meaningless: expect 0% '
                  'success. Train one with `deer-ros train` or pass --checkpoint.')


@dataclass(frozen=True)
class ModelSpec:
    """A loadable model: our checkpoint directory (or an official .pth) or random weights."""

    checkpoint: str = setting('', 'checkpoint directory (or an official .pth); as a flag, empty: '
                                  'models/mini-metaworld if present, else the preset with '
                                  'random weights')
    preset: str = setting('tiny', 'model preset used without a checkpoint')
    seed: int = setting(0, 'weights seed of the preset', min=0, max=2**31 - 1)

    @property
    def is_random(self) -> bool:
        """True when no checkpoint is used."""
        return not self.checkpoint

    def describe(self) -> str:
        """One line for logs and reports."""
        if self.checkpoint:
            return f'checkpoint {self.checkpoint}'
        return f'preset {self.preset} with RANDOM weights (seed {self.seed})'

    def load(self, device: Optional[str] = 'cpu') -> Any:
        """The ModelRollout (imports torch)."""
        from deer_ros.model.build import rollout_from_checkpoint, rollout_from_preset
        if self.checkpoint:
            return rollout_from_checkpoint(self.checkpoint, device=device)
        return rollout_from_preset(self.preset, seed=self.seed, device=device)

    def calibration_file(self) -> Optional[pathlib.Path]:
        """calibration.yaml next to the checkpoint (what deer_node loads by default), if any."""
        if not self.checkpoint:
            return None
        path = pathlib.Path(self.checkpoint)
        candidate = (path if path.is_dir() else path.parent) / 'calibration.yaml'
        return candidate if candidate.is_file() else None


def shipped_model_candidates() -> List[pathlib.Path]:
    """Where the shipped checkpoint may be: next to the package (a clone), then the cwd."""
    root = pathlib.Path(__file__).resolve().parents[2]
    paths = [root / SHIPPED_MODEL, pathlib.Path.cwd().resolve() / SHIPPED_MODEL]
    return paths[:1] if paths[0] == paths[1] else paths


def find_shipped_model() -> Optional[pathlib.Path]:
    """The shipped checkpoint directory, or None."""
    for path in shipped_model_candidates():
        if (path / 'config.json').is_file() and (path / 'model.safetensors').is_file():
            return path
    return None


def resolve_model(checkpoint: str = '', preset: str = 'tiny', seed: int = 0,
                  warnings: Optional[List[str]] = None) -> ModelSpec:
    """The model to run (see the module docstring); appends a warning when it is random."""
    if checkpoint:
        if not pathlib.Path(checkpoint).exists():
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
        return ModelSpec(str(checkpoint), preset, seed)
    shipped = find_shipped_model()
    if shipped is not None:
        return ModelSpec(str(shipped), preset, seed)
    if warnings is not None:
        where = ', '.join(str(p) for p in shipped_model_candidates())
        warnings.append(RANDOM_WARNING.format(where=where, preset=preset, seed=seed))
    return ModelSpec('', preset, seed)
