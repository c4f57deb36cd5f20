"""The contract between the multi-exit model and the policies that decide how much of it runs.

Policies (deer_ros.policies) import only this module, never torch: they drive any object that
satisfies `SegmentModel`. The real implementation is deer_ros.model.rollout.ModelRollout.

Layer indices are 0-based, as in DeeR's code: exit k reads the output of layer exit_layers[k].
"""
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence, Tuple

import numpy as np

# The optional robot-state input (head.state_dim > 0), in this order: what recordings store,
# sim_node and a robot publish (sensor_msgs/JointState names) and the head reads.
STATE_CONVENTION = {
    'dims': ['ee_x', 'ee_y', 'ee_z', 'gripper_opening'],
    'pose': 'end-effector position in the robot base frame, metres',
    'gripper': 'opening, 0 closed .. 1 fully open',
}
STATE_DIM = len(STATE_CONVENTION['dims'])


@dataclass(frozen=True)
class Candidate:
    """The shared action head evaluated on one layer's output, from the committed head state.

    Evaluating a candidate never changes the model; `SegmentModel.commit` advances the head state.
    """

    layer: int                # 0-based layer whose output the head read
    pose: np.ndarray          # (6,) float32, tanh outputs in [-1, 1] (CALVIN-scaled deltas)
    gripper_prob: float       # sigmoid output in [0, 1]; action gripper = +1 if > 0.5 else -1
    state: Any = None         # opaque head (LSTM) state after this step; commit it to advance

    @property
    def gripper(self) -> float:
        """Gripper command: +1 open, -1 close (DeeR: open iff p > 0.5)."""
        return 1.0 if self.gripper_prob > 0.5 else -1.0

    @property
    def action(self) -> np.ndarray:
        """(7,) float32: pose (6) then gripper (+1 / -1)."""
        return np.append(self.pose.astype(np.float32), np.float32(self.gripper))


class FrameState(Protocol):
    """One observation after vision encoding, with the hidden states computed so far."""

    @property
    def layers_done(self) -> int:
        """Number of layers whose output is available (the next layer to run)."""


Block = Tuple[int, int]   # [start, end) layer range skipped as one block


def full_model_gmacs(layer_gmacs: Sequence[float], exit_layers: Sequence[int],
                     head_gmacs: float) -> float:
    """GMAC of the full model: every layer up to the last exit plus one head evaluation.

    The one definition of what a budget fraction is a fraction of; layer costs depend on the
    instruction's token count, so pass the current instruction's.
    """
    last = int(exit_layers[-1])
    return float(sum(float(g) for g in list(layer_gmacs)[:last + 1]) + float(head_gmacs))


def model_full_gmacs(model: 'SegmentModel') -> float:
    """full_model_gmacs of a SegmentModel for its current instruction."""
    return full_model_gmacs(model.layer_gmacs(), model.exit_layers, model.head_gmacs)


class SegmentModel(Protocol):
    """Segment-wise execution of a multi-exit VLA for one rollout (one instruction at a time)."""

    num_layers: int                    # language-model layers of the (possibly capped) model
    exit_layers: Tuple[int, ...]       # 0-based layer index of each exit, ascending

    def reset(self, instruction: str) -> None:
        """Start a new rollout: tokenise the instruction, zero the committed head state."""

    def encode(self, static: np.ndarray, gripper: Optional[np.ndarray] = None) -> FrameState:
        """Vision encoder + perceiver on (H, W, 3) uint8 RGB images; embeds the prompt.

        A model whose head takes the robot state also accepts `state=` (ModelRollout).
        """

    def run_layers(self, frame: FrameState, start: int, stop: int,
                   skip: Sequence[Block] = ()) -> None:
        """Run layers [start, stop) on the output of layer start-1 (the embedding if start == 0).

        Each skipped block [a, b) inside the range is replaced by its adapter (identity when none
        is trained); the outputs of layers a..b-1 are then the adapter's output.
        """

    def candidate(self, frame: FrameState, layer: int) -> Candidate:
        """Evaluate the shared head on layer `layer`'s output from the committed state."""

    def commit(self, candidate: Candidate) -> None:
        """Advance the committed head state with the candidate actually taken."""

    def layer_gmacs(self) -> Sequence[float]:
        """Multiply-accumulates (GMAC) of each layer for the current instruction's token count."""

    @property
    def head_gmacs(self) -> float:
        """GMAC of one head evaluation."""

    @property
    def resident_exit(self) -> int:
        """Deepest exit index whose layers are on the device (the memory cap)."""

    def set_resident_exit(self, exit_index: int) -> None:
        """Move layers to / from the device so that exits up to exit_index can run."""

    def synchronize(self) -> None:
        """Wait for queued device work (so host timers measure it); a no-op on CPU."""
