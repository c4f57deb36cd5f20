"""`deer-ros evaluate` as a function: model -> calibration -> suite -> episodes -> outputs."""
import pathlib
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from deer_ros.evaluation.model_spec import ModelSpec
from deer_ros.evaluation.runner import EvalSettings
from deer_ros.evaluation.suite import DEFAULT_FRACTIONS, STANDARD_FAMILIES
from deer_ros.ros_io.param_schema import setting

IN_PROCESS_NOTE = ('in-process: MetaWorldSim driven by the InferenceEngine and the action '
                   'mapping deer_node runs (same decisions, no ROS transport)')
ROS_NOTE = ('ROS 2 graph: sim_node and deer_node subprocesses, actions and telemetry over '
            'topics')


@dataclass
class BenchmarkRequest:
    """Everything `deer-ros evaluate` was asked to do."""

    model: ModelSpec
    settings: EvalSettings
    output_dir: pathlib.Path
    fractions: Tuple[float, ...] = DEFAULT_FRACTIONS
    families: Tuple[str, ...] = STANDARD_FAMILIES
    config_names: Optional[List[str]] = None
    calibration: str = setting('', 'calibration YAML (deer-ros calibrate); empty: next to the '
                                   'checkpoint, else made on the fly')
    calibration_episodes: int = setting(2, 'expert episodes per task for an on-the-fly '
                                           'calibration', min=1, max=1000)
    ros: bool = setting(False, 'run through the ROS 2 graph (sim_node + deer_node processes)')
    progress: bool = setting(True, 'progress bars')
    command: str = setting('', 'the command line, recorded in the outputs')
    warnings: List[str] = field(default_factory=list)


def load_calibration_for(request: BenchmarkRequest, model):
    """The calibration YAML asked for, the checkpoint's, or one made on the fly in the sim."""
    from dataclasses import replace

    from tqdm import tqdm

    from deer_ros.sim.metaworld_sim import MetaWorldSim

    from deer_ros.evaluation.thresholds import calibrate_in_sim, load_checked
    path = request.calibration or request.model.calibration_file()
    if path:
        return load_checked(pathlib.Path(path), len(model.exit_layers)), str(path)
    settings = request.settings
    total = len(settings.tasks) * request.calibration_episodes
    sim = MetaWorldSim(replace(settings.sim_config(), max_steps=0))   # experts: task limit
    with tqdm(total=total, unit='episode', desc='calibrate (experts)',
              disable=not request.progress) as bar:
        calibration = calibrate_in_sim(model, sim, settings.tasks, request.calibration_episodes,
                                       settings.seed, settings.use_gripper_camera,
                                       progress=bar)
    sim.close()
    return calibration, (f'on the fly: {request.calibration_episodes} expert episode(s) per '
                         f'task, {calibration.values.shape[1]} frames')


def run_benchmark(request: BenchmarkRequest) -> int:
    """Run it; print and write the tables; 0 on success."""
    from tqdm import tqdm

    from deer_ros.evaluation.report import write_outputs
    from deer_ros.evaluation.runner import evaluate, set_torch_threads
    from deer_ros.evaluation.summary import check_target, summarise_all
    from deer_ros.evaluation.suite import build_suite, select
    from deer_ros.evaluation.thresholds import threshold_source

    for warning in request.warnings:
        print(warning, file=sys.stderr)
    started = time.monotonic()
    settings = request.settings
    set_torch_threads(settings.torch_threads)
    model = request.model.load()
    calibration, calibration_note = load_calibration_for(request, model)
    suite = build_suite(len(model.exit_layers), calibration.full_gmacs,
                        threshold_source(calibration), request.fractions, request.families)
    configs = select(suite, request.config_names)
    mode = ROS_NOTE if request.ros else IN_PROCESS_NOTE
    print(f'{mode}\nmodel: {request.model.describe()}\nthresholds: {calibration_note}\n'
          f'{len(configs)} configurations x {len(settings.tasks)} tasks x '
          f'{settings.episodes_per_task} episodes')
    total = len(configs) * len(settings.tasks) * settings.episodes_per_task
    with tqdm(total=total, unit='episode', desc='evaluate',
              disable=not request.progress) as bar:
        if request.ros:
            from deer_ros.evaluation.ros_runner import evaluate_over_ros, full_gmacs_function
            results = evaluate_over_ros(request.model, configs, settings,
                                        full_gmacs_function(model), progress=bar,
                                        work_dir=request.output_dir / 'graph',
                                        calibration=calibration)
        else:
            results = evaluate(request.model, configs, settings, model=model, progress=bar,
                               calibration=calibration)
    summaries = summarise_all(results, [c.name for c in configs], len(model.exit_layers))
    checks = check_target(summaries)
    header = {
        'command': f'`{request.command}`' if request.command else '',
        'mode': mode, 'model': request.model.describe(),
        'thresholds': calibration_note,
        'tasks': ', '.join(settings.tasks),
        'episodes': f'{settings.episodes_per_task} per task and configuration, scene seeds '
                    f'{settings.seeds[0]}..{settings.seeds[-1]} (paired)',
        'full model': f'{calibration.full_gmacs:.5f} LLM GMAC per action (calibration mean), '
                      f'{len(model.exit_layers)} exits at layers {list(model.exit_layers)}',
        'wall time': f'{time.monotonic() - started:.0f} s',
    }
    title = f'{request.model.describe()}; {len(settings.tasks)} tasks x ' \
            f'{settings.episodes_per_task} episodes'
    paths = write_outputs(request.output_dir, results, summaries, configs, checks, header,
                          title)
    print((request.output_dir / 'summary.md').read_text())
    print('wrote ' + ', '.join(str(p) for p in paths.values()))
    return 0
