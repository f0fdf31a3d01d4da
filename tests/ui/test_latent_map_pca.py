"""The latent map's PCA for latents of every size: exact below 1,024 dimensions, and for W+ / StyleSpace of big
generators (thousands of dimensions) the axes of a Gram matrix of a subsample, which must still find a planted
dominant direction and give orthonormal axes that project new points exactly."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.ui.panels.latent_map import pca_projection


@pytest.mark.parametrize("d", [8, 512, 4096])
def test_the_axes_find_a_planted_direction_at_any_size(d):
    rng = np.random.default_rng(d)
    planted = rng.standard_normal(d)
    planted /= np.linalg.norm(planted)
    x = (rng.standard_normal((2000, d)) * 0.2 + np.outer(rng.standard_normal(2000) * 5, planted)).astype(np.float32)
    emb, mean, comps = pca_projection(x)
    assert comps.shape == (2, d) and emb.shape == (2000, 2)
    assert np.allclose(comps @ comps.T, np.eye(2), atol=1e-3)
    assert abs(float(comps[0] @ planted)) > 0.95
    assert np.allclose(emb, (x - mean) @ comps.T, atol=1e-3)
