"""In-process benchmark: every configuration on the same episodes (tasks x seeds), paired.

Jobs are (configuration, task) pairs; each gets a fresh InferenceEngine over the shared model
(so results do not depend on job order or on the number of workers) and runs the task's
episodes with seeds seed, seed+1, ... in order (the engine's controllers carry over between
those episodes, its history does not). Workers are spawned processes with one torch thread
each (on a shared 2-core machine 1 thread per process was ~9x faster than 2).
"""
import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

from deer_ros.evaluation.episode import EpisodeResult, run_episode
from deer_ros.evaluation.model_spec import ModelSpec
from deer_ros.evaluation.suite import EvalConfig
from deer_ros.ros_io.param_schema import refuse_problems, setting


@dataclass(frozen=True)
class EvalSettings:
    """What every configuration is evaluated on."""

    tasks: Tuple[str, ...]
    episodes_per_task: int = setting(3, 'scene seeds per task: seed .. seed + episodes_per_task '
                                        '- 1', min=1, max=1000000)
    seed: int = setting(0, 'first scene seed', min=0, max=2**31 - 1)
    max_steps: int = setting(0, "actions per episode; 0: the task's limit (200)", min=0,
                             max=1000000)
    image_size: int = setting(64, 'static camera side (the shipped model was trained on 64)',
                              unit='px', min=8, max=2048)
    gripper_image_size: int = setting(0, 'gripper camera side; 0: image_size', unit='px', min=0,
                                      max=2048)
    use_gripper_camera: bool = setting(True, 'feed the wrist camera to the model')
    torch_threads: int = setting(1, 'torch threads per process', min=1, max=256)
    workers: int = setting(1, 'in-process worker processes (1: this process)', min=1, max=256)

    def __post_init__(self) -> None:
        refuse_problems(self, 'evaluation', [] if self.tasks else ['tasks: need at least one'])

    @property
    def seeds(self) -> List[int]:
        """Scene seeds of every task's episodes (identical for every configuration)."""
        return [self.seed + e for e in range(self.episodes_per_task)]

    def sim_config(self) -> Any:
        """The SimConfig matching sim_node's parameters of the same names."""
        from deer_ros.sim.metaworld_sim import SimConfig
        return SimConfig(static_size=self.image_size,
                         gripper_size=self.gripper_image_size or self.image_size,
                         max_steps=self.max_steps)


def make_engine(model: Any, config: EvalConfig, calibration: Any = None) -> Any:
    """A fresh InferenceEngine with the configuration's overrides on EngineConfig defaults.

    With a calibration, fraction budgets are solved per instruction (as deer_node does).
    """
    from deer_ros.policies.config import EngineConfig
    from deer_ros.policies.engine import InferenceEngine
    engine_config = dataclasses.replace(EngineConfig(), **config.engine)
    solver = calibration.thresholds_for_fraction if calibration is not None else None
    return InferenceEngine(model, engine_config, threshold_solver=solver)


class Worker:
    """A model and a simulator; runs jobs one after the other."""

    def __init__(self, model: Any, settings: EvalSettings, sim: Any = None,
                 calibration: Any = None) -> None:
        from deer_ros.sim.metaworld_sim import MetaWorldSim
        self.model = model
        self.settings = settings
        self.calibration = calibration
        self.sim = sim or MetaWorldSim(settings.sim_config())

    def run(self, config: EvalConfig, task: str,
            on_episode: Optional[Callable[[EpisodeResult], None]] = None
            ) -> List[EpisodeResult]:
        """The task's episodes under one configuration."""
        engine = make_engine(self.model, config, self.calibration)
        out = []
        for seed in self.settings.seeds:
            result = run_episode(self.sim, engine, task, seed, config.name,
                                 use_gripper_camera=self.settings.use_gripper_camera,
                                 instruction=config.instruction)
            out.append(result)
            if on_episode is not None:
                on_episode(result)
        return out

    def close(self) -> None:
        """Free the simulator."""
        self.sim.close()


def set_torch_threads(threads: int) -> None:
    """Limit torch (and OpenMP in children) to `threads` CPU threads."""
    os.environ.setdefault('OMP_NUM_THREADS', str(threads))
    import torch
    torch.set_num_threads(threads)


_WORKER: Optional[Worker] = None


def _init_worker(spec: ModelSpec, settings: EvalSettings, calibration: Any = None) -> None:
    global _WORKER
    set_torch_threads(settings.torch_threads)
    _WORKER = Worker(spec.load(), settings, calibration=calibration)


def _run_job(config: EvalConfig, task: str) -> List[EpisodeResult]:
    assert _WORKER is not None, 'worker not initialised'
    return _WORKER.run(config, task)


def jobs(configs: Sequence[EvalConfig], settings: EvalSettings) -> List[Tuple[EvalConfig, str]]:
    """(configuration, task) pairs, task-major (a worker switches scenes rarely)."""
    return [(c, t) for t in settings.tasks for c in configs]


def evaluate(spec: ModelSpec, configs: Sequence[EvalConfig], settings: EvalSettings,
             model: Any = None, progress: Any = None, calibration: Any = None
             ) -> List[EpisodeResult]:
    """Run every configuration on every episode; `progress` (tqdm) advances per episode.

    With workers == 1 the given `model` (or spec.load()) runs in this process. `calibration`
    solves fraction budgets per instruction (deer-F, online-F).
    """
    results: List[EpisodeResult] = []

    def tick(result: EpisodeResult) -> None:
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f'{result.config} {result.task} '
                                     f'{"ok" if result.success else "fail"}')

    if settings.workers == 1:
        set_torch_threads(settings.torch_threads)
        worker = Worker(model if model is not None else spec.load(), settings,
                        calibration=calibration)
        try:
            for config, task in jobs(configs, settings):
                results += worker.run(config, task, tick)
        finally:
            worker.close()
        return results
    import multiprocessing
    context = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(settings.workers, mp_context=context, initializer=_init_worker,
                             initargs=(spec, settings, calibration)) as pool:
        futures = [pool.submit(_run_job, c, t) for c, t in jobs(configs, settings)]
        for future in as_completed(futures):
            for result in future.result():
                results.append(result)
                tick(result)
    order = {c.name: i for i, c in enumerate(configs)}
    tasks = {t: i for i, t in enumerate(settings.tasks)}
    return sorted(results, key=lambda r: (order[r.config], tasks.get(r.task, 0), r.seed))
