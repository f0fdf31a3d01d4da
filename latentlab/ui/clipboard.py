"""The current frame and latent to the clipboard, and the frame dragged out of the preview as a PNG file.

A latent is copied as a NumPy literal (``np.array([...], dtype=np.float32)``, pasted straight into a
notebook) or as the ``latentlab export`` command that starts from it (the latent saved as an .npy beside
the app's cache, so the command runs as it is).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QDrag, QGuiApplication, QImage
from PySide6.QtWidgets import QWidget

from latentlab.core.paths import atomic_write_bytes, cache_dir
from latentlab.ui.widgets import to_qimage


def latent_literal(z: np.ndarray) -> str:
    """``z`` as Python source that rebuilds it exactly (float32 round-trips through repr of its float)."""
    values = ", ".join(repr(float(v)) for v in np.asarray(z, np.float32))
    return f"np.array([{values}], dtype=np.float32)"


def save_latent(z: np.ndarray) -> Path:
    """The latent as an .npy file in the cache folder (what ``latentlab export --start`` takes)."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(z, np.float32), allow_pickle=False)
    path = cache_dir() / "latents" / f"latent-{time.strftime('%Y%m%d-%H%M%S')}.npy"
    atomic_write_bytes(path, buf.getvalue())
    return path


def export_command(checkpoint: Path, z: np.ndarray, dims: str = "") -> str:
    """A ``latentlab export`` command line that starts from ``z`` (saved to an .npy for it)."""
    args = ["latentlab", "export", str(checkpoint), "--start", str(save_latent(z))]
    if dims:
        args += ["--dims", dims]
    return " ".join(shlex.quote(a) for a in [*args, "--out", "traversal.mp4"])


def copy_text(text: str) -> None:
    QGuiApplication.clipboard().setText(text)


def copy_image(img: np.ndarray) -> None:
    QGuiApplication.clipboard().setImage(to_qimage(img).copy())


def frame_png(img: np.ndarray, name: str = "frame") -> Path:
    """The frame written as a PNG in the cache folder (a dragged file needs a real file behind it)."""
    path = cache_dir() / "frames" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    qimg: QImage = to_qimage(img)
    if not qimg.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def drag_frame(source: QWidget, img: np.ndarray, name: str = "frame") -> None:
    """Start dragging the frame: drops onto a file manager or an editor get a PNG file (and the image)."""
    mime = QMimeData()
    mime.setImageData(to_qimage(img).copy())
    mime.setUrls([QUrl.fromLocalFile(str(frame_png(img, name)))])
    drag = QDrag(source)
    drag.setMimeData(mime)
    drag.exec()
