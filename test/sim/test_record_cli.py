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
