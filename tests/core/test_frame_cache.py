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
    assert not cache.holds(zs[1]) and cache.holds(zs[0]) and cache.holds(zs[3])
    assert cache.nbytes == 3 * one
    cache.put(np.zeros(1, np.float32), np.zeros((100, 100), np.uint8))  # larger than the whole budget: not kept
    assert cache.nbytes <= 3 * one


def test_a_frame_belongs_to_the_device_it_was_decoded_on_and_clear_empties_the_cache():
    cache = FrameCache()
    z = np.zeros(3, np.float32)
    cache.put(z, frame(1), "cuda:0")
    assert cache.get(z, "cpu") is None  # the same latent decoded elsewhere may differ in the last bit
    assert np.array_equal(cache.get(z, "cuda:0"), frame(1))
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_views_of_one_array_count_it_once_and_free_it_with_the_last_of_them():
    block = np.stack([frame(i) for i in range(4)])  # one array: the frames are views of it
    zs = np.arange(4, dtype=np.float32)[:, None]
    cache = FrameCache(max_bytes=10 * block.nbytes)
    for z, img in zip(zs, block, strict=True):
        cache.put(z, img)
    assert cache.nbytes == block.nbytes
    small = FrameCache(max_bytes=block.nbytes)
    for z, img in zip(zs, np.stack([frame(i) for i in range(4)]), strict=True):
        small.put(z, img)
    small.put(np.array([9.0], np.float32), frame(9))  # over budget: the array goes once its last frame does
    assert small.nbytes <= small.max_bytes
    assert small.holds(np.array([9.0], np.float32)) and len(small) == 1
