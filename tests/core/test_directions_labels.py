"""Label sources: dataset factors, user CSV files (good and bad), tagged samples."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.core.data import get_dataset
from latentlab.core.directions import LabelError, csv_labels, factor_labels, read_label_csv, tagged_labels
from latentlab.core.directions.find import FindOptions, find_directions
from tests.helpers import tiny_model


def test_factor_labels_binary_at_median_threshold_and_classes():
    ds = get_dataset("dsprites")
    f = ds.sample_factors(300, np.random.default_rng(0))
    z = np.random.default_rng(1).standard_normal((300, 3)).astype(np.float32)
    lab = factor_labels(z, f, ds, "posX")  # ordinal: binary at the median by default
    assert lab.classes == ("posX<=0.5", "posX>0.5") and lab.params["threshold"] == 0.5
    assert np.array_equal(lab.y, (f[:, 3] >= 16).astype(int))
    lab = factor_labels(z, f, ds, "scale", threshold=0.9)
    assert np.array_equal(lab.y, (ds.factor_values(1)[f[:, 1]] > 0.9).astype(int))
    shape = factor_labels(z, f, ds, "shape")  # categorical: one class per shape
    assert shape.classes == ("square", "ellipse", "heart") and np.array_equal(shape.y, f[:, 0])
    pos = factor_labels(z, f, ds, "posY", mode="classes")
    assert len(pos.classes) == len(np.unique(f[:, 4]))
    ovr = shape.one_vs_rest(2)
    assert ovr.classes == ("not heart", "heart") and ovr.y.sum() == (f[:, 0] == 2).sum()
    with pytest.raises(LabelError, match="categorical"):
        factor_labels(z, f, ds, "shape", mode="binary")
    with pytest.raises(LabelError, match="no sample is above"):
        factor_labels(z, f, ds, "scale", threshold=5.0)
    with pytest.raises(LabelError, match="factors are shape, scale"):
        factor_labels(z, f, ds, "colour")
    with pytest.raises(LabelError, match="label mode"):
        factor_labels(z, f, ds, "posX", mode="fuzzy")


def test_label_csv_format(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("# my labels\nlabel,extra,index\n10,x,5\n9,y,7\n\n10,z,5\n9,w,100\n10,v,3\n")
    idx, y, classes = read_label_csv(p, num_samples=200)
    assert classes == ("9", "10")  # numeric labels in numeric order
    assert idx.tolist() == [5, 7, 100, 3] and y.tolist() == [1, 0, 0, 1]  # the repeated row 5 is merged
    q = tmp_path / "alias.csv"
    q.write_text("Sample_ID,Label\n1,smile\n2,smile\n3,neutral\n4,neutral\n")
    assert read_label_csv(q)[2] == ("neutral", "smile")


@pytest.mark.parametrize("text, message", [
    ("", "empty label file"),
    ("# only a comment\n", "empty label file"),
    ("idx,lab\n1,a\n", "header must name an 'index' and a 'label'"),
    ("index,label\n", "header but no samples"),
    ("index,label\n1\n", "line 2: expected 2 columns"),
    ("index,label\nseven,a\n2,b\n", "line 2: sample index 'seven' is not an integer"),
    ("index,label\n1,a\n2,b\n999,a\n3,b\n", "line 4: sample index 999 out of range"),
    ("index,label\n-1,a\n", "out of range"),
    ("index,label\n1,a\n1,b\n", "sample 1 labelled both 'a' and 'b'"),
    ("index,label\n1,a\n2,a\n", "need at least two different labels"),
    ("index,label\n1,a\n2,a\n3,b\n", "too few for 'b' \\(1\\)"),
    ("index,label\n1,\n", "empty label"),
])
def test_bad_label_csvs_give_clear_errors(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(LabelError, match=message) as info:
        read_label_csv(p, num_samples=100)
    assert str(p) in str(info.value)


def test_missing_and_binary_csv(tmp_path):
    with pytest.raises(LabelError, match="no such file"):
        read_label_csv(tmp_path / "nope.csv")
    b = tmp_path / "bin.csv"
    b.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(LabelError, match="UTF-8"):
        read_label_csv(b)


def test_csv_labels_encode_the_listed_samples(tmp_path):
    model, ds = tiny_model(latent_dim=3), get_dataset("dsprites")
    picks = np.random.default_rng(3).choice(ds.num_samples, 30, replace=False)
    rows = [(int(i), "left" if ds.index_to_factors(i)[0, 3] < 16 else "right") for i in picks]
    p = tmp_path / "side.csv"
    p.write_text("index,label\n" + "".join(f"{i},{lab}\n" for i, lab in rows))
    lab = csv_labels(model, ds, p)
    assert lab.attribute == "side" and lab.z.shape == (len(rows), 3) and lab.classes == ("left", "right")
    from latentlab.core.encode import encode_images

    expect = encode_images(model, ds.images_at([rows[0][0]]))[0][0]
    assert np.allclose(lab.z[0], expect, atol=1e-6)
    dirs = find_directions(model, FindOptions("interfacegan", labels_csv=str(p), dataset="dsprites"))
    assert dirs.names == ["side"] and dirs[0].params["towards"] == "right"


def test_tagged_labels():
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal(3) + (2 if k else -2), "big" if k else "small") for k in (0, 1) * 5]
    lab = tagged_labels(pairs, "size")
    assert lab.classes == ("big", "small") and lab.counts.tolist() == [5, 5]
    model = tiny_model(latent_dim=3)
    d = find_directions(model, FindOptions("interfacegan", tagged=pairs, attribute="size", classifier="mean"))
    assert d.names == ["size"] and float(d[0].vector @ np.ones(3)) < 0  # points towards "small"
    with pytest.raises(LabelError, match="at least two different labels"):
        tagged_labels([(np.zeros(3), "a"), (np.ones(3), "a")])
    with pytest.raises(LabelError, match="no tagged samples"):
        tagged_labels([])
