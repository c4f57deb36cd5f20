"""The README's main job: the shipped model driving the MetaWorld arm closed-loop over ROS 2.

sim_node and deer_node (autostart) run as subprocesses on a private ROS domain (loopback only);
this process only watches the topics: episode_status for success and the stamps of the actions
the sim applied, telemetry (joined to those stamps) for the compute each applied action took,
the static camera for a picture of the first episode. At the end both nodes get SIGINT
(deer_node publishes its final hold) and must exit with code 0.
"""
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from deer_ros.evaluation.graph import ClosedLoopGraph, GraphEpisode
from deer_ros.evaluation.graph_params import GraphConfig
from deer_ros.evaluation.model_spec import ModelSpec
from deer_ros.ros_io.param_schema import refuse_problems, setting

DEMO_TASKS = ('window-open-v3', 'button-press-topdown-v3', 'drawer-close-v3')
RANDOM_MAX_STEPS = 40      # a random model never succeeds: keep its episodes short


@dataclass
class DemoConfig:
    """What the demo runs."""

    model: ModelSpec
    tasks: Tuple[str, ...] = DEMO_TASKS
    episodes_per_task: int = setting(2, 'episodes of each task', min=1, max=1000)
    seed: int = setting(1000, 'first scene seed (1000 on: held out from the training scenes of '
                              "the shipped model, 0..59)", min=0, max=2**31 - 1)
    max_steps: int = setting(0, "actions per episode; 0: the task's limit (200); as a flag, "
                                f'not given: 0, or {RANDOM_MAX_STEPS} with random weights',
                             min=0, max=1000000)
    budget_fraction: float = setting(0.33, "deer_node's budget.avg_fraction (the online "
                                           'controller; 0: thresholds only)', min=0.0, max=1.0)
    image_size: int = setting(64, 'camera side (the shipped model was trained on 64)',
                              unit='px', min=8, max=2048)
    output_dir: pathlib.Path = pathlib.Path('runs/demo')   # logs, params files and pictures
    warnings: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        refuse_problems(self, 'demo')

    def graph(self) -> GraphConfig:
        """The nodes' settings: DeeR with the online compute controller at budget_fraction."""
        engine: Dict[str, Any] = {'policy': 'deer'}
        if self.budget_fraction > 0:
            engine['budget_avg_fraction'] = self.budget_fraction
        return GraphConfig(tasks=tuple(self.tasks), episodes_per_task=self.episodes_per_task,
                           seed=self.seed, max_steps=self.max_steps,
                           image_size=self.image_size, checkpoint=self.model.checkpoint,
                           preset=self.model.preset, model_seed=self.model.seed, engine=engine)


@dataclass
class EpisodeLine:
    """What the demo prints per episode."""

    episode: GraphEpisode
    avg_gmacs: float
    full_gmacs: float                  # full-depth cost of the same frames (telemetry)
    avg_layers: float
    total_layers: int

    @property
    def saving(self) -> float:
        """Times less LLM compute than the full model."""
        return self.full_gmacs / self.avg_gmacs if self.avg_gmacs > 0 else float('nan')

    def text(self) -> str:
        """One line: outcome, steps, compute vs full."""
        ep = self.episode
        outcome = 'SUCCESS' if ep.success else 'failure'
        return (f'episode {ep.index} {ep.task:<24} {outcome:<7} in {ep.steps:3d} steps | '
                f'{self.avg_gmacs:.5f} GMAC/action vs full {self.full_gmacs:.5f} '
                f'({self.saving:.2f}x less, {100 * (1 - 1 / self.saving):.0f}% saved) | '
                f'layers {self.avg_layers:.1f}/{self.total_layers}')


def episode_line(ep: GraphEpisode) -> EpisodeLine:
    """Compute figures of one episode from the telemetry of its applied actions."""
    t = ep.telemetry
    gmacs = float(np.mean([m.gflops for m in t])) if t else float('nan')
    full = float(np.mean([m.full_gflops for m in t])) if t else float('nan')
    layers = float(np.mean([m.layers_executed for m in t])) if t else float('nan')
    total = int(t[0].total_layers) if t else 0
    return EpisodeLine(ep, gmacs, full, layers, total)


def summary_text(lines: List[EpisodeLine]) -> str:
    """Totals over the demo's episodes (compute averaged per applied action)."""
    actions = [m for line in lines for m in line.episode.telemetry]
    if not actions:
        return 'no actions observed'
    dropped = sum(max(0, line.episode.answers - len(line.episode.telemetry)) for line in lines)
    gmacs = float(np.mean([m.gflops for m in actions]))
    full = float(np.mean([m.full_gflops for m in actions]))
    layers = float(np.mean([m.layers_executed for m in actions]))
    successes = sum(line.episode.success for line in lines)
    return (f'{successes}/{len(lines)} episodes succeeded; {len(actions)} actions applied '
            f'({dropped} answers to republished frames dropped by the sim), '
            f'{gmacs:.5f} LLM GMAC per action vs {full:.5f} for the full model of the same '
            f'frames: {100 * gmacs / full:.1f}% of it, {full / gmacs:.2f}x less, '
            f'{layers:.1f} of {lines[0].total_layers} layers on average')


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = print) -> int:
    """Run the demo; 0 when the loop ran and both nodes exited cleanly."""
    for warning in cfg.warnings:
        log(warning)
    graph_cfg = cfg.graph()
    log(f'model: {cfg.model.describe()}\n'
        f'tasks: {", ".join(cfg.tasks)} x {cfg.episodes_per_task} episode(s), scene seeds '
        f'{cfg.seed}..{cfg.seed + cfg.episodes_per_task - 1}, step limit '
        f'{cfg.max_steps or "task default (200)"}\n'
        f'deer_node: exit.policy deer, budget.avg_fraction {cfg.budget_fraction:g} (online '
        f'controller), 1 torch thread per node\nstarting sim_node and deer_node '
        f'(logs in {cfg.output_dir / "logs"}) ...')
    started = time.monotonic()
    graph = ClosedLoopGraph(graph_cfg, cfg.output_dir, capture_episode=0, log=log)
    lines: List[EpisodeLine] = []

    def report(ep: GraphEpisode) -> None:
        lines.append(episode_line(ep))
        log(lines[-1].text())

    episodes = graph.run(report)
    log(summary_text(lines))
    frames = episodes[0].frames if episodes else []
    if frames:
        from deer_ros.evaluation.media import save_gif, save_strip
        strip = save_strip(frames, cfg.output_dir / 'episode0_strip.png')
        gif = save_gif(frames, cfg.output_dir / 'episode0.gif')
        log(f'saved {strip} and {gif} ({len(frames)} frames of episode 0, '
            f'{episodes[0].task})')
    codes = graph.exit_codes
    log(f'nodes stopped with SIGINT: exit codes {codes}; {time.monotonic() - started:.0f} s '
        'in all')
    return 0 if codes and all(c == 0 for c in codes.values()) else 1
