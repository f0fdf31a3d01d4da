"""Ground-truth-factor datasets: exact factor grids, geometry, on-demand rendering, file readers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.core.data import DatasetFileError, get_dataset
from latentlab.core.data.dsprites import ORIENTATIONS, POSITIONS, SCALES
from latentlab.core.data.files import DSpritesFile, Shapes3DFile


def test_dsprites_has_the_exact_factor_grid():
    d = get_dataset("dsprites")
    assert d.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert d.factor_sizes == (3, 6, 40, 32, 32)
    assert d.num_samples == 737_280
    assert np.allclose(d.factor_values(1), np.linspace(0.5, 1, 6))
    assert np.allclose(d.factor_values(2), np.linspace(0, 2 * np.pi, 40))
    assert np.allclose(d.factor_values(3), np.linspace(0, 1, 32))
    assert d.image_shape == (1, 64, 64)


def _bbox(img):
    ys, xs = np.nonzero(img)
    return xs.min(), xs.max(), ys.min(), ys.max()


@pytest.mark.parametrize("shape,w,h", [(0, 20, 20), (1, 26, 14), (2, 20, 17)])
def test_dsprites_sprite_sizes_at_scale_one(shape, w, h):
    d = get_dataset("dsprites")
    img = d.images(np.array([[shape, 5, 0, 16, 16]]))[0, 0]
    x0, x1, y0, y1 = _bbox(img)
    assert abs((x1 - x0 + 1) - w) <= 1 and abs((y1 - y0 + 1) - h) <= 1


def test_dsprites_square_scales_exactly_and_sits_at_its_reference_point():
    d = get_dataset("dsprites")
    for s in range(6):
        img = d.images(np.array([[0, s, 0, 10, 20]]))[0, 0]
        x0, x1, y0, y1 = _bbox(img)
        assert abs((x1 - x0 + 1) - 20 * SCALES[s]) <= 1
        cx, cy = (x0 + x1 + 1) / 2, (y0 + y1 + 1) / 2
        assert abs(cx - (16 + 32 * POSITIONS[10])) <= 0.6
        assert abs(cy - (16 + 32 * POSITIONS[20])) <= 0.6


def test_dsprites_images_are_binary_and_never_leave_the_canvas():
    d = get_dataset("dsprites")
    rng = np.random.default_rng(0)
    f = d.sample_factors(2000, rng)
    f[:, 3] = rng.choice([0, 31], size=2000)  # push sprites to the edges
    f[:, 1] = 5
    imgs = d.images(f)
    assert set(np.unique(imgs)) <= {0.0, 1.0}
    areas = imgs.sum(axis=(1, 2, 3))
    assert (areas > 0).all()
    # A sprite that reached past the canvas would fill its outermost rows or columns.
    border = imgs[:, 0, [0, -1], :].sum() + imgs[:, 0, :, [0, -1]].sum()
    assert border == 0
    centred = f.copy()
    centred[:, 3:] = 16
    assert np.allclose(areas, d.images(centred).sum(axis=(1, 2, 3)), rtol=0.1)


def test_dsprites_first_and_last_orientation_give_the_same_image():
    d = get_dataset("dsprites")
    a = d.images(np.array([[2, 3, 0, 5, 9]]))
    b = d.images(np.array([[2, 3, 39, 5, 9]]))
    assert np.array_equal(a, b)
    assert ORIENTATIONS[-1] == pytest.approx(2 * np.pi)


def test_dsprites_orientation_rotates_about_the_reference_point():
    d = get_dataset("dsprites")
    base = d.images(np.array([[1, 5, 0, 16, 16]]))[0, 0]
    quarter = d.images(np.array([[1, 5, 10, 16, 16]]))[0, 0]  # 10/39 of a turn, about 92 degrees
    x0, x1, y0, y1 = _bbox(quarter)
    assert (y1 - y0) > (x1 - x0)  # the ellipse now stands upright
    assert abs(base.sum() - quarter.sum()) < 0.05 * base.sum()


def test_index_and_factors_round_trip():
    for name in ("dsprites", "shapes3d", "xyobject"):
        d = get_dataset(name)
        idx = np.random.default_rng(1).integers(0, d.num_samples, 500)
        f = d.index_to_factors(idx)
        assert np.array_equal(d.factors_to_index(f), idx)
        assert np.array_equal(d.images_at(idx[:4]), d.images(f[:4]))
    d = get_dataset("dsprites")
    assert d.index_to_factors(1).tolist() == [[0, 0, 0, 0, 1]]  # posY varies fastest


def test_sampling_is_seeded_and_uniform_per_factor():
    d = get_dataset("dsprites")
    a = d.sample_factors(30000, 7)
    assert np.array_equal(a, d.sample_factors(30000, 7))
    counts = np.bincount(a[:, 0], minlength=3) / len(a)
    assert np.allclose(counts, 1 / 3, atol=0.02)


def test_invalid_factors_are_clear_errors():
    d = get_dataset("dsprites")
    with pytest.raises(ValueError, match="out of range"):
        d.images(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="shape"):
        d.images(np.zeros((2, 4), dtype=int))
    with pytest.raises(IndexError):
        d.index_to_factors(737_280)


def test_shapes3d_grid_and_every_factor_changes_the_image():
    d = get_dataset("shapes3d")
    assert d.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert d.factor_sizes == (10, 10, 10, 8, 4, 15)
    assert d.num_samples == 480_000
    assert np.allclose(d.factor_values(0), np.arange(10) / 10)
    assert np.allclose(d.factor_values(3), np.linspace(0.75, 1.25, 8))
    assert np.allclose(d.factor_values(5), np.linspace(-30, 30, 15))
    base = np.array([[1, 4, 7, 3, 1, 7]])
    ref = d.images(base)
    assert ref.shape == (1, 3, 64, 64) and 0 <= ref.min() and ref.max() <= 1
    for k in range(6):
        other = base.copy()
        other[0, k] = (other[0, k] + 2) % d.factor_sizes[k]
        changed = np.abs(d.images(other) - ref).max(axis=1) > 0.05
        assert changed.sum() > 20, f"factor {d.factor_names[k]} barely changes the image"


def test_shapes3d_scene_layout_floor_below_walls_and_sky_above():
    d = get_dataset("shapes3d")
    img = d.images(np.array([[0, 3, 6, 0, 2, 7]]))[0]  # red floor, green walls
    bottom, middle = img[:, -4:, :].mean(axis=(1, 2)), img[:, 20, :8].mean(axis=1)
    assert bottom[0] > 0.5 and bottom[1] < 0.2  # floor red
    assert middle[1] > middle[0]  # wall greenish
    floor_rows = [r for r in range(64) if img[0, r, 2] > 0.4 and img[1, r, 2] < 0.2]
    assert 0.3 <= len(floor_rows) / 64 <= 0.55


def test_xyobject():
    d = get_dataset("xyobject")
    assert d.factor_names == ("x", "y", "scale", "colour")
    imgs, f = d.sample(50, 0)
    assert imgs.shape == (50, 3, 64, 64)
    assert (imgs.reshape(50, -1).max(1) > 0.5).all()


def test_torch_dataset_renders_batches():
    d = get_dataset("dsprites")
    tds = d.torch_dataset(np.arange(100, 200))
    assert len(tds) == 100
    loader = torch.utils.data.DataLoader(tds, batch_size=16, shuffle=False)
    x, f = next(iter(loader))
    assert x.shape == (16, 1, 64, 64) and f.shape == (16, 5)
    assert torch.equal(f, torch.from_numpy(d.index_to_factors(np.arange(100, 116))))


def test_rendering_never_materialises_the_whole_grid(monkeypatch):
    d = get_dataset("dsprites")
    seen = []
    original = type(d)._render_chunk

    def spy(self, f, canvas):
        seen.append(len(f))
        return original(self, f, canvas)

    monkeypatch.setattr(type(d), "_render_chunk", spy)
    d.images_at([0, 737_279])
    assert sum(seen) == 2


# --- readers of the original files, tested on tiny files in the same layout -------------------------------

def _tiny_dsprites_file(path, sizes=(3, 2, 2, 2, 2)):
    d = get_dataset("dsprites")
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 5)
    classes = np.concatenate([np.zeros((len(grid), 1), int), grid], 1)
    values = np.concatenate([np.ones((len(grid), 1)), grid[:, :1] + 1.0,
                             np.stack([d.factor_values(k)[grid[:, k]] for k in range(1, 5)], 1)], 1)
    imgs = (d.images(grid)[:, 0] > 0).astype(np.uint8)
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=values)
    return grid, imgs


def test_dsprites_npz_reader(tmp_path):
    path = tmp_path / "dsprites_ndarray_tiny.npz"
    grid, imgs = _tiny_dsprites_file(path)
    d = get_dataset(str(path))
    assert isinstance(d, DSpritesFile)
    assert d.factor_sizes == (3, 2, 2, 2, 2)
    assert np.array_equal(d.images(grid[5:9])[:, 0], imgs[5:9].astype(np.float32))
    f = d.sample_factors(4, 0)
    assert d.images(f).shape == (4, 1, 64, 64)


def test_dsprites_reader_rejects_other_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, foo=np.zeros(3))
    with pytest.raises(DatasetFileError, match="missing array"):
        DSpritesFile(path)


def test_dsprites_reader_rejects_shuffled_rows(tmp_path):
    path = tmp_path / "shuffled.npz"
    grid, imgs = _tiny_dsprites_file(path)
    with np.load(path) as z:
        data = dict(z)
    perm = np.random.default_rng(0).permutation(len(grid))
    np.savez(path, **{k: v[perm] for k, v in data.items()})
    with pytest.raises(DatasetFileError, match="order"):
        DSpritesFile(path)


def test_shapes3d_h5_reader(tmp_path):
    import h5py

    sizes = (2, 2, 2, 2, 2, 3)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 6)
    values = grid.astype(float) / 10
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(len(grid), 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as fh:
        fh["images"] = images
        fh["labels"] = values
    d = get_dataset(str(path))
    assert isinstance(d, Shapes3DFile)
    assert d.factor_sizes == sizes
    sel = grid[[7, 3, 7, 40]]
    out = d.images(sel)
    assert out.shape == (4, 3, 64, 64)
    assert np.allclose(out[0], images[7].transpose(2, 0, 1) / 255.0)
    assert np.allclose(out[3], images[40].transpose(2, 0, 1) / 255.0)


def test_unknown_dataset_name():
    with pytest.raises(DatasetFileError, match="unknown dataset"):
        get_dataset("mnist-but-not-really")


def test_descriptions_name_categorical_classes_and_show_values():
    ds = get_dataset("dsprites")
    (text,) = ds.describe(np.array([[2, 5, 0, 31, 0]]))
    assert text == "shape=heart, scale=1, orientation=0, posX=1, posY=0"
    (scene,) = get_dataset("shapes3d").describe(np.array([[0, 0, 0, 0, 3, 7]]))
    assert "shape=capsule" in scene and "orientation=0" in scene
