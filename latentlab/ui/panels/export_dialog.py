"""File > Export: traversal videos (MP4, GIF, PNG frames) and figure grids of the current model or the compare set.

Sources: dimensions of the current latent, a keyframe path through bookmarks, directions and flow paths
(offered by their panels through ``window.export_sources``), and the compare view's models side by side.
The export runs in the background with progress and Cancel; the file appears only when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from latentlab.core.errors import LatentlabError
from latentlab.core.traversal import EASINGS
from latentlab.ui.binding import bind
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.panels.grid import parse_dims
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import ImageCanvas, JobStrip

if TYPE_CHECKING:
    from latentlab.core.export import ExportOptions, FramePlan, GridPlan

FORMATS = [("MP4 video (H.264)", "mp4"), ("GIF animation", "gif"), ("PNG frames (folder)", "png"),
           ("PNG figure grid", "grid")]
SUFFIX_FORMATS = {".mp4": "mp4", ".gif": "gif", ".png": "grid"}  # no suffix: a folder of PNG frames
# A source turns (frames) into (latents (T, D), captions) for the current model.
PathSource = Callable[[int], tuple[np.ndarray, list[str]]]


class ExportDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        # Ctrl+E opens a new dialog each time: a closed one goes, instead of piling up in the window.
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.window = window
        self.state = window.state
        self.setWindowTitle("Export")
        self.setMinimumWidth(720)
        self._build_choices(window)
        self._build_options()
        form = self._form(self._out_row())
        self._build_preview()
        self.runner = JobRunner(self, "export")
        buttons = self._buttons()
        self._assemble(form, buttons)
        self._connect()
        self.result = None
        self._bind_settings()
        self._changed()

    def _build_choices(self, window) -> None:
        """What to export (the sources this window offers) and in which format."""
        self.kind = QComboBox()
        self.kind.addItem("Traversal along dimensions", "dims")
        if len(self.state.bookmarks_for_current()) >= 2:
            self.kind.addItem("Keyframe path through bookmarks", "keyframes")
        for name in getattr(window, "export_sources", {}):
            self.kind.addItem(name, f"source:{name}")
        compare = getattr(window, "compare", None)
        if compare is not None and len(compare.entries()) > 1:
            self.kind.addItem("Compared models side by side (dimensions)", "compare")
        self.format = QComboBox()
        for label, key in FORMATS:
            self.format.addItem(label, key)

    def _build_options(self) -> None:
        """Dimensions, frame rate, duration, size, labels, keyframe interpolation, grid steps, output path."""
        self.dims = QLineEdit()
        self.dims.setPlaceholderText("active dims (e.g. 0,2,5-7)")
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(30)
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(0.5, 120)
        self.seconds.setValue(4.0)
        self.seconds.setSuffix(" s")
        self.size = QSpinBox()
        self.size.setRange(32, 2048)
        self.size.setValue(256)
        self.size.setSuffix(" px")
        self.size.setToolTip("Each panel's longer side; small images are enlarged with nearest-neighbour pixels")
        self.labels = QCheckBox("burn in labels (dimension name and value)")
        self.interp = QComboBox()
        self.interp.addItems(["slerp", "lerp"])
        self.easing = QComboBox()
        self.easing.addItems(list(EASINGS))
        self.steps = QSpinBox()
        self.steps.setRange(2, 25)
        self.steps.setValue(9)
        self.out = QLineEdit(str(Path.cwd() / "traversal.mp4"))

    def _out_row(self) -> QHBoxLayout:
        """The output path with its browse button."""
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        return out_row

    def _form(self, out_row: QHBoxLayout) -> QFormLayout:
        """The choices and options as a labelled form."""
        form = QFormLayout()
        form.addRow("What", self.kind)
        form.addRow("Format", self.format)
        form.addRow("Dimensions", self.dims)
        form.addRow("Frame rate", self.fps)
        form.addRow("Duration", self.seconds)
        form.addRow("Size", self.size)
        form.addRow("Grid steps", self.steps)
        form.addRow("Keyframes", self._pair(self.interp, self.easing))
        form.addRow("", self.labels)
        form.addRow("Save to", out_row)
        return form

    def _build_preview(self) -> None:
        """The preview image and the note below the form."""
        self.preview = ImageCanvas()
        self.preview.setMinimumSize(300, 300)
        self.note = PlainLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #9aa3ad;")

    def _buttons(self) -> QHBoxLayout:
        """Export (the default button) and Close, to the right."""
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        return buttons

    def _assemble(self, form: QFormLayout, buttons: QHBoxLayout) -> None:
        """Form and note beside the preview, the progress strip, the buttons."""
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.note)
        left.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addWidget(self.preview, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(body, 1)
        lay.addWidget(JobStrip(self.runner))
        lay.addLayout(buttons)

    def _connect(self) -> None:
        """Every option refreshes the preview; the export button and the runner's outcomes."""
        for w in (self.kind, self.format, self.interp, self.easing):
            w.currentIndexChanged.connect(self._changed)
        for w in (self.fps, self.seconds, self.size, self.steps):
            w.valueChanged.connect(self._changed)
        self.labels.toggled.connect(self._changed)
        self.dims.editingFinished.connect(self._changed)
        self.out.editingFinished.connect(self._format_from_out)
        self.export_button.clicked.connect(self.start)
        self.runner.finished.connect(self._done)
        self.runner.failed.connect(lambda m: self._set_note(f"⚠ export failed: {m}; nothing was written, and what "
                                                            "was there before is kept", True))
        self.runner.cancelled.connect(lambda: self._set_note("cancelled; nothing was written", True))
        self.runner.busyChanged.connect(lambda busy: self.export_button.setEnabled(not busy))

    def _bind_settings(self) -> None:
        """The dialog shows and edits the app model's export settings: they outlive the dialog and go in sessions."""
        settings = self.state.export
        for widget, name in ((self.fps, "fps"), (self.seconds, "seconds"), (self.size, "size"), (self.steps, "steps"),
                             (self.labels, "labels"), (self.dims, "dims"), (self.interp, "interp"),
                             (self.easing, "easing")):
            bind(widget, settings, name)
        for combo, name in ((self.format, "format"), (self.kind, "kind")):
            i = combo.findData(getattr(settings, name))
            if i >= 0:
                combo.setCurrentIndex(i)
            combo.currentIndexChanged.connect(lambda _i, c=combo, n=name: setattr(settings, n, c.currentData()))
        if settings.out:
            self.out.setText(settings.out)
        self.out.textChanged.connect(lambda text: setattr(settings, "out", text))

    @staticmethod
    def _pair(a, b):
        row = QHBoxLayout()
        row.addWidget(a)
        row.addWidget(b)
        return row

    # --- building the plan --------------------------------------------------------------------------------------
    def options(self) -> ExportOptions:
        from latentlab.core.export import ExportOptions

        return ExportOptions(format=self.format.currentData(), fps=float(self.fps.value()), size=self.size.value(),
                             labels=self.labels.isChecked())

    def frames(self) -> int:
        return max(2, int(round(self.fps.value() * self.seconds.value())))

    def _dims(self) -> list[int]:
        entry = self.state.current
        text = self.dims.text().strip()
        if text:
            return parse_dims(text, entry.latent_dim)
        act = entry.activity
        dims = [j for j in range(entry.latent_dim) if act is None or act.labels[j] != "passive"]
        return dims[:10]

    def plan(self) -> FramePlan | GridPlan:
        from latentlab.core.export import FramePlan
        from latentlab.core.export.plan import dimension_traversal, keyframe_traversal, traversal_cells

        entry = self.state.current
        if entry is None:
            raise ValueError("open a model first")
        kind = self.kind.currentData()
        fmt = self.format.currentData()
        model = entry.model
        names = [model.info.dim_label(j) for j in range(entry.latent_dim)]
        lo, hi = self.state.bounds()
        models = [model]
        if kind == "compare":
            models = [e.model for e in self.window.compare.entries()]
        if fmt == "grid":
            dims = self._dims()
            cells, captions = traversal_cells(self.state.z, dims, self.steps.value(), lo, hi, names)
            return self._grid_for(models, cells, captions, kind)
        if kind in ("dims", "compare"):
            latents, captions = dimension_traversal(self.state.z, self._dims(), self.frames(), lo, hi, names)
        elif kind == "keyframes":
            keys = [b.z for b in self.state.bookmarks_for_current()]
            latents, captions = keyframe_traversal(keys, self.frames(), self.interp.currentText(),
                                                   self.easing.currentText(),
                                                   names=[b.name for b in self.state.bookmarks_for_current()])
        else:
            source: PathSource = self.window.export_sources[kind.split(":", 1)[1]]
            latents, captions = source(self.frames())
        if kind == "compare":
            return self._compare_plan(models, latents, captions)
        return FramePlan.for_models([model], latents, captions, titles=[entry.name])

    def _compare_plan(self, models, latents, captions) -> FramePlan:
        from latentlab.core.export import FramePlan

        compare = self.window.compare
        aligns = compare.alignments if compare.align_box.isChecked() else None
        if aligns is not None and len(aligns) != len(models):
            raise ValueError("the compared models are not aligned yet: press Align in the compare view first")
        titles = [e.name for e in compare.entries()]
        return FramePlan.for_models(models, latents, captions, alignments=aligns, titles=titles)

    def _grid_for(self, models, cells, captions, kind) -> GridPlan:
        from latentlab.core.export import GridPlan

        if kind == "compare":
            compare = self.window.compare
            aligns = compare.alignments if compare.align_box.isChecked() else None
            titles = [e.name for e in compare.entries()]
            return GridPlan.for_models(models, cells, captions, alignments=aligns, titles=titles)
        return GridPlan.for_models(models, cells, captions, titles=[self.state.current.name])

    # --- ui -----------------------------------------------------------------------------------------------------------
    def _set_note(self, text: str, error: bool = False) -> None:
        self.note.setText(text)
        self.note.setStyleSheet("color: #e07a7a;" if error else "color: #9aa3ad;")

    def _changed(self, *_a) -> None:
        from latentlab.core.export import GridPlan, preview_frame, preview_grid

        fmt = self.format.currentData()
        kind = self.kind.currentData()
        self.steps.setEnabled(fmt == "grid")
        self.fps.setEnabled(fmt != "grid")
        self.seconds.setEnabled(fmt != "grid")
        self.interp.setEnabled(kind == "keyframes")
        self.easing.setEnabled(kind == "keyframes")
        self.dims.setEnabled(kind in ("dims", "compare") or fmt == "grid")
        out = Path(self.out.text())
        suffix = {"mp4": ".mp4", "gif": ".gif", "png": "", "grid": ".png"}[fmt]
        stem = out.name.split(".")[0] or "traversal"
        self.out.setText(str(out.with_name(stem + suffix)))
        try:
            plan = self.plan()
            opts = self.options()
            img = preview_grid(plan, opts) if isinstance(plan, GridPlan) else preview_frame(plan, opts, 0)
            self.preview.set_image(img, autorange=True)
            if isinstance(plan, GridPlan):
                self._set_note(f"a {img.shape[1]}×{img.shape[0]} PNG")
            else:
                self._set_note(f"{len(plan)} frames at {opts.fps:g} fps = {len(plan) / opts.fps:.1f} s, "
                               f"{img.shape[1]}×{img.shape[0]} px")
            self.export_button.setEnabled(not self.runner.busy)
        except (ValueError, IndexError) as exc:
            self._set_note(f"⚠ {exc}", True)
            self.export_button.setEnabled(False)

    def _browse(self) -> None:
        fmt = self.format.currentData()
        if fmt == "png":
            path = QFileDialog.getSaveFileName(self, "Folder for the PNG frames", self.out.text())[0]
        else:
            path = QFileDialog.getSaveFileName(self, "Export to", self.out.text())[0]
        if path:
            self.out.setText(path)
            self._changed()

    def _format_from_out(self) -> None:
        """The format follows the file name the user typed (``name.gif`` is a GIF), as on the command line."""
        suffix = Path(self.out.text().strip()).suffix.lower()
        fmt = SUFFIX_FORMATS.get(suffix) if suffix else "png"
        if fmt == "grid" and self.format.currentData() == "grid":
            return
        if fmt is not None and fmt != self.format.currentData():
            self.format.setCurrentIndex(self.format.findData(fmt))

    def start(self) -> None:
        from latentlab.core.export import export
        from latentlab.core.export.folder import check_folder_output
        from latentlab.core.export.outputs import check_file_output

        self._format_from_out()
        try:
            plan = self.plan()
            opts = self.options()
        except (ValueError, IndexError) as exc:
            self._set_note(f"⚠ {exc}", True)
            return
        out = Path(self.out.text()).expanduser()
        inputs = self.input_files()
        try:  # at once, not after the decoding: the same check the export makes again before writing
            if opts.format == "png":
                check_folder_output(out, inputs)
            else:
                check_file_output(out, opts.format, inputs)
        except LatentlabError as exc:
            self._set_note(f"⚠ {exc}", True)
            return
        self._set_note(f"exporting to {out} …")
        self.runner.start(lambda ctx: export(plan, out, opts, ctx, inputs=inputs), label=f"exporting {out.name}")

    def input_files(self) -> list[str]:
        """Every file the app has open (checkpoints, directions, flows, the session): never an export target."""
        w = self.window
        files = [e.path for e in self.state.models]
        for e in self.state.models:  # every model's direction and flow files, not only the current one's
            ex = self.state.extras(e)
            files += [f for f in (ex.directions_file, ex.flows_file) if f is not None]
        session = getattr(getattr(w, "sessions", None), "path", None)
        if session is not None:
            files.append(session)
        autosave = getattr(getattr(w, "sessions", None), "autosave", None)
        if autosave is not None:
            files.append(autosave.path)
        return [str(f) for f in files]

    def _done(self, result) -> None:
        self.result = result
        d = result.to_dict()
        notices = "".join(f"; {n}" for n in result.notices)
        self._set_note(f"wrote {result.path} ({d.get('frames', 1)} frame(s), {d.get('bytes', 0) / 1e6:.2f} MB) "
                       f"in {d.get('total_s', 0):.1f} s{notices}")
        self.window.show_message("warning" if result.notices else "info", f"exported {result.path}{notices}")

    def reject(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
        super().reject()

    def done(self, result: int) -> None:
        # The runner is deleted with the dialog: its thread must have ended first (it would signal a deleted
        # object), and it leaves the list of runners the window shuts down.
        self.runner.shutdown()
        super().done(result)

    def keyPressEvent(self, ev) -> None:
        if ev.key() == Qt.Key.Key_Escape and self.runner.busy:
            self.runner.cancel()
            return
        super().keyPressEvent(ev)
