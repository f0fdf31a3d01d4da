"""Decoded frames kept by their exact latent."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.frame_cache import FrameCache


def frame(v: int, size: int = 8) -> np.ndarray:
    return np.full((size, size), v, np.uint8)


def test_a_frame_comes_back_only_for_exactly_the_same_latent():
    cache = FrameCache()
    z = np.array([0.5, -1.0, 2.0], np.float32)
    cache.put(z, frame(7))
    assert np.array_equal(cache.get(z.copy()), frame(7))
    assert cache.get(z.astype(np.float64)) is not None  # the same float32 values, whatever the dtype given
    assert cache.get(np.nextafter(z, 10).astype(np.float32)) is None  # one ulp away is another latent
    assert cache.hits == 2


def test_frames_are_read_only_so_no_view_can_change_what_another_shows():
    cache = FrameCache()
    z = np.zeros(2, np.float32)
    cache.put(z, frame(1))
    with pytest.raises(ValueError):
        cache.get(z)[0, 0] = 9


def test_memory_stays_under_the_budget_and_the_least_recently_used_go_first():
    one = frame(0).nbytes
    cache = FrameCache(max_bytes=3 * one)
    zs = [np.array([float(i)], np.float32) for i in range(4)]
    for i in range(3):
        cache.put(zs[i], frame(i))
    assert cache.get(zs[0]) is not None  # used: now the most recent
    cache.put(zs[3], frame(3))
    assert zs[1] not in cache and zs[0] in cache and zs[3] in cache
    assert cache.nbytes == 3 * one
    cache.put(np.zeros(1, np.float32), np.zeros((100, 100), np.uint8))  # larger than the whole budget: not kept
    assert cache.nbytes <= 3 * one


def test_a_batch_is_kept_frame_by_frame_and_clear_empties_it():
    cache = FrameCache()
    zs = np.arange(6, dtype=np.float32).reshape(3, 2)
    cache.put_batch(zs, np.stack([frame(i) for i in range(3)]))
    assert np.array_equal(cache.get(zs[2]), frame(2)) and len(cache) == 3
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_frames_of_one_batch_count_the_batch_once_and_free_it_with_the_last_of_them():
    batch = np.stack([frame(i) for i in range(4)])  # one array: the frames are views of it
    cache = FrameCache(max_bytes=10 * batch.nbytes)
    zs = np.arange(4, dtype=np.float32)[:, None]
    cache.put_batch(zs, batch)
    assert cache.nbytes == batch.nbytes
    small = FrameCache(max_bytes=batch.nbytes)
    small.put_batch(zs, np.stack([frame(i) for i in range(4)]))
    small.put(np.array([9.0], np.float32), frame(9))  # over budget: the batch goes once its last frame does
    assert small.nbytes <= small.max_bytes
    assert np.array([9.0], np.float32) in small and len(small) == 1
