"""StyleGAN3 and class-conditional StyleGAN2-ADA network pickles open (after trust) and draw the reference's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.checkpoints import UntrustedFile, open_checkpoint
from tests.format_fixtures import nvidia_pickle_of, persistent_tree
from tests.stylegan_fixtures import CASES, FIXTURE, attrs_from_json, ours_render, reference_tensors, seeded_network


@pytest.mark.slow
@pytest.mark.parametrize("case", ["stylegan3-t", "ada-conditional"])
def test_network_pickle_opens_only_when_trusted_and_matches_the_reference(case, tmp_path, monkeypatch):
    fx = np.load(FIXTURE)
    seeded = seeded_network(case)
    tree = persistent_tree(reference_tensors(case, seeded), attrs_from_json(str(fx[f"{case}/attrs"])))
    marker = tmp_path / "MARKER"
    path = tmp_path / "network-snapshot-000100.pkl"
    nvidia_pickle_of(path, tree, marker, monkeypatch)
    with pytest.raises(UntrustedFile):
        open_checkpoint(path)
    ck = open_checkpoint(path, trust=True)
    assert not marker.exists()  # trusted or not, NVIDIA's embedded source is never run
    assert ck.card["architecture"] == CASES[case]["network"]
    got = ours_render(ck.model, case)
    assert np.abs(got - fx[f"{case}/images"]).max() <= 1e-4
