"""deer_node end to end at DeeR's budgets (part of `deer-ros bench gpu`).

Budgets: the full model, and average-compute budgets given as fractions of it (DeeR's operating
points; the compute controller holds the fraction) with thresholds from warm-up consistency values
(bench.load.warmup_stats). Each budget runs on the one model already built:

* with rclpy and the deer_ros messages: a real graph (bench.node_graph.run_graph), image messages
  in, ActionCommand out: arrival -> publish p50/p95/p99 and the node's overhead;
* without them (a GPU machine that lacks the ROS wheels): the node's engine alone
  (InferenceEngine.step on uint8 images, host clock, the decision's read-back included), which is
  the model part of the same path. The node's own overhead (decode, sync, mapping, DDS) runs on
  the CPU and is measured by `deer-ros bench node`.
"""
import dataclasses
from typing import Any, Dict, List, Sequence

import numpy as np

from deer_ros.bench.load import warmup_stats
from deer_ros.bench.models import INSTRUCTION
from deer_ros.bench.timing import summarize


def ros_available() -> str:
    """'' when rclpy and the deer_ros messages import, else why not."""
    try:
        import rclpy  # noqa: F401
        from deer_ros.msg import ActionCommand  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401
    except Exception as exc:   # ImportError, or a ROS library that fails to load
        return f'{type(exc).__name__}: {exc}'
    return ''


def _settings(fraction: float, thresholds: Sequence[float]) -> Any:
    from deer_ros.ros_io.settings import NodeSettings
    s = NodeSettings()
    if fraction >= 1.0:
        return dataclasses.replace(s, exit=dataclasses.replace(s.exit, policy='full'))
    return dataclasses.replace(
        s, exit=dataclasses.replace(s.exit, policy='deer', thresholds=tuple(thresholds)),
        budget=dataclasses.replace(s.budget, avg_fraction=float(fraction)))


def _engine_only(loaded: Any, images: List[Any], steps: int, warmup: int) -> Dict[str, Any]:
    engine = loaded.engine
    engine.reset(INSTRUCTION)
    records = [engine.step(images[0], images[1]) for _ in range(warmup + steps)][warmup:]
    return dict(latency_ms=summarize([r.latency_ms for r in records]).to_dict(),
                model_ms=summarize([r.vision_ms + r.llm_ms + r.head_ms
                                    for r in records]).to_dict(),
                frames=len(records))


def run_node_budgets(rollout: Any, images: List[Any], fractions: Sequence[float], steps: int,
                     warmup: int, control_rate_hz: float) -> Dict[str, Any]:
    """One run per budget; returns rows of latency figures and the compute actually used."""
    from deer_ros.ros_io.model_loader import engine_for
    why_not = ros_available()
    warm = warmup_stats(rollout, images, max(3, warmup))
    rows = []
    for fraction in fractions:
        settings = _settings(fraction, warm['thresholds'])
        engines: List[Any] = []

        def loader(_: Any, settings: Any = settings, engines: List[Any] = engines) -> Any:
            loaded = engine_for(rollout, settings, f'bench model at budget {fraction:g}')
            engines.append(loaded.engine)
            return loaded
        if why_not:
            part = _engine_only(loader(None), images, steps, warmup)
        else:
            from deer_ros.bench.node_graph import run_graph
            part = run_graph(loader, images, steps, warmup, control_rate_hz)
        compute = engines[-1].compute
        rows.append(dict(budget_fraction=float(fraction), **part,
                         mean_fraction=float(compute.avg_fraction),
                         mean_layers=float(np.mean(list(compute.window.values)))
                         if hasattr(compute.window, 'values') else None))
    return dict(mode='engine only' if why_not else 'rclpy graph', ros_missing=why_not,
                thresholds=warm['thresholds'], rows=rows)
