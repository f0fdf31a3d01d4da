"""Latent codes made by other tools (NVIDIA's projector, e4e / pSp, InterFaceGAN) read back as bookmarks."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from latentlab.core.errors import BadInput, FileError
from latentlab.core.latent_codes import MAX_CODES, LatentCode, load_latent_codes

STYLEGAN = {"z_dim": 512, "w_dim": 512, "num_ws": 18}  # FFHQ 1024: z and w both 512 values
SMALL = {"z_dim": 6, "w_dim": 8, "num_ws": 4}  # z and w of different sizes: the shape alone decides


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


class _Touch:
    """Unpickled by an ordinary loader, this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _summary(codes: list[LatentCode]) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(c.name, c.space, c.vector.shape) for c in codes]


# --- the formats researchers publish -------------------------------------------------------------------------

def test_projector_npz_is_one_w_plus_code_with_the_values_flattened_row_major(tmp_path):
    ws = _rand(1, 18, 512)
    path = tmp_path / "projected_w.npz"
    np.savez(path, w=ws)  # what stylegan2-ada / stylegan3 projector.py writes
    (code,) = load_latent_codes(path, **STYLEGAN)
    assert (code.name, code.space) == ("projected_w", "w+")
    assert code.vector.dtype == np.float32 and np.array_equal(code.vector, ws.reshape(-1))
    assert np.array_equal(code.vector.reshape(18, 512)[3], ws[0, 3])


def test_e4e_latents_pt_dict_gives_one_code_per_image_named_by_the_file_and_image(tmp_path):
    a, b = _rand(18, 512, seed=1), _rand(1, 18, 512, seed=2)
    path = tmp_path / "latents.pt"
    torch.save({"00012.jpg": torch.from_numpy(a), "00013.jpg": torch.from_numpy(b)}, path)
    codes = load_latent_codes(path, **STYLEGAN)
    assert _summary(codes) == [("latents.pt: 00012.jpg", "w+", (9216,)), ("latents.pt: 00013.jpg", "w+", (9216,))]
    assert np.array_equal(codes[0].vector, a.reshape(-1)) and np.array_equal(codes[1].vector, b.reshape(-1))


def test_a_bare_tensor_of_several_codes_is_numbered(tmp_path):
    ws = _rand(3, 18, 512)
    path = tmp_path / "latents.pth"
    torch.save(torch.from_numpy(ws).double(), path)
    codes = load_latent_codes(path, **STYLEGAN)
    assert [c.name for c in codes] == ["latents #1", "latents #2", "latents #3"]
    assert all(c.space == "w+" and c.vector.dtype == np.float32 for c in codes)
    assert np.allclose(codes[2].vector, ws[2].reshape(-1))


def test_an_npz_of_several_arrays_names_codes_by_key(tmp_path):
    path = tmp_path / "codes.npz"
    np.savez(path, w=_rand(2, 512), wp=_rand(18, 512, seed=1))  # InterFaceGAN's names for W and W+
    codes = load_latent_codes(path, **STYLEGAN)
    assert _summary(codes) == [("codes.npz: w #1", "w", (512,)), ("codes.npz: w #2", "w", (512,)),
                               ("codes.npz: wp", "w+", (9216,))]


def test_sizes_decide_the_space_when_z_and_w_differ(tmp_path):
    cases = {"a.npy": (_rand(6), "z", 1), "b.npy": (_rand(5, 8), "w", 5), "c.npy": (_rand(4, 8), "w+", 1),
             "d.npy": (_rand(2, 32), "w+", 2), "e.npy": (_rand(7, 4, 8), "w+", 7)}
    for name, (array, space, count) in cases.items():
        np.save(tmp_path / name, array)
        codes = load_latent_codes(tmp_path / name, **SMALL)
        assert [c.space for c in codes] == [space] * count, name
        assert np.array_equal(np.stack([c.vector for c in codes]).reshape(-1), array.reshape(-1))


def test_a_num_ws_by_w_dim_array_is_several_w_codes_when_the_caller_says_w(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, _rand(4, 8))
    codes = load_latent_codes(path, **SMALL, space="w")
    assert [(c.space, c.vector.shape) for c in codes] == [("w", (8,))] * 4


def test_a_model_with_one_latent_space_takes_its_size_as_z(tmp_path):
    path = tmp_path / "points.npy"
    np.save(path, _rand(3, 10))
    codes = load_latent_codes(path, z_dim=10)
    assert [c.space for c in codes] == ["z"] * 3


def test_codes_are_read_only(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, _rand(6))
    (code,) = load_latent_codes(path, **SMALL)
    with pytest.raises(ValueError):
        code.vector[0] = 1.0


# --- z or w when both are 512 ----------------------------------------------------------------------------------

def test_512_values_are_ambiguous_without_a_name_or_a_space(tmp_path):
    path = tmp_path / "codes.npy"
    np.save(path, _rand(2, 512))
    with pytest.raises(BadInput, match=r"codes\.npy.*give the space \(z or w\)"):
        load_latent_codes(path, **STYLEGAN)
    assert [c.space for c in load_latent_codes(path, **STYLEGAN, space="z")] == ["z", "z"]
    assert [c.space for c in load_latent_codes(path, **STYLEGAN, space="w")] == ["w", "w"]


def test_the_file_or_key_name_settles_z_or_w(tmp_path):
    for stem, space in (("w", "w"), ("ws", "w"), ("projected_w", "w"), ("dlatents", "w"), ("z", "z")):
        np.save(tmp_path / f"{stem}.npy", _rand(1, 512))
        assert [c.space for c in load_latent_codes(tmp_path / f"{stem}.npy", **STYLEGAN)] == [space], stem
    np.savez(tmp_path / "seeds.npz", z=_rand(2, 512))
    assert {c.space for c in load_latent_codes(tmp_path / "seeds.npz", **STYLEGAN)} == {"z"}


def test_a_space_that_does_not_fit_names_the_shapes_it_takes(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, _rand(3, 512))
    with pytest.raises(BadInput, match=r"shape \(3, 512\).*w\+ takes \(N, 18, 512\) or \(N, 9216\)"):
        load_latent_codes(path, **STYLEGAN, space="w+")
    with pytest.raises(BadInput, match="not one of this model's"):
        load_latent_codes(path, z_dim=512, space="w")


# --- refusals ------------------------------------------------------------------------------------------------------

def test_a_wrong_shape_names_the_shape_found_and_those_accepted(tmp_path):
    path = tmp_path / "bad.npy"
    np.save(path, _rand(3, 7))
    with pytest.raises(BadInput) as info:
        load_latent_codes(path, **STYLEGAN)
    message = str(info.value)
    assert "(3, 7)" in message and "(N, 512) for z or w" in message and "(N, 18, 512)" in message
    assert "\n" not in message


def test_nan_or_inf_is_refused(tmp_path):
    for name, bad in (("nan.npy", np.nan), ("inf.npy", np.inf)):
        array = _rand(2, 6)
        array[1, 3] = bad
        np.save(tmp_path / name, array)
        with pytest.raises(BadInput, match="NaN or infinite"):
            load_latent_codes(tmp_path / name, **SMALL)
    torch.save({"x": torch.full((6,), float("nan"))}, tmp_path / "nan.pt")
    with pytest.raises(BadInput, match=r"nan\.pt: x.*NaN"):
        load_latent_codes(tmp_path / "nan.pt", **SMALL)


def test_an_object_array_npz_is_refused_and_its_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "codes.npz"
    np.savez(path, w=np.array([_Touch(marker)], dtype=object))
    with pytest.raises(FileError, match="dtype object"):
        load_latent_codes(path, **STYLEGAN)
    assert not marker.exists()


def test_a_hostile_pt_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "ran"
    zipped = tmp_path / "latents.pt"
    torch.save({"00001.jpg": torch.zeros(18, 512), "payload": _Touch(marker)}, zipped)
    bare = tmp_path / "latents.pth"
    with open(bare, "wb") as fh:
        pickle.dump(_Touch(marker), fh)
    for path in (zipped, bare):
        with pytest.raises(FileError, match=r"names Python code \(posix\.system\).*ran none of it"):
            load_latent_codes(path, **STYLEGAN)
    assert not marker.exists()


def test_missing_corrupt_and_unknown_files_are_file_errors(tmp_path):
    with pytest.raises(FileError, match="no such file"):
        load_latent_codes(tmp_path / "nowhere.pt", **STYLEGAN)
    for name in ("garbage.npz", "garbage.npy", "garbage.pt"):
        (tmp_path / name).write_bytes(b"this is not what the name says" * 10)
        with pytest.raises(FileError):
            load_latent_codes(tmp_path / name, **STYLEGAN)
    (tmp_path / "codes.txt").write_text("0.1 0.2")
    with pytest.raises(FileError, match=r"\.npy, \.npz, \.pt, \.pth"):
        load_latent_codes(tmp_path / "codes.txt", **STYLEGAN)


def test_a_pt_holding_no_tensors_is_refused(tmp_path):
    torch.save({"note": "hello"}, tmp_path / "a.pt")
    with pytest.raises(BadInput, match="a.pt: note: holds a str, not a tensor"):
        load_latent_codes(tmp_path / "a.pt", **STYLEGAN)


def test_too_many_codes_are_refused(tmp_path):
    path = tmp_path / "many.npy"
    np.save(path, np.zeros((MAX_CODES + 1, 6), np.float32))
    with pytest.raises(BadInput, match="more than 10,000 codes"):
        load_latent_codes(path, **SMALL)
    np.save(path, np.zeros((MAX_CODES, 6), np.float32))
    assert len(load_latent_codes(path, **SMALL)) == MAX_CODES


def test_names_from_the_file_are_escaped_before_they_are_shown(tmp_path):
    path = tmp_path / "codes.npz"
    np.savez(path, **{"red\x1b[31m": _rand(6), "z": _rand(6, seed=1)})
    names = [c.name for c in load_latent_codes(path, **SMALL)]
    assert names == ["codes.npz: red\\x1b[31m", "codes.npz: z"]


def test_a_file_that_cannot_say_its_space_is_read_in_the_space_being_edited(tmp_path):
    from latentlab.core.errors import AmbiguousSpace
    from latentlab.core.latent_codes import read_in_space

    np.save(tmp_path / "codes.npy", np.ones((2, 512), np.float32))
    read = lambda **space: load_latent_codes(tmp_path / "codes.npy", z_dim=512, w_dim=512, num_ws=18, **space)  # noqa: E731
    with pytest.raises(AmbiguousSpace):
        read()
    codes, guess = read_in_space(read, "w+")
    assert guess == "w" and {c.space for c in codes} == {"w"}
    codes, guess = read_in_space(read, "z")
    assert guess == "z" and {c.space for c in codes} == {"z"}
    with pytest.raises(AmbiguousSpace):
        read_in_space(read, None)  # a model with one space has nothing to guess from
