from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.traversal import direction_sweep, keyframe_path, slerp, traversal_grid


def test_traversal_grid_sets_one_dimension_per_row():
    z = np.arange(4, dtype=np.float32)
    g = traversal_grid(z, [1, 3], 5, -2.0, 2.0)
    assert g.shape == (2, 5, 4)
    assert np.allclose(g[0, :, 1], np.linspace(-2, 2, 5))
    assert np.allclose(g[0, :, [0, 2, 3]], z[[0, 2, 3], None])
    assert np.allclose(g[1, :, 3], np.linspace(-2, 2, 5))
    with pytest.raises(IndexError):
        traversal_grid(z, [4], 3, -1, 1)


def test_direction_sweep_is_symmetric_about_z():
    z = np.ones(3, np.float32)
    v = np.array([1, 0, 0], np.float32)
    s = direction_sweep(z, v, 5, 2.0)
    assert np.allclose(s[2], z) and np.allclose(s[0], [-1, 1, 1]) and np.allclose(s[-1], [3, 1, 1])


def test_keyframe_path_passes_through_every_key():
    keys = [np.zeros(2), np.ones(2), np.array([2.0, 0.0])]
    p = keyframe_path(keys, 9, "lerp", "ease-in-out")
    assert np.allclose(p[0], keys[0]) and np.allclose(p[4], keys[1]) and np.allclose(p[-1], keys[2])
    with pytest.raises(ValueError):
        keyframe_path(keys[:1], 5)


def test_slerp_keeps_the_norm_between_equal_norm_keys():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    mid = slerp(a, b, np.array([0.5]))[0]
    assert np.linalg.norm(mid) == pytest.approx(3.0, rel=1e-5)
