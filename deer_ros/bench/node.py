"""Benchmark 3: node overhead per frame for two 640x480 cameras, stage by stage and end to end.

Both measurements run in one process, one after the other, on the same model: the pure stages
(node_stages) and a real rclpy graph (node_graph). The bounds: overhead < 5 ms per frame
(median), and tails: model time and arrival->publish p99 within TAIL_FACTOR x their median (a
2.5 s p95 behind a 5 ms median is a failure however good the median is).
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict

from deer_ros.bench import report
from deer_ros.bench.config import BenchConfig, own_default
from deer_ros.bench.models import bench_rollout, camera_images, environment
from deer_ros.bench.timing import set_threads
from deer_ros.ros_io.param_schema import setting

OVERHEAD_LIMIT_MS = 5.0
TAIL_FACTOR = 3.0      # p99 <= TAIL_FACTOR x median (idle machine)


@dataclass(frozen=True)
class NodeBenchConfig(BenchConfig):
    """Settings of `deer-ros bench node` (steps: timed frames; stages: repetitions)."""

    preset: str = own_default('preset', 'tiny')   # model time is subtracted: a small one will do
    steps: int = own_default('steps', 50)
    warmup: int = own_default('warmup', 5)
    control_rate_hz: float = setting(100.0, "deer_node's control timer during the graph run",
                                     unit='Hz', min=0.5, max=1000.0)
    graph: bool = setting(True, 'also run the rclpy end-to-end part (--no-graph: stages only)')


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
    stages = run_stages(loaded, images, cfg.warmup + cfg.steps)
    graph = None
    if cfg.graph:
        from deer_ros.bench.node_graph import run_graph
        graph = run_graph(_loader(cfg), images, cfg.steps, cfg.warmup, cfg.control_rate_hz)
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
             f"backend: {stages['decoder']}; {cfg['steps']} frames after {cfg['warmup']} "
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
