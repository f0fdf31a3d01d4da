"""Where latentlab reads a data file (datasets, images, label CSVs, sessions, .npz/.npy arrays), an empty,
unreadable, pipe or device path is a clear error at once, never a hang; an object array is never unpickled."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from latentlab.core.data import get_dataset
from latentlab.core.data.files import DatasetFileError
from latentlab.core.directions.labels import LabelError, read_label_csv
from latentlab.core.errors import BadInput, FileError, LatentlabError
from latentlab.core.images import ImageFileError, collect_images, load_image
from latentlab.core.input_files import check_regular, read_bytes
from latentlab.core.npy_files import read_npy, read_npz
from latentlab.core.session import SessionError, load_session
from tests.security.conftest import fingerprint

MARKER = "latentlab-pickle-ran"


class _Payload:
    """Unpickling this would create a marker file: proof that code from the file ran."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _object_npz(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / MARKER
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(str(marker))
    p = tmp_path / "evil.npz"
    np.savez(p, imgs=arr, latents_classes=np.zeros((1, 6), np.int64), latents_values=np.zeros((1, 6)))
    return p, marker


def _readers(path: Path, skip: tuple[str, ...] = ()):
    """Every reader of a data file, each with the error type it raises."""
    readers = {
        "dataset": (lambda: get_dataset(str(path)), BadInput),  # DatasetFileError; "unknown dataset" sans suffix
        "image": (lambda: load_image(path, (1, 8, 8)), ImageFileError),
        "images": (lambda: collect_images([path]), ImageFileError),
        "labels": (lambda: read_label_csv(path), LabelError),
        "session": (lambda: load_session(path), SessionError),
        "npz": (lambda: read_npz(path), FileError),
        "npy": (lambda: read_npy(path), FileError),
    }
    return [v for k, v in readers.items() if k not in skip]


def test_a_named_pipe_is_refused_by_every_reader_without_blocking(tmp_path, fifo):
    for suffix in (".npz", ".h5", ".png", ".csv", ".llab"):
        link = tmp_path / f"data{suffix}"  # the reader picks its kind by suffix; the pipe hides behind a link
        link.symlink_to(fifo)
        for call, error in _readers(link):
            with pytest.raises(error) as info:
                call()
            assert "named pipe (FIFO)" in str(info.value) or "unsupported dataset" in str(info.value), str(info.value)
            assert "\n" not in str(info.value)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_by_every_reader(device):
    for call, error in _readers(Path(device)):
        with pytest.raises(error, match="device|unsupported dataset|unknown dataset"):
            call()


def test_an_empty_file_is_refused_clearly(tmp_path):
    for suffix in (".npz", ".h5", ".png", ".llab"):
        p = tmp_path / f"empty{suffix}"
        p.touch()
        for call, error in _readers(p, skip=("labels",)):  # an empty CSV has a message of its own
            with pytest.raises(error, match="is empty|unsupported dataset"):
                call()
    csv = tmp_path / "empty.csv"
    csv.touch()
    with pytest.raises(LabelError, match="empty label file"):
        read_label_csv(csv)


def test_a_folder_is_refused_clearly(tmp_path):
    folder = tmp_path / "data.npz"
    folder.mkdir()
    with pytest.raises(DatasetFileError, match="is a folder, not a dataset file"):
        get_dataset(str(folder))
    with pytest.raises(SessionError, match="is a folder"):
        load_session(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file regardless of its mode")
def test_an_unreadable_file_is_refused_clearly(tmp_path):
    p = tmp_path / "secret.npz"
    p.write_bytes(b"PK" + b"\0" * 100)
    p.chmod(0)
    for call, error in _readers(p):
        with pytest.raises(error, match="permission denied"):
            call()


def test_the_checks_never_block_even_when_the_path_is_swapped_for_a_pipe(tmp_path, fifo):
    # read_bytes opens with O_NONBLOCK and checks what it opened, not just what stat saw.
    with pytest.raises(FileError, match="named pipe"):
        read_bytes(fifo, max_bytes=10)
    with pytest.raises(FileError, match="too large"):
        big = tmp_path / "big"
        big.write_bytes(b"x" * 11)
        read_bytes(big, max_bytes=10)
    assert check_regular(big) == 11


def test_an_object_array_is_refused_and_never_unpickled(tmp_path):
    p, marker = _object_npz(tmp_path)
    before = fingerprint(p)
    for call in (lambda: get_dataset(str(p)), lambda: read_npz(p)):
        with pytest.raises(LatentlabError) as info:
            call()
        text = str(info.value)
        assert "holds Python objects (dtype object); refused: unpickling it could run code" in text, text
        assert "'imgs'" in text and "\n" not in text
    npy = tmp_path / "evil.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(str(marker))
    np.save(npy, arr, allow_pickle=True)
    with pytest.raises(FileError, match="refused: unpickling"):
        read_npy(npy)
    assert not marker.exists() and fingerprint(p) == before


def test_an_array_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**6)})
    p = tmp_path / "claims.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("imgs.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(FileError, match="claims 80000000000000 bytes of data, the file holds"):
        read_npz(p)


def test_a_dsprites_file_of_the_wrong_kinds_is_refused(tmp_path):
    p = tmp_path / "odd.npz"
    classes = np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    cases = [
        (dict(imgs=np.zeros((2, 8, 8), np.float64), latents_classes=classes, latents_values=classes * 1.0), "uint8"),
        (dict(imgs=np.zeros((2, 8, 8), np.uint8), latents_classes=classes * 1.5, latents_values=classes * 1.0),
         "latents_classes must be integers"),
        (dict(imgs=np.zeros((2, 8, 8), np.uint8), latents_classes=-classes, latents_values=classes * 1.0),
         "non-negative"),
        (dict(imgs=np.zeros((2, 8, 8), np.uint8), latents_classes=classes, latents_values=classes * np.nan),
         "finite numbers"),
        (dict(imgs=np.zeros((3, 8, 8), np.uint8), latents_classes=classes, latents_values=classes * 1.0),
         "unexpected shapes"),
        (dict(imgs=np.zeros((2, 8, 8), np.uint8), latents_classes=classes), "missing array"),
    ]
    for arrays, fragment in cases:
        np.savez(p, **arrays)
        with pytest.raises(DatasetFileError, match=fragment):
            get_dataset(str(p))


def test_a_label_csv_with_a_field_past_the_csv_limit(tmp_path):
    p = tmp_path / "huge.csv"
    p.write_text('index,label\n1,"' + "x" * 200_000 + '"\n')
    with pytest.raises(LabelError, match="not a readable CSV file"):
        read_label_csv(p)


def test_an_image_that_is_not_one(tmp_path):
    p = tmp_path / "fake.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(ImageFileError, match="fake.png"):
        load_image(p, (1, 8, 8))
