"""The registered MetaWorld v3 tasks: instruction and scripted expert of each (no imports).

Each task was checked to succeed with its expert through deer_ros's action conversion (binary
gripper), see test/sim/test_sim_experts.py. MetaWorld picks the object and goal positions of an
episode from the seed.
"""
from dataclasses import dataclass
from typing import Dict, List


@dataclass(frozen=True)
class TaskSpec:
    """One task: MetaWorld environment, language instruction, scripted expert class."""

    env_name: str          # MetaWorld v3 environment name, e.g. "drawer-open-v3"
    instruction: str       # what the policy is told, e.g. "open the drawer"
    expert: str            # class name in metaworld.policies
    max_steps: int = 200   # step limit that leaves the expert a wide margin


TASKS: Dict[str, TaskSpec] = {t.env_name: t for t in [
    TaskSpec('drawer-open-v3', 'open the drawer', 'SawyerDrawerOpenV3Policy'),
    TaskSpec('drawer-close-v3', 'close the drawer', 'SawyerDrawerCloseV3Policy'),
    TaskSpec('button-press-topdown-v3', 'press the button from the top',
             'SawyerButtonPressTopdownV3Policy'),
    TaskSpec('reach-v3', 'reach the goal position', 'SawyerReachV3Policy'),
    TaskSpec('door-open-v3', 'open the door', 'SawyerDoorOpenV3Policy'),
    TaskSpec('window-open-v3', 'slide the window open', 'SawyerWindowOpenV3Policy'),
    TaskSpec('window-close-v3', 'slide the window closed', 'SawyerWindowCloseV3Policy'),
    TaskSpec('push-v3', 'push the puck to the goal', 'SawyerPushV3Policy'),
    TaskSpec('faucet-open-v3', 'turn the faucet on', 'SawyerFaucetOpenV3Policy'),
    TaskSpec('handle-press-v3', 'press the handle down', 'SawyerHandlePressV3Policy'),
]}

DEFAULT_TASKS: List[str] = list(TASKS)


def get_task(name: str) -> TaskSpec:
    """The spec of a registered task; accepts names with or without the "-v3" suffix."""
    key = name if name.endswith('-v3') else f'{name}-v3'
    if key not in TASKS:
        raise KeyError(f'unknown task {name!r}; registered: {", ".join(TASKS)}')
    return TASKS[key]
