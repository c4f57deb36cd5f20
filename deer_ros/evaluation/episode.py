"""One closed-loop episode in-process: MetaWorldSim -> InferenceEngine -> deer_node's mapping.

The action path is the node's: the engine's StepRecord action goes through
deer_ros.ros_io.action_mapping.map_action (scaling, safety clamps, gripper polarity) and is then
un-scaled as sim_node does (action_mapping.command_to_action). Only the ROS transport is missing.
"""
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from deer_ros.evaluation.phases import PhaseLabeller, run_length, Runs
from deer_ros.ros_io.action_mapping import command_to_action, map_action
from deer_ros.ros_io.settings import NodeSettings


@dataclass
class EpisodeResult:
    """Outcome and per-action costs of one episode of one configuration."""

    config: str                    # EvalConfig.name
    task: str                      # MetaWorld environment name
    seed: int                      # scene seed (the same for every configuration: paired)
    success: bool
    steps: int                     # actions applied
    full_gmacs: float              # GMAC of the full model for this instruction
    gflops: List[float] = field(default_factory=list)          # LLM GMAC per action
    layers: List[int] = field(default_factory=list)            # layers executed per action
    skipped: List[int] = field(default_factory=list)           # layers skipped per action
    exits: List[int] = field(default_factory=list)             # exit index per action
    latency_ms: List[float] = field(default_factory=list)      # engine latency per action
    ended_by: str = ''             # 'success' | 'max_steps' | 'hold' | 'wrong_target'
    instruction: str = ''          # what the policy was told (the control: another target's)
    phases: Runs = field(default_factory=list)   # run-length [[phase, actions], ...] (phases.py)
    frames: Optional[List[np.ndarray]] = None                   # static frames (keep_frames)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly dict (frames left out)."""
        out = asdict(self)
        out.pop('frames')
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'EpisodeResult':
        """Inverse of to_dict."""
        return cls(**{k: v for k, v in data.items() if k != 'frames'})


def run_episode(sim: Any, engine: Any, task: str, seed: int, config_name: str = '',
                settings: Optional[NodeSettings] = None, use_gripper_camera: bool = True,
                keep_frames: bool = False, instruction: str = 'given') -> EpisodeResult:
    """Run one episode of `task` from scene `seed` until success or the sim's step limit.

    The engine's history is reset at the start (a new rollout), its controllers are not.
    A non-finite model action (the node would publish a hold and the sim would not step) ends
    the episode as a failure with ended_by='hold'. instruction 'shuffled' tells the engine
    another target's instruction (sim.control_instruction); the scene and its success test
    stay the episode's. Each action is labelled with its phase (deer_ros.evaluation.phases)
    from the state it was chosen in and its own gripper command.
    """
    settings = settings or NodeSettings()
    obs = sim.reset(task, seed)
    told = obs.instruction if instruction == 'given' else sim.control_instruction(seed)
    engine.reset(told)
    result = EpisodeResult(config_name, obs.task, int(seed), False, 0,
                           float(engine.full_gflops), instruction=told,
                           frames=[obs.static] if keep_frames else None)
    labels: List[str] = []
    labeller = PhaseLabeller(sim.spec.moves_object)
    closed = False
    while not sim.done:
        hand, obj = obs.state[:3], sim.object_and_goal()[:3]
        record = engine.step(obs.static, obs.gripper if use_gripper_camera else None,
                             t_received=time.monotonic(), state=obs.state)
        result.gflops.append(float(record.gflops))
        result.layers.append(int(record.layers_executed))
        result.skipped.append(int(record.layers_skipped))
        result.exits.append(int(record.exit_index))
        result.latency_ms.append(float(record.latency_ms))
        command = map_action(record.action, settings)
        if command.hold:
            labels.append(labeller.label(hand, obj, closed))
            result.ended_by = 'hold'
            break
        action = command_to_action(command.translation, command.rotation, command.gripper,
                                   settings.action)
        closed = bool(action[6] < 0.0)    # 7-D convention: -1 close
        labels.append(labeller.label(hand, obj, closed))
        step = sim.step(action)
        obs = step.observation
        if 'wrong_target' in step.info:
            result.ended_by = 'wrong_target'
        if keep_frames:
            result.frames.append(obs.static)
    result.success, result.steps = bool(sim.success), int(sim.steps)
    result.phases = run_length(labels)
    if not result.ended_by:
        result.ended_by = 'success' if sim.success else 'max_steps'
    return result
