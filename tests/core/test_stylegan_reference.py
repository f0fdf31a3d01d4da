"""Our StyleGAN3 (-T, -R), class-conditional StyleGAN2-ADA and SWAGAN generators against the reference code.

``tests/fixtures/stylegan_reference.npz`` holds images that NVlabs/stylegan3, NVlabs/stylegan2-ada-pytorch
and rosinality's swagan.py rendered once, on a CPU, from seeded random weights that
``tests/stylegan_fixtures.py`` draws (our code only; the reference kept its own filter designs). How it was
made, and how to make it again: ``tests/fixtures/record_stylegan_reference.py`` (its docstring). The
fixture also keeps the module attributes of the reference's pickled G_ema, as ``nvidia.flatten_module``
reads them, so the NVIDIA cases go through the same mapping a pickle goes through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import open_checkpoint, save_checkpoint
from latentlab.core.formats.nvidia_sg3 import map_generator
from latentlab.core.zoo import build_network
from latentlab.core.zoo import stylegan3_ops as ops
from tests.stylegan_fixtures import (
    CASES,
    FIXTURE,
    attrs_from_json,
    ours_render,
    reference_tensors,
    seeded_network,
)

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURE)


def _from_pickle_parts(case: str, fx) -> torch.nn.Module:
    """Our network built the way a pickle is opened: flattened tensors and attributes -> map_generator."""
    seeded = seeded_network(case)
    tensors = reference_tensors(case, seeded)
    mapped = map_generator(Path(f"{case}.pkl"), tensors, attrs_from_json(str(fx[f"{case}/attrs"])))
    assert mapped.network == CASES[case]["network"]
    cls = type(seeded)
    model = build_network(mapped.network, **{**cls.hparams_from_shapes({k: tuple(v.shape) for k, v in
                                                                         mapped.state.items()}), **mapped.options})
    model.load_state_dict(mapped.state)
    return model.eval()


@pytest.mark.parametrize("case", [pytest.param("stylegan3-t", marks=pytest.mark.slow),
                                  pytest.param("stylegan3-r", marks=pytest.mark.slow), "ada-conditional"])
def test_nvidia_generators_mapped_from_their_modules_match_the_reference_pixels(case, fixture, tmp_path):
    model = _from_pickle_parts(case, fixture)
    want = fixture[f"{case}/images"]
    assert np.abs(want).mean() > 0.05  # the recorded images are not blank
    got = ours_render(model, case)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOLERANCE
    # The converted .safetensors file reopens without trust and draws the same images.
    again = open_checkpoint(save_checkpoint(model, tmp_path / f"{case}.safetensors")).model
    assert np.abs(ours_render(again, case) - want).max() <= TOLERANCE


def test_swagan_matches_rosinality_pixels(fixture):
    got = ours_render(seeded_network("swagan"), "swagan")
    assert np.abs(got - fixture["swagan/images"]).max() <= TOLERANCE


def test_our_filter_design_and_geometry_are_the_references(fixture):
    """Every layer's recorded geometry and filter length is what our schedule gives (-T and -R)."""
    for case in ("stylegan3-t", "stylegan3-r"):
        hp = CASES[case]["hparams"]
        rec = attrs_from_json(str(fixture[f"{case}/attrs"]))
        inp, geos = ops.layer_geometry(hp["img_resolution"], hp["channels"], conv_kernel=hp["conv_kernel"],
                                       use_radial_filters=hp["use_radial_filters"])
        assert rec["synthesis"][1]["layer_names"] == [g.name for g in geos]
        assert rec["synthesis.input"][1]["sampling_rate"] == inp.sampling_rate
        for g in geos:
            r = rec[f"synthesis.{g.name}"][1]
            assert r["padding"] == list(g.padding) and r["down_radial"] == g.down_radial
            for key in ("in_size", "out_size"):
                assert r[key] == [getattr(g, key)] * 2
            for key in ("up_taps", "down_taps", "up_factor", "down_factor", "in_sampling_rate", "out_sampling_rate"):
                assert r[key] == getattr(g, key), (g.name, key)
            for key in ("in_cutoff", "out_cutoff", "in_half_width", "out_half_width"):
                assert r[key] == pytest.approx(getattr(g, key), rel=1e-12), (g.name, key)


def test_kaiser_and_jinc_filters_equal_scipys_design():
    scipy_signal = pytest.importorskip("scipy.signal")
    special = pytest.importorskip("scipy.special")
    for numtaps, cutoff, width, fs in ((12, 2.0, 12.0, 32), (24, 11.3, 7.1, 128), (12, 32.0, 14.8, 128)):
        want = scipy_signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        assert np.abs(ops.lowpass_filter(numtaps, cutoff, width, fs).numpy() - want).max() < 1e-7
    numtaps, cutoff, width, fs = 12, 4.5, 9.0, 64
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = special.j1(2 * cutoff * np.pi * r) / (np.pi * r)
    w = np.kaiser(numtaps, scipy_signal.kaiser_beta(scipy_signal.kaiser_atten(numtaps, width / (fs / 2))))
    f = f * np.outer(w, w)
    got = ops.lowpass_filter(numtaps, cutoff, width, fs, radial=True).numpy()
    assert got.shape == (12, 12) and np.abs(got - f / f.sum()).max() < 1e-7
    assert ops.lowpass_filter(1, 2.0, 1.0, 16) is None
