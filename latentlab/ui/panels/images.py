"""Real images in, latents out: encode images with a VAE, or invert them into a GAN by optimisation.

Images come from File ▸ Open images, or from files and folders dropped on the window. The chosen image's
latent becomes the current latent and a bookmark named after the file; inversion shows its loss as it goes
and the reconstruction beside the original, with the error map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.choices import INVERSION_LOSSES
from latentlab.core.images import IMAGE_SUFFIXES, ImageFileError, load_images
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel, plain_rich
from latentlab.ui.widgets import FlowLayout, ImageCanvas, JobStrip, float_to_uint8, plot_widget, thumbnail_icon


def is_image_file(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES


def _encode(ctx, model, images):
    import torch

    from latentlab.core.encode import encode_images
    from latentlab.core.model import device_of

    mean, _, _ = encode_images(model, images, ctx=ctx)
    with torch.inference_mode():
        recon = model.decode(torch.from_numpy(mean).to(device_of(model)))
    return {"latents": mean, "reconstructions": recon.float().cpu().numpy(), "method": "encoded"}


def _invert(ctx, model, images, config, init):
    from latentlab.core.invert import invert

    res = invert(model, images, config, ctx, init)
    return {"latents": res.latents, "reconstructions": res.reconstructions, "method": "inverted",
            "errors": res.errors, "psnr": res.psnr}


class ImagesPanel(QWidget):
    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = JobRunner(self, "images")
        top = self._build_controls()
        self._build_list()
        pics = self._build_views()
        self._assemble(top, pics)
        self.images: np.ndarray | None = None
        self.files: list[str] = []
        self.result: dict | None = None
        self._losses: list[float] = []
        self._connect(state)
        self._on_model(state.current)

    def _build_controls(self) -> FlowLayout:
        """Open, encode or invert (with inversion steps and loss), and Find latent."""
        self.open_button = QPushButton("Open images…")
        self.open_button.setToolTip("Image files or a folder; you can also drop them on the window")
        self.method = QComboBox()
        self.method.addItem("encode (VAE)", "encode")
        self.method.addItem("invert by optimisation", "invert")
        self.method.setToolTip("Encoders map an image to its latent in one pass; inversion searches the latent "
                               "whose decoded image matches (the only way into a GAN)")
        self.steps = QSpinBox()
        self.steps.setRange(1, 5000)
        self.steps.setValue(300)
        self.steps.setPrefix("steps ")
        self.loss = QComboBox()
        self.loss.addItems(list(INVERSION_LOSSES))
        self.loss.setCurrentText("pixel+lap")
        self.loss.setToolTip("pixel: mean squared error; lap: a Laplacian-pyramid loss that weighs edges and "
                             "structure (needs no downloaded network)")
        self.run_button = QPushButton("Find latent")
        self.run_button.setToolTip("Encode or invert the selected image; the result becomes the current latent "
                                   "and a bookmark")
        top = FlowLayout()
        for w in (self.open_button, self.method, self.steps, self.loss, self.run_button):
            top.addWidget(w)
        top.addStretch(1)
        return top

    def _build_list(self) -> None:
        """The opened images as a row of thumbnails."""
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(56, 56))
        self.list.setMaximumHeight(90)
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setMovement(QListWidget.Movement.Static)

    def _build_views(self) -> QHBoxLayout:
        """Original, reconstruction and error side by side, each titled, then the inversion loss plot."""
        self.original = ImageCanvas()
        self.reconstruction = ImageCanvas()
        self.error = ImageCanvas()
        for c, tip in ((self.original, "the image, as the model sees it"),
                       (self.reconstruction, "the model's image of the latent found"),
                       (self.error, "absolute error (brighter = worse)")):
            c.setMinimumSize(120, 120)
            c.setToolTip(tip)
        pics = QHBoxLayout()
        for c, title in ((self.original, "original"), (self.reconstruction, "reconstruction"), (self.error, "error")):
            box = QVBoxLayout()
            label = QLabel(title)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box.addWidget(label)
            box.addWidget(c, 1)
            pics.addLayout(box, 1)
        self.loss_plot = plot_widget()
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.setTitle("inversion loss", color="#c9ced4", size="9pt")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#ffd166", width=2))
        pics.addWidget(self.loss_plot, 2)
        return pics

    def _assemble(self, top: FlowLayout, pics: QHBoxLayout) -> None:
        """Controls, thumbnails, the views, progress and the status line, top to bottom."""
        self.status = PlainLabel("drop images here, or Open images…")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #9aa3ad;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.list)
        lay.addLayout(pics, 1)
        lay.addWidget(JobStrip(self.runner))
        lay.addWidget(self.status)

    def _connect(self, state: AppModel) -> None:
        """Buttons, the thumbnail list, the method, the runner's outcomes and the current model."""
        self.open_button.clicked.connect(self.open_dialog)
        self.run_button.clicked.connect(self.run)
        self.list.currentRowChanged.connect(self._show_original)
        self.method.currentIndexChanged.connect(lambda _i: self._sync())
        self.runner.partial.connect(self._on_partial)
        self.runner.finished.connect(self._on_done)
        self.runner.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.runner.cancelled.connect(lambda: self.status.setText("cancelled"))
        state.currentModelChanged.connect(self._on_model)

    def _on_model(self, entry) -> None:
        self.runner.cancel()
        # The last reconstruction and its loss were another model's: they go with it.
        self.result = None
        self._losses = []
        self.loss_curve.setData([], [])
        self.reconstruction.clear_image()
        self.error.clear_image()
        encodes = entry is not None and entry.encodes
        self.method.model().item(0).setEnabled(encodes)
        self.method.setCurrentIndex(0 if encodes else 1)
        self.method.setToolTip("" if encodes else "this model has no encoder: images are inverted by optimisation")
        if self.files and entry is not None:
            self.add_paths(self.files, replace=True)  # refit the images to the new model's size
        self._sync()

    def _sync(self) -> None:
        has = self.state.current is not None
        self.open_button.setEnabled(has)
        self.run_button.setEnabled(has and self.images is not None)
        inv = self.method.currentData() == "invert"
        self.steps.setEnabled(inv)
        self.loss.setEnabled(inv)

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", str(Path.cwd()),
                                                "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")")
        if paths:
            self.add_paths(paths)

    def add_paths(self, paths, replace: bool = True) -> bool:
        entry = self.state.current
        if entry is None:
            self.state.message.emit("warning", "open a model first: images are fitted to its input size")
            return False
        try:
            images, files = load_images(paths, entry.model.info.image_shape)
        except ImageFileError as exc:
            self.state.message.emit("error", str(exc))
            return False
        self.images, self.files = images, files
        self.list.clear()
        for img, f in zip(float_to_uint8(images), files, strict=True):
            item = QListWidgetItem(thumbnail_icon(img, 56), "")
            item.setToolTip(plain_rich(f))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.status.setText(f"{len(files)} image(s), fitted to {entry.model.info.image_shape[2]}×"
                            f"{entry.model.info.image_shape[1]}")
        self._sync()
        return True

    def _show_original(self, i: int) -> None:
        if self.images is None or not 0 <= i < len(self.images):
            return
        self.original.set_image(float_to_uint8(self.images[i : i + 1])[0], autorange=True)

    def run(self) -> None:
        from latentlab.core.encode import encode_images
        from latentlab.core.invert import InversionConfig

        entry = self.state.current
        i = self.list.currentRow()
        if entry is None or self.images is None or i < 0:
            return
        img = self.images[i : i + 1]
        self._losses = []
        self.loss_curve.setData([], [])
        if self.method.currentData() == "encode":
            self.runner.start(_encode, entry.model, img, label="encoding")
        else:
            init = None
            if entry.encodes:  # start from the encoder's guess: inversion then only refines it
                init = encode_images(entry.model, img)[0]
            cfg = InversionConfig(steps=self.steps.value(), loss=self.loss.currentText(), preview_every=10)
            self.runner.start(_invert, entry.model, img, cfg, init, label=f"inverting {Path(self.files[i]).name}")
        self._running_index = i

    def _on_partial(self, p: dict) -> None:
        if "loss" in p:
            self._losses.append(float(np.mean(p["loss"])))
            self.loss_curve.setData(np.arange(len(self._losses)), np.maximum(self._losses, 1e-12))
        if "reconstructions" in p:
            self._show_recon(np.asarray(p["reconstructions"])[:1])

    def _show_recon(self, recon: np.ndarray) -> None:
        i = getattr(self, "_running_index", 0)
        self.reconstruction.set_image(float_to_uint8(recon)[0], autorange=True)
        err = np.abs(recon[0] - self.images[i]).mean(0, keepdims=True)[None]
        self.error.set_image(float_to_uint8(np.clip(err * 4, 0, 1))[0], autorange=True)

    def _on_done(self, result: dict) -> None:
        self.result = result
        i = self._running_index
        recon = result["reconstructions"][:1]
        self._show_recon(recon)
        z = result["latents"][0]
        mse = float(((recon[0] - self.images[i]) ** 2).mean())
        psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
        name = Path(self.files[i]).stem
        self.state.set_latent(z, "image")
        self.state.add_bookmark(f"{result['method']}: {name}")
        self.status.setText(f"{result['method']} {name}: MSE {mse:.4f}, PSNR {psnr:.1f} dB; now the current latent "
                            "and a bookmark")

    def shutdown(self) -> bool:
        return self.runner.shutdown()
