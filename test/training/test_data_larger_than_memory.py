"""Training on a dataset far larger than the trainer's memory: its RSS does not grow with it.

Fast: in a fresh process, a cached dataset of ~56 MB of frames read batch by batch through
DataLoader workers lifts RSS by a few MB, while the in-RAM dataset of the same episodes lifts
it by the frames (which shows the measurement sees them). Slow: two `deer-ros train` runs in
fresh processes, identical but for the data (2 episodes, then 60 with ~280 MB of cached
frames): the trainer's peak RSS (VmHWM) may differ by the batches in flight and the per-frame
index (actions, state: 44 bytes a frame), never by the frames.
"""
import subprocess
import sys

import numpy as np
import pytest

from deer_ros.data.recording import Episode, write_episode
from deer_ros.model.build import preset_config
from deer_ros.training.frame_cache import open_cache

SIZE = 64                        # the `mini` preset's image size: no resize work
LENGTH = 200


def _episode(i: int) -> Episode:
    """Cheap, compressible but distinct frames (the recording on disk stays small)."""
    ramp = np.linspace(0, 200, SIZE, dtype=np.float32)[None, :, None, None]
    t = np.arange(LENGTH, dtype=np.float32)[:, None, None, None]
    frames = ((ramp + t + i) % 256 * np.ones((1, SIZE, 1, 3), np.float32)).astype(np.uint8)
    actions = np.zeros((LENGTH, 7), np.float32)
    actions[:, 6] = 1.0
    return Episode('open the drawer', 'synthetic', frames, frames[:, ::-1].copy(), actions)


def _peak_rss_mb(data: str, cache: str, workers: int) -> float:
    """VmHWM of a `deer-ros train` process after a few steps on `data`."""
    code = ('import sys\n'
            'from deer_ros.cli import main\n'
            'assert main(sys.argv[1:]) == 0\n'
            'status = open("/proc/self/status").read().split("VmHWM:")[1]\n'
            'print("PEAK_KB", int(status.split()[0]))\n')
    args = [data, '--preset', 'mini', '-o', f'{cache}-run', '--cache-dir', cache,
            '--joint-steps', '4', '--batch-size', '4', '--window', '2', '--workers',
            str(workers), '--threads', '1', '--save-every', '100', '--device', 'cpu',
            '--no-progress', '--warmup-steps', '1']
    out = subprocess.run([sys.executable, '-c', code, 'train'] + args, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return int(out.stdout.split('PEAK_KB')[1].split()[0]) / 1024


_READ = """
import sys
from deer_ros.data.recording import iter_episodes
from deer_ros.model.build import preset_config
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.data import WindowDataset
from deer_ros.training.frame_cache import open_cache
from deer_ros.training.loader import StepBatches
from deer_ros.training.sampling import batch_indices

def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024

tok, vision = load_tokenizer(), preset_config('mini').vision
before = rss()
data = WindowDataset.from_stores([open_cache(sys.argv[1], vision)], tok, 4)
batches = StepBatches(data, lambda s: batch_indices(len(data), 8, 0, s), workers=2)
for step in range(30):
    assert batches.get(step).static.shape == (8, 4, 3, 64, 64)
batches.close()
cached = rss()
in_ram = WindowDataset(iter_episodes(sys.argv[1]), tok, vision, 4)
assert len(in_ram) == len(data)
print('RSS_MB', cached - before, rss() - cached)
"""


def test_cached_dataset_reads_batches_without_holding_the_frames(tmp_path):
    for i in range(12):
        write_episode(tmp_path / 'rec', _episode(i))
    open_cache(str(tmp_path / 'rec'), preset_config('mini').vision)   # written beforehand
    frames_mb = 12 * LENGTH * 2 * 3 * SIZE * SIZE / 2**20
    # a fresh process: RAM freed by earlier work would hide the in-RAM dataset's growth
    out = subprocess.run([sys.executable, '-c', _READ, str(tmp_path / 'rec')],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    cached, held = (float(v) for v in out.stdout.split('RSS_MB')[1].split())
    assert held > 0.5 * frames_mb, (held, frames_mb)            # the probe sees frames
    assert cached < 0.15 * frames_mb, (cached, frames_mb)


@pytest.mark.slow
def test_trainer_rss_does_not_grow_with_the_dataset(tmp_path):
    for i in range(60):
        write_episode(tmp_path / 'big', _episode(i))
        if i < 2:
            write_episode(tmp_path / 'small', _episode(i))
    small = _peak_rss_mb(str(tmp_path / 'small'), str(tmp_path / 'cache-small'), workers=2)
    big = _peak_rss_mb(str(tmp_path / 'big'), str(tmp_path / 'cache-big'), workers=2)
    frames_mb = sum(p.stat().st_size for p in (tmp_path / 'cache-big').rglob('*.npy')) / 2**20
    assert frames_mb > 280                                  # 60 x 200 x 2 cameras x 12 KB
    # in RAM these frames alone would lift the peak by frames_mb; batches in flight: 2 workers
    # x 2 prefetched x 4 x 2 x 2 x 12 KB = 0.8 MB; index + actions: 12 000 x 44 bytes
    assert big - small < 32, (small, big, frames_mb)
