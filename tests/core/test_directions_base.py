"""Direction objects, sets, orthogonalisation, conditional projection and direction files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from latentlab.core.directions import (
    Direction,
    DirectionFileError,
    DirectionSet,
    LabeledLatents,
    load_directions,
    orthogonalised,
    orthonormalise,
    project_out,
    read_header,
    save_directions,
)
from latentlab.core.directions.gradctrl import gradctrl_directions


class Rotating:
    """A field that circles the origin: the unit tangent (-y, x) / r in the first two dimensions."""

    latent_dim = 3
    step = 0.01

    def __call__(self, z):
        t = np.stack([-z[:, 1], z[:, 0], np.zeros(len(z))], 1)
        return (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)


def test_vector_direction_is_unit_and_applies_linearly():
    d = Direction("a", "test", {"x": np.float32(1.5), "arr": np.arange(2)}, vector=np.array([3.0, 4.0, 0.0]))
    assert np.allclose(d.vector, [0.6, 0.8, 0.0]) and d.vector.dtype == np.float32
    assert d.params == {"x": 1.5, "arr": [0, 1]}  # plain JSON types
    z = np.ones((2, 3), np.float32)
    assert np.allclose(d.apply(z, 5.0), z + [3.0, 4.0, 0.0])
    assert np.allclose(d.sweep(z[0], [-1, 0, 2]), [[0.4, 0.2, 1], [1, 1, 1], [2.2, 2.6, 1]])
    with pytest.raises(ValueError, match="zero vector"):
        Direction("z", "test", vector=np.zeros(3))
    with pytest.raises(ValueError, match="3-dimensional"):
        d.apply(np.zeros(4), 1.0)


def test_field_alpha_is_path_length():
    d = Direction("rot", "test", field=Rotating())
    z0 = np.array([1.0, 0.0, 0.5], np.float32)
    end = d.apply(z0, np.pi / 2)  # a quarter of the unit circle
    assert np.allclose(end, [0.0, 1.0, 0.5], atol=2e-3)
    back = d.apply(z0, -np.pi / 2)
    assert np.allclose(back, [0.0, -1.0, 0.5], atol=2e-3)
    # A sweep integrates each side once and agrees with separate applications.
    alphas = [-1.0, -0.3, 0.0, 0.5, 1.2]
    sweep = d.sweep(z0, alphas)
    for a, row in zip(alphas, sweep, strict=True):
        assert np.allclose(row, d.apply(z0, a), atol=1e-4)


def test_set_applies_several_directions_and_builds_grids():
    s = DirectionSet(3, [Direction("x", "t", vector=[1, 0, 0]), Direction("y", "t", vector=[0, 1, 0])])
    z = np.zeros(3, np.float32)
    assert np.allclose(s.apply(z, {"x": 1.0, "y": -2.0}), [1, -2, 0])
    assert np.allclose(s.apply(z, [0.5, 0.5]), [0.5, 0.5, 0])
    with pytest.raises(KeyError):
        s.apply(z, {"nope": 1.0})
    grid = s.grid(z, steps=5, span=2.0)
    assert grid.shape == (2, 5, 3) and np.allclose(grid[1, :, 1], [-2, -1, 0, 1, 2])
    s.add(Direction("x", "t", vector=[0, 0, 1]))
    assert s.names == ["x", "y", "x#2"]
    with pytest.raises(ValueError, match="4 dimensions"):
        s.add(Direction("w", "t", vector=[1, 0, 0, 0]))
    assert s.check_model(3, "aa") == [] and pytest.raises(ValueError, s.check_model, 4)


def test_orthonormalise_qr_and_symmetric():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((4, 6))
    for method in ("qr", "symmetric"):
        q = orthonormalise(v, method).astype(np.float64)
        assert np.allclose(q @ q.T, np.eye(4), atol=1e-6)
        assert (np.sum(q * v, 1) > 0).all()  # each keeps the sense of its input
    q = orthonormalise(v, "qr")
    assert np.allclose(q[0], v[0] / np.linalg.norm(v[0]), atol=1e-6)  # QR keeps the first direction
    with pytest.raises(ValueError, match="linearly dependent"):
        orthonormalise(np.stack([v[0], 2 * v[0]]))
    with pytest.raises(ValueError, match="cannot have 7"):
        orthonormalise(rng.standard_normal((7, 6)))
    ds = orthogonalised([Direction(f"d{i}", "t", vector=v[i]) for i in range(4)])
    m = np.stack([d.vector for d in ds]).astype(np.float64)
    assert np.allclose(m @ m.T, np.eye(4), atol=1e-6) and ds[0].params["orthogonalised"] == "qr"


def test_project_out_is_orthogonal_to_every_protected_direction():
    rng = np.random.default_rng(1)
    v, p = rng.standard_normal(8), rng.standard_normal((3, 8))
    r = project_out(v, p)
    assert abs(np.linalg.norm(r) - 1) < 1e-6
    assert np.abs(p @ r).max() < 1e-5
    assert float(r @ v) > 0
    with pytest.raises(ValueError, match="span"):
        project_out(p[0] + p[1], p)


def _gradctrl_direction():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 4)).astype(np.float32)
    target = LabeledLatents("t", z, (z[:, 1] > 0).astype(int), ("lo", "hi"))
    other = LabeledLatents("o", z, (z[:, 0] > 0).astype(int), ("lo", "hi"))
    return gradctrl_directions(target, [other], top_k=1, steps=30, hidden=(16,), seed=0)[0]


def test_save_load_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(2)
    vec = Direction("posX", "interfacegan", {"accuracy": 0.97, "classes": ["a", "b"], "protected": ["scale"]},
                    vector=rng.standard_normal(4))
    fld = _gradctrl_direction()
    s = DirectionSet(4, [vec, fld], source_sha256="ab" * 32, source_name="m", meta={"method": "mixed"})
    path = save_directions(s, tmp_path / "d.safetensors")
    back = load_directions(path)
    assert back.names == s.names and back.source_sha256 == s.source_sha256 and back.meta == s.meta
    for a, b in zip(s, back, strict=True):
        assert a.method == b.method and a.params == b.params and a.kind == b.kind
    assert np.array_equal(back[0].vector, vec.vector)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    assert np.array_equal(back[1].apply(z, 0.7), fld.apply(z, 0.7))
    assert read_header(path)["directions"][1]["field"]["type"] == "gradctrl"
    again = load_directions(save_directions(back, tmp_path / "e.safetensors"))
    assert np.array_equal(again[1].at(z), fld.at(z))


def test_unsavable_field_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="cannot be saved"):
        save_directions(DirectionSet(3, [Direction("rot", "t", field=Rotating())]), tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()  # nothing half-written
    with pytest.raises(DirectionFileError, match="no such file"):
        load_directions(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(DirectionFileError, match="not a .safetensors"):
        load_directions(junk)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(DirectionFileError, match="without a directions header"):
        load_directions(plain)


def _rewrite(path, out, edit):
    from safetensors.torch import load_file, save_file

    from latentlab.core.directions.io import HEADER_KEY

    header = read_header(path)
    tensors = load_file(str(path))
    edit(header, tensors)
    save_file(tensors, str(out), metadata={HEADER_KEY: json.dumps(header)})
    return out


def test_tampered_files_are_refused(tmp_path):
    s = DirectionSet(3, [Direction("a", "t", vector=[1, 2, 2])])
    path = save_directions(s, tmp_path / "ok.safetensors")

    def not_unit(h, t):
        t["d0.vector"] = t["d0.vector"] * 3

    def wrong_shape(h, t):
        t["d0.vector"] = torch.ones(4) / 2

    def future(h, t):
        h["format_version"] = 99

    def code_field(h, t):
        h["directions"][0]["kind"] = "field"
        h["directions"][0]["field"] = {"type": "os.system"}

    for edit, msg in ((not_unit, "unit vector"), (wrong_shape, "wrong shape"), (future, "newer"),
                      (code_field, "unknown field type")):
        bad = _rewrite(path, tmp_path / f"{edit.__name__}.safetensors", edit)
        with pytest.raises(DirectionFileError, match=msg):
            load_directions(bad)
    truncated = tmp_path / "trunc.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    truncated.write_bytes(data[: 8 + n + 2])
    with pytest.raises(DirectionFileError):
        load_directions(truncated)
