"""`deer-ros train`: checkpoints in our format, the loss plot, resume from the run directory."""
import json
import shutil

import pytest

from training_examples import write_dataset

from deer_ros.cli import main
from deer_ros.model.build import rollout_from_checkpoint
from deer_ros.training.plot import plot_losses

ARGS = ['--joint-steps', '3', '--head-steps', '1', '--save-every', '2', '--log-every', '1',
        '--window', '4', '--batch-size', '2', '--warmup-steps', '1', '--threads', '1',
        '--device', 'cpu', '--no-progress']


def test_train_writes_checkpoints_plot_and_resumes(tmp_path):
    data = write_dataset(tmp_path / 'demos')
    run = tmp_path / 'run'
    assert main(['train', data, '-o', str(run), '--export', str(tmp_path / 'model')] + ARGS) == 0
    assert (run / 'loss.png').read_bytes()[:4] == b'\x89PNG'
    assert (tmp_path / 'model' / 'loss.png').is_file()
    final = json.loads((run / 'step_0000004' / 'train_state.json').read_text())
    rollout_from_checkpoint(str(tmp_path / 'model'))          # loadable by every command

    shutil.rmtree(run / 'step_0000004')                       # interrupted after step 2
    (run / 'latest.txt').write_text('step_0000002\n')
    assert main(['train', data, '--resume', str(run)] + ARGS) == 0
    again = json.loads((run / 'step_0000004' / 'train_state.json').read_text())
    assert [r['total'] for r in again['history']] == [r['total'] for r in final['history']]


def test_loss_plot_is_written(tmp_path):
    history = [{'step': s, 'exit_0': 1.0 / s, 's1': 2.0 / s, 'total': 3.0 / s}
               for s in range(1, 6)]
    out = plot_losses(history, str(tmp_path / 'plots' / 'loss.png'))
    assert out.read_bytes()[:4] == b'\x89PNG'


def test_window_one_trains_a_head_that_runs_frame_by_frame(tmp_path):
    data = write_dataset(tmp_path / 'demos')
    for window, history in (('1', 'frame'), ('4', 'episode')):
        args = [a if a != '4' else window for a in ARGS]            # --window 1 / 4
        out = tmp_path / f'model-{window}'
        assert main(['train', data, '-o', str(tmp_path / f'run-{window}'), '--export', str(out),
                     '--early-frames', '2', '--early-repeat', '3'] + args) == 0
        saved = json.loads((out / 'config.json').read_text())['model']['head']
        assert saved['history'] == history
        assert rollout_from_checkpoint(str(out)).config.head.history == history
    distill = ['distill', str(tmp_path / 'model-1'), data, '-o', str(tmp_path / 'skip'),
               '--stage1-steps', '1', '--stage2-steps', '1', '--batch-size', '2',
               '--threads', '1', '--device', 'cpu', '--no-progress']
    with pytest.raises(ValueError, match='frame by frame'):    # its default window is 12
        main(distill)
    assert main(distill + ['--window', '1']) == 0
    with pytest.raises(ValueError, match='early_repeat'):
        main(['train', data, '-o', str(tmp_path / 'bad'), '--early-repeat', '0'] + ARGS)
