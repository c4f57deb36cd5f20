"""Per-rank sampling: the shards of a step are the one-process batch, at any world size."""
import pytest
import torch

from deer_ros.training.sampling import Shard, StepBatchSampler, batch_indices


def test_rank_shards_of_a_step_are_the_one_process_batch():
    one = StepBatchSampler(50, 8, seed=1)
    for world in (2, 4, 8):
        ranks = [StepBatchSampler(50, 8, seed=1, shard=Shard(r, world)) for r in range(world)]
        for step in (0, 5, 6, 37):
            union = [i for s in ranks for i in s.indices(step)]
            assert union == one.indices(step)                 # same windows, same order
            assert all(len(s.indices(step)) == 8 // world for s in ranks)


def test_sampler_is_a_dataloader_batch_sampler_that_resumes_at_a_step():
    sampler = StepBatchSampler(50, 8, seed=1, shard=Shard(1, 2), start_step=3, total_steps=6)
    loader = torch.utils.data.DataLoader(list(range(50)), batch_sampler=sampler)
    batches = [b.tolist() for b in loader]
    assert len(sampler) == len(batches) == 3
    assert batches == [batch_indices(50, 8, 1, s)[4:].tolist() for s in (3, 4, 5)]


def test_early_window_repeats_are_sampled_as_often_on_every_world_size():
    index = [0, 0, 0, 1, 2, 3, 4, 5]                # window 0 listed 3 times (early repeat)
    for world in (1, 2, 4):
        drawn = [index[i] for r in range(world)
                 for step in range(8)
                 for i in StepBatchSampler(len(index), 4, 0, Shard(r, world)).indices(step)]
        assert drawn.count(0) == 3 * drawn.count(1), world


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match='multiple of the world size'):
        StepBatchSampler(50, 6, seed=0, shard=Shard(0, 4))
    with pytest.raises(ValueError, match='outside world size'):
        Shard(2, 2)
