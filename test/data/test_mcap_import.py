"""rosbag2 MCAP recordings import as episodes: pairing, padded rows, instructions, actions."""
import pathlib
import re
import sys

import numpy as np
import pytest

from deer_ros.cli import main as cli_main
from deer_ros.data.mcap_import import McapTopics, episodes_from_mcap, import_mcap, is_mcap
from deer_ros.data.recording import iter_episodes

SHARE = pathlib.Path(sys.prefix) / 'share'
ROOT = pathlib.Path(__file__).resolve().parents[2]
SEP = '=' * 80


def _msg_text(full_name: str) -> str:
    pkg, name = full_name.split('/')[0], full_name.split('/')[-1]
    for base in (SHARE / pkg / 'msg', ROOT / 'msg'):
        if (base / f'{name}.msg').exists():
            return (base / f'{name}.msg').read_text()
    raise FileNotFoundError(full_name)


def _definition(full_name: str) -> str:
    """The rosbag2 schema text: the message then each dependency once."""
    pkg = full_name.split('/')[0]
    text, seen, order = _msg_text(full_name), set(), []

    def deps(body, package):
        for line in body.splitlines():
            field = line.split('#')[0].strip().split()
            if not field:
                continue
            kind = re.sub(r'\[.*\]', '', field[0])
            if '/' in kind and kind not in seen:
                seen.add(kind)
                order.append(kind)
                deps(_msg_text(kind), kind.split('/')[0])
            elif kind[:1].isupper() and f'{package}/{kind}' not in seen:
                seen.add(f'{package}/{kind}')
                order.append(f'{package}/{kind}')
                deps(_msg_text(f'{package}/{kind}'), package)

    deps(text, pkg)
    parts = [text] + [f'{SEP}\nMSG: {d}\n{_msg_text(d)}' for d in order]
    return '\n'.join(parts)


def _image(stamp_ns, value, width=8, height=6, pad=4):
    step = width * 3 + pad
    rows = np.full((height, step), 255, np.uint8)      # padding bytes are 255: must be ignored
    rows[:, :width * 3] = value
    return {'header': {'stamp': {'sec': stamp_ns // 10**9, 'nanosec': stamp_ns % 10**9},
                       'frame_id': 'cam'},
            'height': height, 'width': width, 'encoding': 'rgb8', 'is_bigendian': 0,
            'step': step, 'data': rows.tobytes()}


@pytest.fixture
def bag(tmp_path):
    from mcap_ros2.writer import Writer
    path = tmp_path / 'run_0.mcap'
    with open(path, 'wb') as f:
        writer = Writer(f)
        image = writer.register_msgdef('sensor_msgs/msg/Image', _definition('sensor_msgs/Image'))
        string = writer.register_msgdef('std_msgs/msg/String', _msg_text('std_msgs/String'))
        action = writer.register_msgdef('deer_ros/msg/ActionCommand',
                                        _definition('deer_ros/ActionCommand'))
        t = 10**9
        writer.write_message('/camera/static/image_raw', image, _image(t, 1), log_time=t)
        writer.write_message('/instruction', string, {'data': 'open the drawer'}, log_time=t + 1)
        for k in range(1, 4):
            ts = t + k * 10**8
            writer.write_message('/camera/gripper/image_raw', image, _image(ts + 10**6, 50 + k),
                                 log_time=ts)
            writer.write_message('/camera/static/image_raw', image, _image(ts, k), log_time=ts + 1)
            writer.write_message('/action', action, {
                'header': {'stamp': {'sec': ts // 10**9, 'nanosec': ts % 10**9},
                           'frame_id': 'world'},
                'translation': {'x': 0.01 * k, 'y': 0.0, 'z': -0.02},
                'rotation': {'x': 0.0, 'y': 0.0, 'z': 0.0}, 'gripper': -1.0,
                'exit_index': 0, 'layers_executed': 2, 'layers_skipped': 0, 'latency_ms': 1.0,
                'clamped': False, 'hold': False}, log_time=ts + 2)
        ts = t + 5 * 10**8
        writer.write_message('/instruction', string, {'data': 'close the drawer'}, log_time=ts)
        writer.write_message('/camera/gripper/image_raw', image, _image(ts, 99), log_time=ts)
        writer.write_message('/camera/static/image_raw', image, _image(ts, 9), log_time=ts + 1)
        writer.finish()
    return path


def test_frames_pair_by_stamp_and_instructions_split_episodes(bag):
    episodes = list(episodes_from_mcap(bag, McapTopics(action='/action')))
    assert [e.instruction for e in episodes] == ['open the drawer', 'close the drawer']
    first = episodes[0]
    assert first.static.shape == (3, 6, 8, 3)   # the frame before any instruction is dropped
    assert [int(f[0, 0, 0]) for f in first.static] == [1, 2, 3]
    assert [int(f[0, 0, 0]) for f in first.gripper] == [51, 52, 53]
    assert not (first.static == 255).any(), 'row padding leaked into the image'
    np.testing.assert_allclose(first.actions[:, 0], [0.5, 1.0, 1.0])   # 0.01 m / 0.02, clipped
    np.testing.assert_allclose(first.actions[:, 2], -1.0)
    assert (first.actions[:, 6] == -1).all()
    assert episodes[1].meta['has_actions'] and len(episodes[1]) == 1


def test_import_writes_a_dataset_and_cli_reports(bag, tmp_path, capsys):
    assert is_mcap(bag) and is_mcap(bag.parent)
    out = tmp_path / 'dataset'
    stats = import_mcap(bag, out, McapTopics(gripper=None))
    assert stats.episodes == 2 and stats.no_instruction == 1
    episodes = list(iter_episodes(out))
    assert episodes[0].gripper is None and not episodes[0].meta['has_actions']
    assert not (episodes[0].actions != 0).any()
    assert cli_main(['import-mcap', str(bag), str(tmp_path / 'cli'), '--slop-s', '0.0001']) == 0
    assert 'without a gripper pair' in capsys.readouterr().out


def test_calibrate_reads_an_mcap_bag_directly(bag, tmp_path):
    out = tmp_path / 'calibration.yaml'
    code = cli_main(['calibrate', str(bag), '-o', str(out), '--preset', 'tiny', '--no-progress',
                     '--budget-fractions', '0.5'])
    assert code == 0 and out.exists()
    import yaml
    data = yaml.safe_load(out.read_text())
    assert len(data['values'][0]) == 4 and len(data['budgets']) == 1
