"""Benchmark: our recording format vs LeRobotDataset v3 on the same demonstrations.

The recording at `data` is written again in our format and exported twice with LeRobot's
writer (mp4 video, and lossless PNG images), then each copy is read back in a fresh process,
every frame of every episode decoded to uint8 arrays one episode at a time (what `train` and
`calibrate` do with a dataset). Per format: bytes on disk, write time, read time, the reader's
peak RSS above its imports, the imports' own time and RSS, and the frames' error against the
original. One more row reads the PNG copy the way LeRobot's training does, `LeRobotDataset[i]`
for every frame in random order (its video decoders cannot run here: see docs/training.md).
One run, one machine: compare the rows with each other, not with another run.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from deer_ros.bench.report import table

_READ_SCRIPT = r'''
import json, sys, threading, time
kind, path = sys.argv[1], sys.argv[2]
def rss_mb():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024
t0 = time.perf_counter()
import numpy as np
if kind == 'recording':
    from deer_ros.data.recording import iter_episodes
else:
    import lerobot.datasets.lerobot_dataset
    from deer_ros.data.lerobot_import import iter_lerobot_episodes, open_lerobot
imported_s = time.perf_counter() - t0
base = peak = rss_mb()
done = threading.Event()
def watch():
    global peak
    while not done.wait(0.005):
        peak = max(peak, rss_mb())
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
frames = 0
if kind == 'lerobot-getitem':
    dataset = open_lerobot(path)
    for i in np.random.default_rng(0).permutation(len(dataset)):
        item = dataset[int(i)]
        frames += 1
else:
    episodes = iter_episodes(path) if kind == 'recording' else iter_lerobot_episodes(path)
    for episode in episodes:
        frames += len(episode)
read_s = time.perf_counter() - t0
done.set()
print(json.dumps(dict(imported_s=imported_s, base_mb=base, read_s=read_s,
                      read_rss_mb=max(peak, rss_mb()) - base, frames=frames)))
'''


def disk_bytes(path: Path) -> int:
    """Bytes of every file under path."""
    return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file())


def read_in_subprocess(kind: str, path: Path) -> Dict[str, Any]:
    """Read a dataset in a fresh interpreter; its timing and memory (see _READ_SCRIPT)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parents[2]), os.environ.get('PYTHONPATH', '')])))
    done = subprocess.run([sys.executable, '-c', _READ_SCRIPT, kind, str(path)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def frame_error(original: Path, copy: Path) -> float:
    """Mean |difference| per pixel value (0..255) of the copy's frames vs the original's."""
    import numpy as np

    from deer_ros.data.lerobot_import import iter_lerobot_episodes
    from deer_ros.data.recording import iter_episodes
    total, count = 0.0, 0
    for a, b in zip(iter_episodes(original), iter_lerobot_episodes(copy)):
        for x, y in ((a.static, b.static), (a.gripper, b.gripper)):
            if x is not None:
                total += float(np.abs(x.astype(np.int16) - y).sum())
                count += x.size
    return total / max(count, 1)


def _rewrite(source: Path, target: Path) -> float:
    """Seconds to write the recording's episodes again in our format (np.savez_compressed)."""
    from deer_ros.data.recording import iter_episodes, read_info, write_episode
    shutil.rmtree(target, ignore_errors=True)
    episodes = list(iter_episodes(source))        # read first: only the writing is timed
    fps = read_info(source).fps
    start = time.perf_counter()
    for episode in episodes:
        write_episode(target, episode, fps=fps)
    return time.perf_counter() - start


def run_formats(data: str, work: str, vcodec: str, command: str = '') -> Dict[str, Any]:
    """Export `data` to LeRobot mp4 and PNG under `work`, read all three back, compare."""
    from deer_ros.data.lerobot_export import ExportOptions, export_lerobot
    from deer_ros.data.recording import read_info
    info = read_info(data)
    work_dir = Path(work)
    import lerobot.datasets.lerobot_dataset  # noqa: F401 (imported once, outside the timings)
    copies = {'video': work_dir / f'lerobot-{vcodec}', 'png': work_dir / 'lerobot-png'}
    written = {'recording': _rewrite(Path(data), work_dir / 'recording')}
    for name, path in copies.items():
        shutil.rmtree(path, ignore_errors=True)
        start = time.perf_counter()
        export_lerobot(data, path, ExportOptions(video=name == 'video', vcodec=vcodec))
        written[name] = time.perf_counter() - start
    rows: List[Dict[str, Any]] = [
        dict(format='deer_ros recording (npz, zlib)', path=str(work_dir / 'recording'),
             reader='recording', write_s=written['recording'], error=0.0),
        dict(format=f'LeRobot v3, mp4 ({vcodec})', path=str(copies['video']), reader='lerobot',
             write_s=written['video'], error=frame_error(Path(data), copies['video'])),
        dict(format='LeRobot v3, PNG in parquet', path=str(copies['png']), reader='lerobot',
             write_s=written['png'], error=frame_error(Path(data), copies['png'])),
        dict(format='LeRobot v3, PNG, `LeRobotDataset[i]` random order',
             path=str(copies['png']), reader='lerobot-getitem', write_s=None, error=None),
    ]
    for row in rows:
        row['disk_bytes'] = disk_bytes(Path(row['path']))
        row.update(read_in_subprocess(row['reader'], Path(row['path'])))
    return dict(benchmark='formats', data=str(data), episodes=len(info.episodes),
                steps=sum(e['length'] for e in info.episodes), static_size=info.static_size,
                gripper_size=info.gripper_size, rows=rows,
                environment=dict(command=command, cpus=os.cpu_count()))


def formats_markdown(result: Dict[str, Any]) -> str:
    """One table: format x disk, write, read, memory, fidelity."""
    base = result['rows'][0]
    rows = [[r['format'], r['disk_bytes'] / 2**20, r['disk_bytes'] / base['disk_bytes'],
             r['write_s'], r['read_s'], r['read_s'] / base['read_s'], r['read_rss_mb'],
             r['imported_s'], r['base_mb'], r['error']] for r in result['rows']]
    cams = f"{result['static_size']} static + {result['gripper_size']} gripper"
    return '\n'.join([
        f"### Recording format vs LeRobotDataset v3: {result['episodes']} episodes, "
        f"{result['steps']} steps, {cams} px", '',
        f"- command: `{result['environment']['command']}` ({result['environment']['cpus']} "
        'CPUs, shared)',
        '- read: every frame of every episode to uint8, one episode at a time, fresh process; '
        'read RSS: peak above the RSS after the reader\'s imports (sampled every 5 ms); '
        'import: the reader\'s modules (torch included for LeRobot); frame error: mean '
        '|difference| per pixel value (0..255) against the original frames', '',
        table(['format', 'disk MiB', 'disk x', 'write s', 'read s', 'read x', 'read RSS MiB',
               'import s', 'import RSS MiB', 'frame error'], rows, digits=3)])
