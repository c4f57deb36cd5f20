"""The disk frame cache: same windows as in RAM, written once, rebuilt on change, read ahead."""
import numpy as np
import pytest
import torch

from training_examples import learnable_episode

from deer_ros.data.recording import write_episode
from deer_ros.model.build import preset_config
from deer_ros.model.tokenizer import load_tokenizer
from deer_ros.training.data import WindowDataset
from deer_ros.training.sampling import batch_indices
from deer_ros.training.frame_cache import MANIFEST, cache_path, open_cache
from deer_ros.training.loader import StepBatches


def _recording(root, episodes=3, with_state=True):
    for i in range(episodes):
        ep = learnable_episode(i, length=7 + i, size=40)
        if with_state:
            ep.state = np.random.default_rng(i).normal(size=(len(ep), 4)).astype(np.float32)
        write_episode(root, ep)
    return root


def _same(a, b):
    for name in ('static', 'gripper', 'input_ids', 'token_mask', 'actions', 'state'):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_cached_windows_equal_the_in_memory_windows(tmp_path):
    from deer_ros.data.recording import iter_episodes
    rec = _recording(tmp_path / 'rec')
    tok = load_tokenizer()
    vision = preset_config('tiny', tok).vision
    in_ram = WindowDataset(list(iter_episodes(rec)), tok, vision, 4, early=(2, 3))
    cached = WindowDataset.from_stores([open_cache(str(rec), vision)], tok, 4, early=(2, 3))
    assert cached.on_disk and not in_ram.on_disk
    assert cached.index == in_ram.index and len(cached) == len(in_ram) == (4 + 5 + 6) + 3 * 2 * 2
    _same(cached.batch(range(len(cached))), in_ram.batch(range(len(in_ram))))


def test_cache_is_written_once_and_rebuilt_when_the_recording_changes(tmp_path):
    rec = _recording(tmp_path / 'rec', episodes=2)
    vision = preset_config('tiny').vision
    first = open_cache(str(rec), vision)
    manifest = first.root / MANIFEST
    stamp = manifest.stat().st_mtime_ns
    frames = sorted(p.name for p in first.root.glob('static_*.npy'))
    assert frames == ['static_000000.npy', 'static_000001.npy']
    assert open_cache(str(rec), vision).root == first.root
    assert manifest.stat().st_mtime_ns == stamp                 # reused, not rewritten
    write_episode(rec, learnable_episode(5, length=9, size=40))
    again = open_cache(str(rec), vision)
    assert manifest.stat().st_mtime_ns != stamp                 # a new episode: rebuilt
    assert [e.length for e in again.episodes] == [7, 8, 9]
    bigger = open_cache(str(rec), preset_config('small').vision)   # another image size
    assert bigger.root != first.root and bigger.frames('static', 2, 0, 9).shape[-1] == 64


def test_cache_dir_keeps_the_recording_untouched(tmp_path):
    rec = _recording(tmp_path / 'rec', episodes=1)
    before = sorted(p.relative_to(rec) for p in rec.rglob('*'))
    cache = open_cache(str(rec), preset_config('tiny').vision, cache_dir=str(tmp_path / 'c'))
    assert sorted(p.relative_to(rec) for p in rec.rglob('*')) == before
    assert cache.root == cache_path(rec, 32, str(tmp_path / 'c'))
    assert cache.root.is_relative_to(tmp_path / 'c')


def test_unwritable_cache_is_a_clear_error(tmp_path):
    rec = _recording(tmp_path / 'rec', episodes=1)
    (tmp_path / 'file').write_text('not a directory')
    with pytest.raises(OSError, match='give --cache-dir'):
        open_cache(str(rec), preset_config('tiny').vision, cache_dir=str(tmp_path / 'file'))


def test_workers_read_the_same_batches_in_any_order_of_steps(tmp_path):
    rec = _recording(tmp_path / 'rec')
    tok = load_tokenizer()
    data = WindowDataset.from_stores([open_cache(str(rec), preset_config('tiny').vision)],
                                     tok, 3)

    def indices(step):
        return batch_indices(len(data), 4, 0, step)
    plain = StepBatches(data, indices, workers=0)
    ahead = StepBatches(data, indices, workers=2)
    try:
        for step in [0, 1, 2, 7, 8, 3]:          # in order, then jumps (a resume)
            _same(ahead.get(step), plain.get(step))
    finally:
        ahead.close()


def _open_in_child(rec, queue):
    try:
        cache = open_cache(rec, preset_config('tiny').vision)
        queue.put([cache.frames('static', e, 0, ep.length).sum().item()
                   for e, ep in enumerate(cache.episodes)])
    except Exception as exc:                       # reported to the test, not swallowed
        queue.put(repr(exc))


def test_processes_opening_one_cache_at_once_build_it_once(tmp_path, monkeypatch):
    import multiprocessing
    import time

    from deer_ros.training import frame_cache
    rec = str(_recording(tmp_path / 'rec', episodes=6))
    build, log = frame_cache._build, tmp_path / 'builds.log'

    def slow_logged_build(*args, **kwargs):        # a slow disk: the others arrive meanwhile
        with open(log, 'a') as f:
            f.write('build\n')
        time.sleep(1.0)
        return build(*args, **kwargs)
    monkeypatch.setattr(frame_cache, '_build', slow_logged_build)
    ctx = multiprocessing.get_context('fork')      # the children inherit the patch
    queue = ctx.Queue()
    ranks = [ctx.Process(target=_open_in_child, args=(rec, queue)) for _ in range(3)]
    for p in ranks:
        p.start()
    results = [queue.get(timeout=300) for _ in ranks]
    for p in ranks:
        p.join(timeout=60)
    expected = [t.sum().item() for t in
                (open_cache(rec, preset_config('tiny').vision).frames('static', e, 0, 7 + e)
                 for e in range(6))]
    assert results == [expected] * 3
    assert log.read_text() == 'build\n'           # one built it, two read it
