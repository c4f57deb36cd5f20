"""`deer-ros infer` and `deer-ros convert` end to end on the tiny preset."""
import json

import numpy as np
import torch
from model_examples import make_image, make_tiny
from test_checkpoints import _write_official

from deer_ros.cli import main


def _images(tmp_path, n, size, name):
    paths = []
    for i in range(n):
        path = tmp_path / f'{name}{i}.npy'
        np.save(path, make_image(10 * i + size, size))
        paths.append(str(path))
    return paths


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_infer_prints_one_json_line_per_frame(tmp_path, capsys):
    static, gripper = _images(tmp_path, 3, 40, 's'), _images(tmp_path, 3, 20, 'g')
    args = ['infer', '--preset', 'tiny', '--seed', '0', '--device', 'cpu',
            '--static', *static, '--gripper', *gripper]
    assert main(args + ['--exit-policy', 'deer', '--thresholds', '1', '1', '1', '1', '1']) == 0
    records = _lines(capsys)
    assert [r['frame'] for r in records] == [0, 1, 2]
    for r in records:
        assert len(r['action']) == 7 and r['action'][6] in (-1.0, 1.0)
        assert r['exit_index'] == 0 and r['layers_executed'] == 2    # loose thresholds
        assert r['gflops'] > 0 and len(r['candidates'][0]['pose']) == 6
        assert r['candidates'][0]['value'] is not None
    assert main(args + ['--exit-policy', 'fixed', '--fixed-exit', '2']) == 0
    assert all(r['layers_executed'] == 6 for r in _lines(capsys))
    assert main(args + ['--exit-policy', 'full']) == 0
    full = _lines(capsys)
    assert all(r['exit_index'] == 5 and r['layers_executed'] == 12 for r in full)
    assert full[0]['gflops'] > records[0]['gflops']


def test_convert_official_to_our_format_then_infer(tmp_path, capsys):
    rollout = make_tiny(seed=21)
    paths = _write_official(tmp_path, rollout.model.state_dict())
    out = tmp_path / 'ours'
    assert main(['convert', str(paths['deer']), '--out', str(out), '--preset', 'tiny',
                 '--clip', str(paths['clip']), '--mpt', str(paths['mpt'])]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['layers'] == 12 and summary['unexpected'] == []
    from deer_ros.model.checkpoint import load_checkpoint
    model, _ = load_checkpoint(str(out))
    for key, value in rollout.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    static = _images(tmp_path, 1, 32, 's')
    assert main(['infer', '--checkpoint', str(out), '--device', 'cpu', '--static', *static]) == 0
    assert len(_lines(capsys)) == 1
