"""Published direction files (InterFaceGAN, GANSpace, plain matrices) imported, saved as ours and loaded back."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from latentlab.core.directions import load_directions, save_directions
from latentlab.core.directions.imports import import_directions
from latentlab.core.errors import BadInput, FileError

STYLEGAN = {"z_dim": 512, "w_dim": 512, "num_ws": 18}
SMALL = {"z_dim": 6, "w_dim": 8, "num_ws": 4}  # z, w and w+ (32) of different sizes


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64).reshape(-1)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _ganspace_cache(path, k: int, dim: int, stdev: np.ndarray) -> np.ndarray:
    """A component cache with every array GANSpace's decomposition.py writes (act_* of a 3x4x4 layer)."""
    comp = _rand(k, 1, dim, seed=3)
    comp /= np.linalg.norm(comp, axis=-1, keepdims=True)
    np.savez_compressed(path, act_comp=_rand(k, 3, 4, 4), act_mean=_rand(3, 4, 4), act_stdev=np.ones(k, np.float32),
                        lat_comp=comp, lat_mean=_rand(1, dim), lat_stdev=stdev.astype(np.float32),
                        var_ratio=np.linspace(0.3, 0.1, k).astype(np.float32), random_stdevs=np.ones(k, np.float32))
    return comp


class _Touch:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --- InterFaceGAN ----------------------------------------------------------------------------------------------

def test_interfacegan_w_boundary_is_one_unit_direction_named_by_its_attribute(tmp_path):
    boundary = _rand(1, 512) * 3
    path = tmp_path / "stylegan_ffhq_smile_w_boundary.npy"
    np.save(path, boundary)
    ds = import_directions(path, **STYLEGAN)
    assert ds.latent_dim == 512 and ds.names == ["smile"]
    d = ds["smile"]
    assert d.method == "interfacegan" and d.params["space"] == "w"
    assert np.allclose(d.vector, _unit(boundary), atol=1e-6)
    assert d.params["original_norm"] == pytest.approx(float(np.linalg.norm(boundary)), rel=1e-5)


def test_released_boundaries_without_a_marker_are_z_and_conditions_are_named(tmp_path):
    for stem, name in (("stylegan_ffhq_age_boundary", "age"),
                       ("pggan_celebahq_age_c_gender_eyeglasses_boundary", "age (conditioned on gender, eyeglasses)")):
        np.save(tmp_path / f"{stem}.npy", _rand(1, 512))
        (d,) = import_directions(tmp_path / f"{stem}.npy", **STYLEGAN)
        assert (d.name, d.params["space"]) == (name, "z")


def test_a_bare_boundary_of_512_values_needs_the_space(tmp_path):
    path = tmp_path / "boundary.npy"  # train_boundary.py's own output: nothing says which space it was
    np.save(path, _rand(1, 512))
    with pytest.raises(BadInput, match=r"give the space \(z or w\)"):
        import_directions(path, **STYLEGAN)
    assert import_directions(path, **STYLEGAN, space="w")[0].params["space"] == "w"


def test_a_wp_boundary_is_w_plus_by_its_size(tmp_path):
    path = tmp_path / "stylegan_ffhq_pose_wp_boundary.npy"
    np.save(path, _rand(1, 18 * 512))
    ds = import_directions(path, **STYLEGAN)
    assert ds.latent_dim == 9216 and ds[0].name == "pose" and ds[0].params["space"] == "w+"


# --- GANSpace ------------------------------------------------------------------------------------------------

def test_ganspace_w_cache_gives_principal_components_with_their_stdev(tmp_path):
    path = tmp_path / "stylegan2-ffhq_style_ipca_c80_n1000000_w.npz"
    stdev = np.array([4.0, 3.0, 2.5, 1.0])
    comp = _ganspace_cache(path, 4, 512, stdev)
    ds = import_directions(path, **STYLEGAN)
    assert ds.names == ["PC0", "PC1", "PC2", "PC3"] and ds.meta["space"] == "w"
    assert all(d.method == "ganspace" and d.params["space"] == "w" for d in ds)
    assert [d.params["stdev"] for d in ds] == [4.0, 3.0, 2.5, 1.0]
    assert ds["PC2"].params["var_ratio"] == pytest.approx(np.linspace(0.3, 0.1, 4)[2])
    assert np.allclose(ds["PC1"].vector, comp[1, 0], atol=1e-6)


def test_ganspace_cache_without_the_w_suffix_is_z(tmp_path):
    path = tmp_path / "stylegan2-ffhq_style_ipca_c80_n1000000.npz"
    _ganspace_cache(path, 3, 512, np.ones(3))
    assert {d.params["space"] for d in import_directions(path, **STYLEGAN)} == {"z"}


def test_ganspace_direction_export_keeps_its_layer_range_and_stdev(tmp_path):
    path = tmp_path / "stylegan2-ffhq-lipstick-comp7-range6-9.pkl"
    comp = _rand(1, 512, seed=5)
    params = {"name": "lipstick", "lat_comp": comp, "lat_stdev": 2.5, "latent_space": "W", "edit_start": 6,
              "edit_end": 9, "edit_type": "latent", "decomposition": {"name": "ipca", "components": 80}}
    with open(path, "wb") as fh:
        pickle.dump(params, fh)  # what GANSpace's interactive.py writes when a direction is named
    (d,) = import_directions(path, **STYLEGAN)
    assert (d.name, d.method) == ("lipstick", "ganspace")
    assert d.params["space"] == "w" and d.params["layers"] == [6, 9] and d.params["stdev"] == 2.5
    assert np.allclose(d.vector, _unit(comp), atol=1e-6)
    with open(path, "wb") as fh:
        pickle.dump({**params, "edit_end": 19}, fh)
    with pytest.raises(BadInput, match=r"\[6, 19\) reaches past this model's 18 ws"):
        import_directions(path, **STYLEGAN)


# --- plain matrices ------------------------------------------------------------------------------------------------

def test_a_plain_matrix_is_numbered_directions_in_the_space_its_size_says(tmp_path):
    for name, array, space in (("m.npy", _rand(3, 6), "z"), ("n.npy", _rand(2, 8), "w"),
                               ("o.npy", _rand(2, 4, 8), "w+"), ("p.npy", _rand(5, 32), "w+")):
        np.save(tmp_path / name, array)
        ds = import_directions(tmp_path / name, **SMALL)
        stem = name[:-4]
        assert ds.names == [f"{stem} #{i + 1}" for i in range(len(array))], name
        assert ds.meta["space"] == space and all(d.method == "imported" for d in ds)
        assert np.allclose(ds.vectors(), [_unit(r) for r in array.reshape(len(array), -1)], atol=1e-6)


def test_a_pt_dict_of_named_vectors(tmp_path):
    path = tmp_path / "edits.pt"
    torch.save({"age": torch.randn(8), "glasses": torch.randn(8).double()}, path)
    ds = import_directions(path, **SMALL)
    assert ds.names == ["age", "glasses"] and ds.latent_dim == 8 and ds.meta["space"] == "w"


def test_a_model_with_one_space_gives_its_latent_dim(tmp_path):
    path = tmp_path / "dirs.npy"
    np.save(path, _rand(2, 10))
    ds = import_directions(path, latent_dim=10)
    assert ds.latent_dim == 10 and {d.params["space"] for d in ds} == {"z"}
    with pytest.raises(BadInput, match="not both"):
        import_directions(path, latent_dim=10, **SMALL)
    with pytest.raises(BadInput, match="latent_dim"):
        import_directions(path)


# --- saved as ours and loaded back ------------------------------------------------------------------------------

def test_imported_sets_save_and_load_back_with_their_params(tmp_path):
    cache = tmp_path / "stylegan2-ffhq_style_ipca_c80_n1000000_w.npz"
    _ganspace_cache(cache, 5, 512, np.arange(1.0, 6.0))
    wplus = tmp_path / "wplus.pt"
    torch.save(torch.randn(3, 4, 8), wplus)
    for source, dims in ((cache, STYLEGAN), (wplus, SMALL)):
        ds = import_directions(source, **dims)
        back = load_directions(save_directions(ds, tmp_path / "saved.safetensors"))
        assert back.latent_dim == ds.latent_dim and back.names == ds.names and back.meta == ds.meta
        for a, b in zip(ds, back, strict=True):
            assert a.method == b.method and a.params == b.params and np.array_equal(a.vector, b.vector)


# --- refusals ------------------------------------------------------------------------------------------------------

def test_zero_vectors_and_nan_are_refused(tmp_path):
    zero = np.zeros((2, 8), np.float32)
    zero[0, 1] = 1.0
    np.save(tmp_path / "zero.npy", zero)
    with pytest.raises(BadInput, match=r"'zero #2' is the zero vector"):
        import_directions(tmp_path / "zero.npy", **SMALL)
    nan = _rand(1, 8)
    nan[0, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(BadInput, match="NaN"):
        import_directions(tmp_path / "nan.npy", **SMALL)


def test_a_wrong_shape_names_the_shape_and_what_the_model_takes(tmp_path):
    np.save(tmp_path / "bad.npy", _rand(2, 7))
    with pytest.raises(BadInput, match=r"bad\.npy: holds an array of shape \(2, 7\); this model takes \(N, 6\) for z"):
        import_directions(tmp_path / "bad.npy", **SMALL)


def test_directions_of_several_spaces_in_one_file_are_refused(tmp_path):
    torch.save({"a": torch.randn(6), "b": torch.randn(8)}, tmp_path / "mixed.pt")
    with pytest.raises(BadInput, match=r"several spaces \(w, z\)"):
        import_directions(tmp_path / "mixed.pt", **SMALL)


def test_hostile_files_are_refused_without_running_anything(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"smile": torch.randn(512), "payload": _Touch(marker)}, tmp_path / "dirs.pt")
    with open(tmp_path / "export.pkl", "wb") as fh:
        pickle.dump({"lat_comp": np.ones((1, 512), np.float32), "payload": _Touch(marker)}, fh)
    for name in ("dirs.pt", "export.pkl"):
        with pytest.raises(FileError, match=r"names Python code \(posix\.system\).*ran none of it"):
            import_directions(tmp_path / name, **STYLEGAN)
    np.savez(tmp_path / "objects.npz", lat_comp=np.array([_Touch(marker)], dtype=object))
    with pytest.raises(FileError, match="dtype object"):
        import_directions(tmp_path / "objects.npz", **STYLEGAN)
    assert not marker.exists()


def test_missing_and_unknown_files_are_file_errors(tmp_path):
    with pytest.raises(FileError, match="no such file"):
        import_directions(tmp_path / "nowhere_boundary.npy", **STYLEGAN)
    (tmp_path / "dirs.json").write_text("{}")
    with pytest.raises(FileError, match=r"\.npy, \.npz, \.pt, \.pth, \.pkl"):
        import_directions(tmp_path / "dirs.json", **STYLEGAN)
