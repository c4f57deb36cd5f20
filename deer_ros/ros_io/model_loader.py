"""Build the model and the InferenceEngine from NodeSettings (what on_configure runs).

torch is imported only here and only when load() runs, so the node module and its pure pieces
import without the ML stack. Every failure is an exception whose message tells the user what to
fix (missing checkpoint, unknown preset, bad calibration).
"""
import dataclasses
import gc
import os
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional

from deer_ros.model.api import SegmentModel
from deer_ros.policies.engine import InferenceEngine
from deer_ros.ros_io.settings import NodeSettings, engine_config

if TYPE_CHECKING:   # imported when used: torch (rollout) and yaml (calibration) load lazily
    from deer_ros.model.rollout import ModelRollout
    from deer_ros.policies.calibration_file import Calibration

UNCALIBRATED_THRESHOLD = 0.1   # per-exit threshold when no parameter or calibration gives one
CALIBRATION_NAME = 'calibration.yaml'


@dataclass
class LoadedModel:
    """What configure produced: the engine and facts for telemetry and diagnostics."""

    engine: Optional[InferenceEngine]     # None after close()
    num_exits: int
    total_layers: int
    description: str                  # one line for logs and diagnostics
    device: str = 'cpu'
    warnings: List[str] = field(default_factory=list)   # shown as WARN diagnostics
    model: Optional[SegmentModel] = None

    def close(self) -> None:
        """Drop the model and return cached device memory."""
        self.engine = None
        self.model = None
        gc.collect()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def calibration_path(settings: NodeSettings) -> Optional[pathlib.Path]:
    """model.calibration, else <checkpoint dir>/calibration.yaml when it exists, else None."""
    if settings.model.calibration:
        return pathlib.Path(settings.model.calibration).expanduser()
    if settings.model.checkpoint:
        ckpt = pathlib.Path(settings.model.checkpoint).expanduser()
        candidate = (ckpt if ckpt.is_dir() else ckpt.parent) / CALIBRATION_NAME
        if candidate.is_file():
            return candidate
    return None


def load_checked_calibration(settings: NodeSettings, num_exits: int
                             ) -> Optional['Calibration']:
    """The calibration exit.thresholds would come from (None: none, or thresholds given)."""
    path = calibration_path(settings)
    if settings.exit.thresholds or path is None:
        return None
    if not path.is_file():
        raise FileNotFoundError(f'model.calibration {str(path)!r} does not exist')
    from deer_ros.policies.calibration_file import load_calibration
    calibration = load_calibration(path)
    if len(calibration.exit_layers) != num_exits:
        raise ValueError(f'calibration {path} has {len(calibration.exit_layers)} exits, '
                         f'the model {num_exits}')
    return calibration


def resolve_thresholds(settings: NodeSettings, num_exits: int, model: SegmentModel,
                       calibration: Optional['Calibration'], warnings: List[str]) -> List[float]:
    """exit.thresholds, else the calibration's for the budget in force, else a flat default.

    A fraction budget is solved at the model's current instruction's layer costs (the engine
    solves it again for each instruction).
    """
    if settings.exit.thresholds:
        return list(settings.exit.thresholds)
    if calibration is not None:
        budget = settings.budget
        if budget.avg_fraction > 0 and not budget.avg_gflops > 0:
            return calibration.thresholds_for_fraction(
                budget.avg_fraction, list(model.layer_gmacs()), float(model.head_gmacs))
        return calibration.thresholds_for(budget.avg_gflops or 0.5 * calibration.full_gmacs)
    if settings.exit.policy == 'deer':
        warnings.append(f'uncalibrated: exit.thresholds empty and no calibration file; every '
                        f'exit uses {UNCALIBRATED_THRESHOLD}')
    return [UNCALIBRATED_THRESHOLD] * max(0, num_exits - 1)


def intra_op_threads(requested: int, cores: int) -> int:
    """Torch intra-op threads: `requested`, or for 0 half the cores (1 to 4).

    Never all the cores: the executor, DDS and camera threads need one, and an OpenMP thread
    that loses its core stalls every barrier. Measured on this 2-core machine (tiny preset,
    640x480 pair, step in a worker thread): 2 threads gave median 133 ms, p99 2480 ms;
    1 thread median 13 ms, p99 29 ms.
    """
    return requested if requested > 0 else max(1, min(4, cores // 2))


def build_rollout(settings: NodeSettings) -> 'ModelRollout':
    """The SegmentModel: ModelRollout from the checkpoint, or the preset's random weights."""
    m = settings.model
    device = None if m.device == 'auto' else m.device
    transform = None if m.transform == 'checkpoint' else m.transform
    head_step = None if m.head_step == 'checkpoint' else m.head_step
    import torch
    torch.set_num_threads(intra_op_threads(m.cpu_threads, len(os.sched_getaffinity(0))))
    if m.checkpoint:
        path = pathlib.Path(m.checkpoint).expanduser()
        if not path.exists():
            raise FileNotFoundError(f'model.checkpoint {str(path)!r} does not exist (empty = '
                                    'the preset with random weights)')
        if not path.is_dir():     # an official DeeR .pth needs its tokenizer, CLIP, MPT files
            raise ValueError(f'model.checkpoint {str(path)!r} is a file; the node loads a '
                             'checkpoint directory. Convert an official DeeR .pth first: '
                             'deer-ros convert (docs/official_checkpoints.md)')
        from deer_ros.model.build import rollout_from_checkpoint
        return rollout_from_checkpoint(str(path), device=device, precision=m.precision,
                                       compile_layers=m.compile, compile_mode=m.compile_mode,
                                       transform=transform, head_step=head_step)
    from deer_ros.model.build import rollout_from_preset
    from deer_ros.model.config import PRESETS
    if m.preset not in PRESETS:
        raise ValueError(f'unknown model.preset {m.preset!r}; known: '
                         f'{", ".join(sorted(PRESETS))}')
    return rollout_from_preset(m.preset, seed=m.seed, device=device, precision=m.precision,
                               compile_layers=m.compile, compile_mode=m.compile_mode,
                               transform=transform, head_step=head_step)


def engine_for(model: SegmentModel, settings: NodeSettings, description: str,
               warnings: Optional[List[str]] = None) -> LoadedModel:
    """Wrap any SegmentModel in an InferenceEngine configured from settings."""
    warnings = list(warnings or [])
    num_exits = len(model.exit_layers)
    calibration = load_checked_calibration(settings, num_exits)
    thresholds = resolve_thresholds(settings, num_exits, model, calibration, warnings)
    config = dataclasses.replace(engine_config(settings), thresholds=thresholds)
    solver = calibration.thresholds_for_fraction if calibration is not None else None
    engine = InferenceEngine(model, config, threshold_solver=solver)
    return LoadedModel(engine, num_exits, int(model.num_layers), description,
                       str(getattr(model, 'device', 'cpu')), warnings, model)


def load(settings: NodeSettings) -> LoadedModel:
    """Load the configured model and build its engine (the node's default loader)."""
    model = build_rollout(settings)
    seconds = model.warm_up(cameras=2 if settings.use_gripper_camera else 1)
    warnings = []
    if settings.model.checkpoint:
        description = f'{settings.model.checkpoint} ({model.num_layers} layers)'
    else:
        description = (f'preset {settings.model.preset} with RANDOM weights (seed '
                       f'{settings.model.seed})')
        warnings.append(f'model.checkpoint empty: {description}; actions are meaningless')
    extras = [settings.model.precision] + ([f'compiled ({settings.model.compile_mode})']
                                           if settings.model.compile else [])
    description += f' [{", ".join(extras)}; warm-up {seconds:.1f} s]'
    return engine_for(model, settings, description, warnings)
