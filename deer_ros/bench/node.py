"""Benchmark 3: node overhead per frame for two 640x480 cameras, stage by stage and end to end.

Both measurements run in one process, one after the other, on the same model: the pure stages
(node_stages) and a real rclpy graph (node_graph). The bounds: overhead < 5 ms per frame
(median), and tails: model time and arrival->publish p99 within TAIL_FACTOR x their median (a
2.5 s p95 behind a 5 ms median is a failure however good the median is).
"""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict

from deer_ros.bench import report
from deer_ros.bench.models import bench_rollout, camera_images, environment
from deer_ros.bench.timing import set_threads

OVERHEAD_LIMIT_MS = 5.0
TAIL_FACTOR = 3.0      # p99 <= TAIL_FACTOR x median (idle machine)


@dataclass
class NodeBenchConfig:
    """Settings of `deer-ros bench node`."""

    preset: str = 'tiny'            # model time is subtracted, so a small model suffices
    overrides: Dict[str, str] = field(default_factory=dict)
    device: str = 'cpu'
    frames: int = 50                # timed frames (stages: repetitions)
    warmup: int = 5
    threads: int = 1
    image_height: int = 480
    image_width: int = 640
    control_rate_hz: float = 100.0  # node's control timer during the graph run
    graph: bool = True              # also run the rclpy end-to-end part
    seed: int = 0
    command: str = ''


def _loader(cfg: NodeBenchConfig) -> Any:
    def load(settings: Any) -> Any:
        from deer_ros.ros_io.model_loader import engine_for
        rollout = bench_rollout(cfg.preset, cfg.overrides, cfg.seed, cfg.device)
        return engine_for(rollout, settings, f'bench preset {cfg.preset}')
    return load


def run_node(cfg: NodeBenchConfig) -> Dict[str, Any]:
    """Stages, then (optionally) the graph; returns a JSON-ready result."""
    from deer_ros.bench.node_stages import run_stages
    from deer_ros.ros_io.settings import NodeSettings
    threads = set_threads(cfg.threads)
    images = camera_images(2, cfg.image_height, cfg.image_width, cfg.seed)
    loaded = _loader(cfg)(NodeSettings())
    stages = run_stages(loaded, images, cfg.warmup + cfg.frames)
    graph = None
    if cfg.graph:
        from deer_ros.bench.node_graph import run_graph
        graph = run_graph(_loader(cfg), images, cfg.frames, cfg.warmup, cfg.control_rate_hz)
    env = environment(cfg.device, threads, cfg.command)
    verdicts = {'stages': stages['overhead_median_sum_ms'] < OVERHEAD_LIMIT_MS}
    if graph is not None:
        verdicts['graph'] = graph['overhead_ms']['median_ms'] < OVERHEAD_LIMIT_MS
        verdicts.update(tail_verdicts(graph))
    return dict(benchmark='node', config=asdict(cfg), environment=env, stages=stages,
                graph=graph, limit_ms=OVERHEAD_LIMIT_MS, verdicts=verdicts,
                passed=all(verdicts.values()))


def tail_verdicts(graph: Dict[str, Any]) -> Dict[str, bool]:
    """p99 within TAIL_FACTOR x median for the model time and arrival -> publish."""
    return {f'{key}_tail': graph[key]['p99_ms'] <= TAIL_FACTOR * graph[key]['median_ms']
            for key in ('model_ms', 'arrival_to_publish_ms')}


def node_markdown(result: Dict[str, Any]) -> str:
    """Tables of the stages and the end-to-end run."""
    cfg, stages = result['config'], result['stages']
    rows = [[name, s['median_ms'], s['p95_ms']] for name, s in stages['stages'].items()]
    rows.append(['**sum of medians**', stages['overhead_median_sum_ms'], None])
    rows.append(['(resize + normalise, inside encode = model time)',
                 stages['resize_model_time']['median_ms'], stages['resize_model_time']['p95_ms']])
    verdict = 'PASS' if result['passed'] else 'FAIL'
    lines = [f"### Node overhead, two {cfg['image_width']}x{cfg['image_height']} rgb8 cameras: "
             f"{verdict} (limit {result['limit_ms']:g} ms per frame)", '',
             *report.environment_lines(result),
             f"- model: preset {cfg['preset']} (its time is subtracted); image decoder "
             f"backend: {stages['decoder']}; {cfg['frames']} frames after {cfg['warmup']} "
             'warm-up', '', '#### Stages (no ROS graph)', '',
             report.table(['stage (per frame)', 'median ms', 'p95 ms'], rows)]
    graph = result['graph']
    if graph is not None:
        names = [('arrival_to_publish_ms', 'image arrival -> action published'),
                 ('model_ms', 'model (engine vision + LLM + head)'),
                 ('timer_wait_ms', f"control-timer phase ({graph['control_rate_hz']:g} Hz)"),
                 ('overhead_ms', '**overhead** (arrival->publish - model - timer phase)'),
                 ('overhead_with_wait_ms', 'overhead including the timer phase'),
                 ('send_to_receive_ms', 'camera publish -> action received (incl. DDS)')]
        rows = [[label, graph[k]['median_ms'], graph[k]['p95_ms'], graph[k].get('p99_ms'),
                 graph[k].get('max_ms')] for k, label in names]
        tails = ', '.join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in result['verdicts'].items()
                          if k.endswith('_tail'))
        lines += ['', f"#### End to end (rclpy, Fast DDS, {graph['frames']} frames)", '',
                  report.table(['per frame', 'median ms', 'p95 ms', 'p99 ms', 'max ms'], rows),
                  '', f'Tails (p99 <= {TAIL_FACTOR:g} x median): {tails}']
    return '\n'.join(lines)
