"""The settings every `deer-ros bench` benchmark shares, defined once.

Each benchmark's config subclasses BenchConfig (AutocastBenchConfig when the model's precision
is a choice) and adds its own fields; `deer-ros bench WHICH` generates its flags from the fields
(deer_ros.cli.config_flags), so a default, range or help text lives only here or in that
subclass. A benchmark with another default redeclares the field with own_default().
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict

from deer_ros.ros_io.param_schema import refuse_problems, setting, setting_like
from deer_ros.ros_io.settings import ModelSettings


@dataclass(frozen=True)
class BenchConfig:
    """What every benchmark runs on: a preset with random weights, a device, images, steps."""

    preset: str = setting('small', 'model preset (random weights)')
    overrides: Dict[str, str] = field(default_factory=dict)   # dotted config overrides (--set)
    device: str = setting('cpu', 'torch device (cpu, cuda, cuda:1)')
    steps: int = setting(30, 'timed steps / frames', min=1, max=1000000)
    warmup: int = setting(3, 'untimed warm-up steps', min=0, max=1000000)
    threads: int = setting(1, 'torch intra-op threads (0 leaves the torch default)', min=0,
                           max=1024)
    image_height: int = setting(480, 'camera image height', unit='px', min=8, max=8192)
    image_width: int = setting(640, 'camera image width', unit='px', min=8, max=8192)
    seed: int = setting(0, 'seed of the weights and images', min=0, max=2**31 - 1)
    command: str = setting('', 'the command line, recorded in the result')

    def __post_init__(self) -> None:
        refuse_problems(self, type(self).__name__)


@dataclass(frozen=True)
class AutocastBenchConfig(BenchConfig):
    """A benchmark of the model's own timing, at one of deer_node's precisions."""

    precision: str = setting_like(ModelSettings, 'precision')


def own_default(name: str, default: Any) -> Any:
    """BenchConfig's field `name` (help, range) with a benchmark's own default."""
    meta = next(f.metadata for f in dataclasses.fields(BenchConfig) if f.name == name)
    return field(default=default, metadata=meta)
