"""`deer-ros record`: writes a readable dataset, deterministically given --seed."""
import numpy as np

from deer_ros.cli import main
from deer_ros.data.recording import iter_episodes, read_info


def _record(out, *extra):
    return main(['record', '-o', str(out), '--tasks', 'reach-v3', '--episodes-per-task', '1',
                 '--image-size', '32', '--quiet', *extra])


def test_record_writes_successful_episodes_deterministically(tmp_path):
    assert _record(tmp_path / 'a', '--seed', '5') == 0
    assert _record(tmp_path / 'b', '--seed', '5') == 0
    (a,), (b,) = list(iter_episodes(tmp_path / 'a')), list(iter_episodes(tmp_path / 'b'))
    assert a.success and a.task == 'reach-v3' and a.meta['seed'] == 5
    assert a.static.shape[1:] == (32, 32, 3) and a.gripper.shape[1:] == (32, 32, 3)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.static, b.static)
    assert np.all(a.actions[:, 3:6] == 0)                     # MetaWorld has no rotations
    assert read_info(tmp_path / 'a').fps == 80.0


def test_record_refuses_to_mix_into_existing_dataset(tmp_path):
    assert _record(tmp_path, '--max-steps', '3', '--keep-failed') == 0
    assert _record(tmp_path) == 1


def test_record_suite_depth_writes_every_task_with_its_episode_instruction(tmp_path):
    from deer_ros.sim.tasks import DEPTH_SUITE, get_task
    assert main(['record', '-o', str(tmp_path), '--suite', 'depth', '--episodes-per-task', '1',
                 '--max-steps', '1', '--keep-failed', '--image-size', '16', '--quiet']) == 0
    episodes = {e.task: e for e in iter_episodes(tmp_path)}
    assert sorted(episodes) == sorted(DEPTH_SUITE)
    for task, episode in episodes.items():
        spec = get_task(task)
        assert episode.instruction == spec.instruction_for(spec.target_named(episode.instruction))
        assert '{' not in episode.instruction and len(episode) == 1
