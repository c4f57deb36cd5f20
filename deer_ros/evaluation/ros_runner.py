"""`deer-ros evaluate --ros`: each configuration through the real graph, as EpisodeResults."""
import pathlib
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

from deer_ros.evaluation.episode import EpisodeResult
from deer_ros.evaluation.graph import ClosedLoopGraph, GraphEpisode
from deer_ros.evaluation.graph_params import GraphConfig
from deer_ros.evaluation.model_spec import ModelSpec
from deer_ros.evaluation.runner import EvalSettings
from deer_ros.evaluation.suite import EvalConfig
from deer_ros.model.api import model_full_gmacs


def full_gmacs_function(model: Any) -> Callable[[str], float]:
    """Map instruction -> GMAC of the full model (layers to the last exit + one head), cached."""
    cache: Dict[str, float] = {}

    def full(instruction: str) -> float:
        if instruction not in cache:
            model.reset(instruction)
            cache[instruction] = model_full_gmacs(model)
        return cache[instruction]
    return full


def to_result(ep: GraphEpisode, config: str, seed: int, full_gmacs: float) -> EpisodeResult:
    """A GraphEpisode in the in-process result type (latency = deer_node's telemetry)."""
    t = ep.telemetry
    return EpisodeResult(config, ep.task, seed, ep.success, ep.steps, full_gmacs,
                         gflops=[float(m.gflops) for m in t],
                         layers=[int(m.layers_executed) for m in t],
                         skipped=[int(m.layers_skipped) for m in t],
                         exits=[int(m.exit_index) for m in t],
                         latency_ms=[float(m.latency_ms) for m in t],
                         ended_by='success' if ep.success else 'max_steps',
                         frames=ep.frames or None)


def graph_config(spec: ModelSpec, settings: EvalSettings, engine: Dict[str, Any],
                 calibration: str = '') -> GraphConfig:
    """The nodes' settings for one configuration."""
    return GraphConfig(tasks=tuple(settings.tasks), episodes_per_task=settings.episodes_per_task,
                       seed=settings.seed, max_steps=settings.max_steps,
                       image_size=settings.image_size,
                       use_gripper_camera=settings.use_gripper_camera,
                       checkpoint=spec.checkpoint, preset=spec.preset, model_seed=spec.seed,
                       calibration=calibration, engine=dict(engine),
                       torch_threads=settings.torch_threads)


def node_engine(engine: Dict[str, Any], calibration_file: str) -> Dict[str, Any]:
    """Engine overrides for deer_node.

    With a fraction budget and a calibration file the node solves the thresholds itself, per
    instruction; explicit thresholds would switch that off.
    """
    if calibration_file and engine.get('budget_avg_fraction'):
        return {k: v for k, v in engine.items() if k != 'thresholds'}
    return dict(engine)


def evaluate_over_ros(spec: ModelSpec, configs: Sequence[EvalConfig], settings: EvalSettings,
                      full_gmacs: Callable[[str], float], progress: Any = None,
                      work_dir: Optional[pathlib.Path] = None, calibration: Any = None
                      ) -> List[EpisodeResult]:
    """One sim_node + deer_node graph per configuration; episodes in sim_node's order."""
    shuffled = [c.name for c in configs if c.instruction != 'given']
    if shuffled:
        raise ValueError(f'{shuffled}: the shuffled-instruction control runs in-process only '
                         '(sim_node publishes the episode\'s own instruction); drop --ros or '
                         'the control family')
    results: List[EpisodeResult] = []
    seeds = settings.seeds
    root = pathlib.Path(work_dir or tempfile.mkdtemp(prefix='deer_eval_ros_'))
    calibration_file = ''
    if calibration is not None:
        from deer_ros.policies.calibration_file import save_calibration
        calibration_file = str(save_calibration(calibration, root / 'calibration.yaml'))
    for config in configs:
        engine = node_engine(config.engine, calibration_file)
        graph = ClosedLoopGraph(graph_config(spec, settings, engine, calibration_file),
                                root / config.name, capture_episode=-1)

        def tick(ep: GraphEpisode) -> None:
            if progress is not None:
                progress.update(1)
                progress.set_postfix_str(f'{config.name} {ep.task} '
                                         f'{"ok" if ep.success else "fail"}')
        episodes = graph.run(tick)
        for i, ep in enumerate(episodes):
            seed = seeds[i % len(seeds)]
            results.append(to_result(ep, config.name, seed, full_gmacs(ep.instruction)))
        bad = {n: c for n, c in graph.exit_codes.items() if c != 0}
        if bad:
            raise RuntimeError(f'nodes exited uncleanly: {bad} (logs under {root})')
    return results
