"""LeRobotDatasets written by LeRobot's own writer import right; our exports re-import identically.

Every dataset here is written with `lerobot` itself (LeRobotDataset.create + add_frame +
save_episode + finalize): mp4 video (h264, the fastest of LeRobot's codecs here) and PNG image
features, tiny frames. Video frames are smooth gradients, so the codec's error stays small and
a swapped or shifted frame cannot hide in it.
"""
import json

from lerobot.datasets.lerobot_dataset import LeRobotDataset
import numpy as np
import pytest

from deer_ros.cli import main as cli_main
from deer_ros.data.lerobot_export import ExportOptions, export_lerobot
from deer_ros.data.lerobot_import import import_lerobot, iter_lerobot_episodes
from deer_ros.data.lerobot_mapping import LeRobotMapping, MappingError
from deer_ros.data.recording import iter_episodes, make_example_episode, write_episode

FPS = 10
VIDEO_ERROR_LIMIT = 4.0          # mean |difference| per pixel value (0..255) after h264
FRONT, WRIST = (24, 32), (16, 16)
EE_NAMES = ['delta_x', 'delta_y', 'delta_z', 'delta_roll', 'delta_pitch', 'delta_yaw',
            'gripper']
STATE_NAMES = ['eef_x', 'eef_y', 'eef_z', 'eef_roll', 'gripper_width']


def _smooth_frame(size, step, seed):
    """A gradient image that changes with the step (video codecs keep these almost exact)."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = [(x * 4 + step * 9 + seed * 40) % 256, (y * 5 + step * 7) % 256,
           np.full((h, w), (seed * 60 + step * 11) % 256)]
    return np.stack(rgb, axis=-1).astype(np.uint8)


def _library_dataset(root, action_names, episodes):
    """A LeRobotDataset written by LeRobot; episodes: [(tasks per frame, seed)]."""
    features = {
        'observation.images.front': {'dtype': 'video', 'shape': (*FRONT, 3),
                                     'names': ['height', 'width', 'channels']},
        'observation.images.wrist': {'dtype': 'image', 'shape': (*WRIST, 3),
                                     'names': ['height', 'width', 'channels']},
        'observation.state': {'dtype': 'float32', 'shape': (len(STATE_NAMES),),
                              'names': STATE_NAMES},
        'action': {'dtype': 'float32', 'shape': (len(action_names),), 'names': action_names},
    }
    dataset = LeRobotDataset.create('test/library', fps=FPS, features=features, root=root,
                                    use_videos=True, vcodec='h264', video_backend='pyav')
    source = []
    rng = np.random.default_rng(0)
    for tasks, seed in episodes:
        rows = {'front': [], 'wrist': [], 'state': [], 'action': [], 'task': tasks}
        for step, task in enumerate(tasks):
            rows['front'].append(_smooth_frame(FRONT, step, seed))
            rows['wrist'].append(rng.integers(0, 256, (*WRIST, 3), dtype=np.uint8))
            rows['state'].append(rng.uniform(-1, 1, len(STATE_NAMES)).astype(np.float32))
            rows['action'].append(rng.uniform(-0.03, 0.03, len(action_names)).astype(np.float32))
            dataset.add_frame({'observation.images.front': rows['front'][-1],
                               'observation.images.wrist': rows['wrist'][-1],
                               'observation.state': rows['state'][-1],
                               'action': rows['action'][-1], 'task': task})
        dataset.save_episode(parallel_encoding=False)
        source.append({k: (v if k == 'task' else np.stack(v)) for k, v in rows.items()})
    dataset.finalize()
    return source


def test_library_written_dataset_imports_cameras_state_actions_and_instructions(tmp_path):
    source = _library_dataset(tmp_path / 'lr', EE_NAMES, [
        (['pick the red block'] * 6, 1),
        (['open the drawer'] * 3 + ['close the drawer'] * 4, 2)])   # task changes: 2 episodes
    mapping = LeRobotMapping(static_camera='front', gripper_camera='wrist', action_units='si',
                             gripper_threshold=0.0,
                             state_dims=('eef_x', 'eef_y', 'eef_z', 'gripper_width'))
    stats = import_lerobot(tmp_path / 'lr', tmp_path / 'ours', mapping, progress=False)
    assert (stats.episodes_read, stats.episodes_written, stats.frames) == (2, 3, 13)
    episodes = list(iter_episodes(tmp_path / 'ours'))
    assert [e.instruction for e in episodes] == ['pick the red block', 'open the drawer',
                                                 'close the drawer']
    parts = [(0, slice(0, 6)), (1, slice(0, 3)), (1, slice(3, 7))]
    for episode, (index, span) in zip(episodes, parts):
        src = source[index]
        assert episode.static.shape == (span.stop - span.start, *FRONT, 3)
        error = np.abs(episode.static.astype(int) - src['front'][span]).mean()
        assert error < VIDEO_ERROR_LIMIT, error
        np.testing.assert_array_equal(episode.gripper, src['wrist'][span])      # PNG: exact
        np.testing.assert_array_equal(episode.state, src['state'][span][:, [0, 1, 2, 4]])
        raw = src['action'][span].astype(np.float64)
        expected = np.concatenate([raw[:, 0:3] / 0.02, raw[:, 3:6] / 0.05,
                                   np.where(raw[:, 6:] > 0, 1.0, -1.0)], axis=1)
        np.testing.assert_allclose(episode.actions, np.clip(expected, -1, 1), atol=1e-5)
    assert stats.clipped_values == int(np.sum(np.abs(np.concatenate(
        [s['action'][:, 0:3] / 0.02 for s in source])) > 1))
    # the same file read as absolute targets: deltas from the current pose in the state
    absolute = LeRobotMapping(static_camera='front', action_units='si', action_frame='absolute',
                              action_dims=('delta_x', 'delta_y', 'delta_z', '-', '-', '-',
                                           'gripper'),
                              pose_state_dims=('eef_x', 'eef_y', 'eef_z', '-', '-', '-'))
    first = next(iter_lerobot_episodes(tmp_path / 'lr', absolute))
    delta = (source[0]['action'][:, 0:3].astype(np.float64) - source[0]['state'][:, 0:3]) / 0.02
    np.testing.assert_allclose(first.actions[:, 0:3], np.clip(delta, -1, 1), atol=1e-5)


def test_library_written_joint_space_dataset_is_refused_with_what_is_needed(tmp_path, capsys):
    joints = ['shoulder_pan.pos', 'shoulder_lift.pos', 'elbow_flex.pos', 'wrist_flex.pos',
              'wrist_roll.pos', 'gripper.pos']
    _library_dataset(tmp_path / 'so100', joints, [(['fold the towel'] * 2, 0)])
    with pytest.raises(MappingError, match='joint-space'):
        next(iter_lerobot_episodes(tmp_path / 'so100', LeRobotMapping(static_camera='front')))
    code = cli_main(['import-lerobot', str(tmp_path / 'so100'), str(tmp_path / 'out'),
                     '--static-camera', 'front'])
    err = capsys.readouterr().err
    assert code == 2
    assert 'joint-space' in err and 'end-effector deltas' in err and '--action-dims' in err
    assert not (tmp_path / 'out').exists()           # nothing written


def _our_recording(root, episodes=3):
    for seed in range(episodes):
        episode = make_example_episode(length=4 + seed, size=20, gripper_size=12, seed=seed,
                                       task=f'task-{seed}')
        episode.instruction = f'instruction {seed}'
        episode.state = np.random.default_rng(seed).random((len(episode), 4)).astype(np.float32)
        write_episode(root, episode)
    return list(iter_episodes(root))


def test_png_export_reimports_identically_and_lerobot_reads_it(tmp_path, capsys):
    originals = _our_recording(tmp_path / 'ours')
    code = cli_main(['export-lerobot', str(tmp_path / 'ours'), str(tmp_path / 'lr'),
                     '--images', 'png', '--robot-type', 'sawyer'])
    assert code == 0, capsys.readouterr().err
    code = cli_main(['import-lerobot', str(tmp_path / 'lr'), str(tmp_path / 'back')])
    assert code == 0, capsys.readouterr().err
    again = list(iter_episodes(tmp_path / 'back'))
    assert len(again) == len(originals)
    for a, b in zip(originals, again):
        assert (a.instruction, a.task, a.success, a.meta) == (b.instruction, b.task, b.success,
                                                              b.meta)
        for name in ('static', 'gripper', 'actions', 'state'):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    lerobot = LeRobotDataset('local/lr', root=tmp_path / 'lr', video_backend='pyav')
    assert (lerobot.meta.total_episodes, lerobot.meta.fps) == (3, 10)
    assert lerobot.meta.robot_type == 'sawyer'
    assert list(lerobot.meta.tasks.index) == ['instruction 0', 'instruction 1', 'instruction 2']
    assert lerobot.meta.features['action']['names'] == list(
        ['dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'gripper'])
    item = lerobot[len(originals[0])]                 # first frame of the second episode
    assert item['task'] == 'instruction 1'
    np.testing.assert_allclose(item['action'].numpy(), originals[1].actions[0])


def test_video_export_reimports_within_the_codec_error(tmp_path):
    root = tmp_path / 'ours'
    for seed in range(2):
        frames = np.stack([_smooth_frame((24, 24), t, seed) for t in range(5)])
        episode = make_example_episode(length=5, size=24, gripper_size=None, seed=seed)
        episode.static = frames
        write_episode(root, episode)
    originals = list(iter_episodes(root))
    count = export_lerobot(root, tmp_path / 'lr', ExportOptions(vcodec='h264'), progress=False)
    assert count == 2
    info = json.loads((tmp_path / 'lr' / 'meta' / 'info.json').read_text())
    assert info['features']['observation.images.static']['dtype'] == 'video'
    assert 'observation.state' not in info['features']
    import_lerobot(tmp_path / 'lr', tmp_path / 'back', progress=False)
    for a, b in zip(originals, iter_episodes(tmp_path / 'back')):
        assert (a.instruction, a.task, a.success, a.meta) == (b.instruction, b.task, b.success,
                                                              b.meta)
        np.testing.assert_array_equal(a.actions, b.actions)
        assert b.gripper is None and b.state is None
        assert np.abs(a.static.astype(int) - b.static).mean() < VIDEO_ERROR_LIMIT

    # appending to a dataset with other cameras is refused before anything is written
    write_episode(tmp_path / 'other', make_example_episode(length=2, size=32))
    with pytest.raises(MappingError, match='write to a new directory'):
        import_lerobot(tmp_path / 'lr', tmp_path / 'other', progress=False)
    assert len(list(iter_episodes(tmp_path / 'other'))) == 1
    # a sidecar that no longer matches the episodes (an edited export) is not trusted
    sidecar = tmp_path / 'lr' / 'meta' / 'deer_ros.json'
    data = json.loads(sidecar.read_text())
    data['episodes'][1]['length'] += 1
    sidecar.write_text(json.dumps(data))
    stats = import_lerobot(tmp_path / 'lr', tmp_path / 'edited', progress=False)
    assert any('does not match the episodes' in note for note in stats.notes)
    assert [e.task for e in iter_episodes(tmp_path / 'edited')] == ['lerobot', 'lerobot']


def test_export_refuses_an_existing_directory_and_a_non_integer_fps(tmp_path):
    write_episode(tmp_path / 'ours', make_example_episode(length=3), fps=7.5)
    (tmp_path / 'taken').mkdir()
    with pytest.raises(FileExistsError):
        export_lerobot(tmp_path / 'ours', tmp_path / 'taken', progress=False)
    with pytest.raises(ValueError, match='integer fps'):
        export_lerobot(tmp_path / 'ours', tmp_path / 'new', progress=False)
    assert not (tmp_path / 'new').exists()


def test_import_refuses_what_is_not_a_v3_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match='meta/info.json'):
        import_lerobot(tmp_path, tmp_path / 'out', progress=False)
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'info.json').write_text(json.dumps({'codebase_version': 'v2.1'}))
    with pytest.raises(ValueError, match='v2.1.*convert_dataset_v21_to_v30'):
        import_lerobot(tmp_path, tmp_path / 'out', progress=False)
