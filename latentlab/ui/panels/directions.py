"""Directions dock: attribute directions as sliders, applied together on top of the current latent.

Moving a direction slider sets the latent to ``base + sum_i alpha_i v_i`` (fields are integrated), where
``base`` is the latent when the direction sliders were last at rest; any other change of the latent becomes
the new base and the sliders return to 0. Evaluation shows which ground-truth factor each direction moves
(direction x factor) and how the directions relate (cosines), as heatmaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.errors import LatentlabError
from latentlab.ui.charts import Heatmap
from latentlab.ui.float_slider import FloatSlider
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.panels.find_directions import METHOD_HELP, FindDirectionsDialog
from latentlab.ui.safe_text import PlainLabel, plain_rich
from latentlab.ui.widgets import FlowLayout, JobStrip

if TYPE_CHECKING:
    from latentlab.core.directions import DirectionSet

SOURCE = "direction"


RAW_UNITS = "factor change (fraction of its range; categorical: mass moved)"


class DirectionRow(QWidget):
    def __init__(self, index: int, direction, span: float, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.direction = direction
        self.name = PlainLabel(direction.name)
        self.name.setMinimumWidth(90)
        self.name.setToolTip(plain_rich(f"{direction.method} ({direction.kind})\n{direction.params}"))
        self.slider = FloatSlider(Qt.Orientation.Horizontal)
        self.slider.setFloatRange(-span, span)
        self.slider.setFloatValue(0.0)
        self.value = QLabel("+0.00")
        self.value.setFixedWidth(44)
        self.in_grid = QCheckBox("grid")
        self.in_grid.setChecked(True)
        self.in_grid.setToolTip("Show this direction as a row of the traversal grid (when it steps along directions)")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip("Remove this direction")
        # W+: the layers a w direction acts on (GANSpace's coarse / middle / fine edits); hidden elsewhere.
        self.layer_from, self.layer_to = QSpinBox(), QSpinBox()
        self.layer_from.setToolTip("First synthesis layer this w direction moves (0 = coarsest)")
        self.layer_to.setToolTip("Layer after the last one it moves (exclusive)")
        self.layer_from.setPrefix("L")
        self.layer_to.setPrefix("to L")
        for w in (self.layer_from, self.layer_to):
            w.setVisible(False)
            w.setKeyboardTracking(False)
        self.applied = direction  # the direction as it moves the view's latent (a w direction lifted onto W+)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 1, 2, 1)
        lay.addWidget(self.name)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.layer_from)
        lay.addWidget(self.layer_to)
        lay.addWidget(self.value)
        lay.addWidget(self.in_grid)
        lay.addWidget(self.remove)

    @property
    def alpha(self) -> float:
        return self.slider.floatValue()

    def fit(self, view) -> None:
        """Apply this row's direction to ``view``'s latent: lifted onto its layer range in W+, or disabled
        (with the reason as its tooltip) when it moves another space."""
        from latentlab.core.style_edit import direction_space, fit_direction

        wplus = getattr(view, "latent_space", None) == "w+" and direction_space(self.direction) == "w"
        for w in (self.layer_from, self.layer_to):
            w.setVisible(wplus)
        layers = None
        if wplus:
            if self.layer_to.maximum() != view.num_ws:
                start, stop = self.direction.params.get("layers") or (0, view.num_ws)
                with QSignalBlocker(self.layer_from), QSignalBlocker(self.layer_to):
                    self.layer_from.setRange(0, view.num_ws - 1)
                    self.layer_to.setRange(1, view.num_ws)
                    self.layer_from.setValue(int(start))
                    self.layer_to.setValue(int(stop))
            layers = (self.layer_from.value(), self.layer_to.value())
            if layers[1] <= layers[0]:
                layers = (layers[0], layers[0] + 1)
        applied, why = fit_direction(self.direction, view, layers)
        self.applied = applied
        self.slider.setEnabled(applied is not None)
        self.slider.setToolTip(why or "")
        self.name.setStyleSheet("" if applied is not None else "color: #777d86;")

    def set_alpha(self, a: float) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setFloatValue(a)
        self.value.setText(f"{a:+.2f}")


class DirectionsPanel(QWidget):
    openModel = Signal(object)  # Path of a model a finder wrote (a fine-tuned generator): the window opens it

    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.rows: list[DirectionRow] = []
        self.base: np.ndarray | None = None
        self._shown: tuple[int, object] | None = None  # (entry token, DirectionSet) the rows were built for
        self.evaluator = JobRunner(self, "evaluate")
        self.dialog: FindDirectionsDialog | None = None
        top = self._build_buttons()
        tags = self._build_tags()
        tabs = self._build_views()
        self._assemble(top, tags, tabs)
        self._connect()
        self._on_model(state.current)

    def _build_buttons(self) -> FlowLayout:
        """Find (a menu of methods), Load, Save, Evaluate, Zero and the sliders' span."""
        self.find_button = QToolButton()
        self.find_button.setText("Find…")
        self.find_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.find_button)
        for m in METHOD_HELP:
            menu.addAction(m, lambda m=m: self.find_dialog(m)).setToolTip(METHOD_HELP[m])
        self.find_button.setMenu(menu)
        self.find_button.setToolTip("Find directions with a supervised, unsupervised or gradient-based method")
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.setToolTip("Which ground-truth factor each direction changes, and the cosines between them")
        self.zero_button = QPushButton("Zero")
        self.zero_button.setToolTip("Set every direction slider back to 0 (the latent returns to the base)")
        self.span = QSpinBox()
        self.span.setRange(1, 20)
        self.span.setValue(3)
        self.span.setPrefix("± ")
        self.span.setToolTip("Slider range: how far along each direction (latent units)")
        top = FlowLayout()
        for w in (self.find_button, self.load_button, self.save_button, self.eval_button, self.zero_button, self.span):
            top.addWidget(w)
        top.addStretch(1)
        return top

    def _build_tags(self) -> FlowLayout:
        """Tagging the current latent with a label, for a supervised finder."""
        self.tag_label = QLineEdit()
        self.tag_label.setPlaceholderText("label, e.g. smiling")
        self.tag_button = QPushButton("Tag current latent")
        self.tag_button.setToolTip("Remember the current latent with this label; then Find ▸ interfacegan with "
                                   "'my tagged samples' finds the direction that separates the labels")
        self.tag_count = PlainLabel("")
        tags = FlowLayout()
        tags.addWidget(self.tag_label, 1)
        tags.addWidget(self.tag_button)
        tags.addWidget(self.tag_count)
        return tags

    def _build_views(self) -> QTabWidget:
        """The sliders, the direction x factor heatmap and the cosines, as tabs; the status line."""
        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(0)
        self.rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        self.factor_map = Heatmap("factor change along each direction", units=RAW_UNITS,
                                  empty_text="find or load directions, then Evaluate")
        self.cosine_map = Heatmap("cosine similarity between directions", symmetric=True, units="cosine (-1 to 1)",
                                  empty_text="find or load directions to compare them")
        self.status = PlainLabel("no directions yet: Find… or Load…")
        self.status.setStyleSheet("color: #9aa3ad;")
        self.status.setWordWrap(True)
        self.normalise = QCheckBox("normalise each factor")
        self.normalise.setToolTip("Scale each factor's column by its largest entry, so each factor's best direction "
                                  "reads 1 (the raw view compares factors in their own units)")
        self.normalise.toggled.connect(lambda _on: self._show_factor_map())
        factor_tab = QWidget()
        factor_lay = QVBoxLayout(factor_tab)
        factor_lay.setContentsMargins(0, 0, 0, 0)
        factor_lay.addWidget(self.normalise)
        factor_lay.addWidget(self.factor_map, 1)
        tabs = QTabWidget()
        tabs.addTab(scroll, "Sliders")
        tabs.addTab(factor_tab, "Direction × factor")
        tabs.addTab(self.cosine_map, "Cosines")
        self.tabs = tabs
        return tabs

    def _assemble(self, top: FlowLayout, tags: FlowLayout, tabs: QTabWidget) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addLayout(tags)
        lay.addWidget(tabs, 1)
        lay.addWidget(JobStrip(self.evaluator))
        lay.addWidget(self.status)

    def _connect(self) -> None:
        """Buttons to actions; the app model's model, directions, latent and style to the rows."""
        self.load_button.clicked.connect(self.load_dialog)
        self.save_button.clicked.connect(self.save_dialog)
        self.eval_button.clicked.connect(self.evaluate)
        self.zero_button.clicked.connect(self.zero)
        self.span.valueChanged.connect(self._respan)
        self.tag_button.clicked.connect(self.tag_current)
        self.evaluator.finished.connect(self._on_evaluated)
        self.evaluator.failed.connect(lambda m: self.status.setText(f"⚠ evaluation failed: {m}"))
        self.state.currentModelChanged.connect(self._on_model)
        self.state.directionsChanged.connect(self._on_directions)
        self.state.latentChanged.connect(self._on_latent)
        self.state.styleChanged.connect(self._on_style)

    # --- the set: kept per model in the app model, shown here for the current one ------------------------------------
    @property
    def set(self) -> DirectionSet | None:
        entry = self.state.current
        return None if entry is None else self.state.extras(entry).directions

    @property
    def file(self) -> Path | None:
        entry = self.state.current
        return None if entry is None else self.state.extras(entry).directions_file

    @property
    def tagged(self) -> list[tuple[np.ndarray, str]]:
        entry = self.state.current
        return [] if entry is None else self.state.extras(entry).tagged

    def _on_model(self, entry) -> None:
        self.evaluator.cancel()
        self._rebuild()

    def _on_directions(self, entry) -> None:
        if entry is self.state.current:
            self._rebuild()

    def _rebuild(self) -> None:
        """Rows for the current model's directions (only when they changed: a drag keeps its rows)."""
        entry = self.state.current
        key = None if entry is None else (entry.token, self.set)
        if key is not None and self._shown is not None and key[0] == self._shown[0] and key[1] is self._shown[1]:
            self._sync_buttons()
            return
        self._shown = key
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        self.factor_map.clear()
        self.evaluation = None  # a toggle must not bring back the figures of directions no longer shown
        self.cosine_map.clear()
        dirset, file = self.set, self.file
        if dirset is not None:
            for i, d in enumerate(dirset):
                self._add_row(i, d)
            self.status.setText(f"{len(dirset)} direction(s)" + (f" from {file.name}" if file else ""))
        elif entry is not None:
            self.status.setText("no directions yet: Find… or Load…")
        self.base = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        has_model = self.state.current is not None
        has = bool(self.set and len(self.set))
        self.find_button.setEnabled(has_model)
        self.load_button.setEnabled(has_model)
        self.tag_button.setEnabled(has_model)
        for w in (self.save_button, self.eval_button, self.zero_button):
            w.setEnabled(has)
        self.tag_count.setText(f"{len(self.tagged)} tagged" if self.tagged else "")

    def set_directions(self, dirset: DirectionSet | None, file: Path | None = None) -> None:
        """Make ``dirset`` the current model's directions (through the app model)."""
        if self.state.current is not None:
            self.state.set_directions(self.state.current, dirset, file)

    def add_directions(self, dirset: DirectionSet) -> None:
        from latentlab.core.directions import DirectionSet

        entry = self.state.current
        if entry is None:
            return
        old = self.set
        # The set's size is its directions' (a w set stays 512-D while W+ is edited: each row lifts its own).
        dim = old.latent_dim if old is not None and len(old) else dirset.latent_dim
        if dirset.latent_dim != dim:
            self.state.message.emit("error", f"these directions have {dirset.latent_dim} dimensions, the ones "
                                             f"shown {dim}: remove those first to use these")
            return
        merged = DirectionSet(dim, list(old) if old is not None else [], entry.checkpoint.sha256,
                              entry.name, dict(old.meta) if old is not None else {})
        space = getattr(entry.model, "latent_space", None)
        for d in dirset:
            if space is not None and "space" not in d.params:
                d.params["space"] = space  # found in this view's space: say so, for when the space changes
            merged.add(d)
        added = len(merged) - (len(old) if old is not None else 0)
        self.state.set_directions(entry, merged, self.file)
        self.status.setText(f"added {added} direction(s); {len(merged)} in all")

    def _add_row(self, i: int, d) -> None:
        row = DirectionRow(i, d, float(self.span.value()))
        row.slider.floatValueChanged.connect(lambda _v, r=row: self._moved(r))
        row.slider.sliderReleased.connect(self.state.commit)
        row.remove.clicked.connect(lambda _=False, r=row: self.remove(r))
        for w in (row.layer_from, row.layer_to):
            w.valueChanged.connect(lambda _v, r=row: self._refit(r))
        if self.state.current is not None:
            row.fit(self.state.current.model)
        self.rows.append(row)
        self.rows_layout.insertWidget(len(self.rows) - 1, row)

    def remove(self, row: DirectionRow) -> None:
        from latentlab.core.directions import DirectionSet

        if self.set is None:
            return
        keep = [r.direction for r in self.rows if r is not row]
        new = DirectionSet(self.set.latent_dim, keep, self.set.source_sha256, self.set.source_name, self.set.meta)
        self.set_directions(new if keep else None, self.file)

    def _refit(self, row: DirectionRow) -> None:
        if self.state.current is not None:
            row.fit(self.state.current.model)
            if row.alpha != 0.0:
                self._moved(row)

    def _on_style(self, entry) -> None:
        if entry is self.state.current:
            self.base = None
            for r in self.rows:
                r.set_alpha(0.0)
                r.fit(entry.model)

    def directions_for_grid(self) -> list:
        return [r.applied for r in self.rows if r.in_grid.isChecked() and r.applied is not None]

    # --- applying -------------------------------------------------------------------------------------------------
    def _moved(self, row: DirectionRow) -> None:
        if self.state.current is None:
            return
        if self.base is None:
            self.base = self.state.z.copy()
        row.value.setText(f"{row.alpha:+.2f}")
        z = self.base.copy()
        try:
            for r in self.rows:
                if r.alpha != 0.0 and r.applied is not None:
                    z = r.applied.apply(z, r.alpha)
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        self.state.set_latent(z, SOURCE, commit=False)

    def _on_latent(self, source: str) -> None:
        if source == SOURCE:
            return
        self.base = None
        for r in self.rows:
            if r.alpha != 0.0:
                r.set_alpha(0.0)

    def zero(self) -> None:
        if self.base is not None:
            self.state.set_latent(self.base, "directions-zero")
        for r in self.rows:
            r.set_alpha(0.0)
        self.base = None

    def _respan(self, span: int) -> None:
        for r in self.rows:
            with QSignalBlocker(r.slider):
                r.slider.setFloatRange(-float(span), float(span))

    # --- finding, files, tags -------------------------------------------------------------------------------------------
    def find_dialog(self, method: str = "interfacegan") -> FindDirectionsDialog | None:
        entry = self.state.current
        if entry is None:
            return None
        self.dialog = FindDirectionsDialog(self, entry, self.state.z.copy(), self.tagged, method)
        self.dialog.found.connect(self.add_directions)
        self.dialog.modelWritten.connect(self.openModel.emit)
        self.dialog.show()
        return self.dialog

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load directions", str(Path.cwd()),
            "Directions (*.safetensors *.npy *.npz *.pt *.pth *.pkl);;latentlab directions (*.safetensors);;"
            "InterFaceGAN boundaries (*.npy);;GANSpace components (*.npz *.pkl);;All files (*)")
        if path:
            self.load(Path(path))

    def load(self, path: Path) -> bool:
        from latentlab.core.directions import load_directions
        from latentlab.core.style_edit import direction_space, fit_direction

        entry = self.state.current
        if entry is None:
            return False
        if Path(path).suffix.lower() != ".safetensors":
            return self._import(Path(path))
        try:
            dirset = load_directions(path)
        except (ValueError, OSError) as exc:
            self.state.message.emit("error", f"could not load directions: {exc}")
            return False
        problems = dirset.check_model(entry.latent_dim, entry.checkpoint.sha256)
        fits_a_space = all(fit_direction(d, entry.model, default_space=None)[0] is not None
                           or direction_space(d) is not None for d in dirset)
        if dirset.latent_dim != entry.latent_dim and not fits_a_space:
            self.state.message.emit("error", f"{path.name}: " + "; ".join(problems))
            return False
        for p in problems:
            self.state.message.emit("warning", f"{path.name}: {p}")
        self.set_directions(dirset, path)
        return True

    def _import(self, path: Path) -> bool:
        """A published direction file (InterFaceGAN, GANSpace, a plain matrix) added as sliders."""
        from latentlab.core.directions.imports import import_directions
        from latentlab.core.latent_codes import read_in_space
        from latentlab.core.style_edit import direction_space

        entry = self.state.current
        assert entry is not None
        model = entry.model
        style = getattr(model, "latent_space", None) is not None
        sizes = ({"z_dim": model.z_dim, "w_dim": model.w_dim, "num_ws": model.num_ws} if style
                 else {"latent_dim": entry.latent_dim})
        try:
            dirset, guess = read_in_space(lambda **space: import_directions(path, **sizes, **space),
                                          model.latent_space if style else None)
            if guess:
                self.state.message.emit("info", f"{path.name} does not say its space: taken as {guess} directions")
        except (LatentlabError, OSError) as exc:
            self.state.message.emit("error", f"could not import directions: {exc}")
            return False
        self.add_directions(dirset)
        spaces = sorted({direction_space(d) or "z" for d in dirset})
        self.status.setText(f"imported {len(dirset)} direction(s) from {path.name} ({', '.join(spaces)} space)")
        return True

    def save_dialog(self) -> None:
        if not self.set:
            return
        start = str(self.file or Path.cwd() / "directions.safetensors")
        path, _ = QFileDialog.getSaveFileName(self, "Save directions", start, "Directions (*.safetensors)")
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> Path | None:
        from latentlab.core.directions import save_directions

        try:
            out = save_directions(self.set, path)
        except (ValueError, OSError) as exc:
            self.state.message.emit("error", f"could not save directions: {exc}")
            return None
        self.state.extras(self.state.current).directions_file = Path(out)
        self.state.message.emit("info", f"directions saved to {out}")
        return Path(out)

    def tag_current(self) -> None:
        label = self.tag_label.text().strip()
        if not label or self.state.current is None:
            self.status.setText("type a label first")
            return
        self.tagged.append((self.state.z.copy(), label))
        self._sync_buttons()
        counts = {}
        for _, lab in self.tagged:
            counts[lab] = counts.get(lab, 0) + 1
        self.status.setText("tagged: " + ", ".join(f"{k} × {v}" for k, v in counts.items()))

    # --- evaluation -------------------------------------------------------------------------------------------------
    def evaluate(self) -> None:
        from latentlab.core.data import get_dataset
        from latentlab.core.directions import evaluate_directions

        entry = self.state.current
        if entry is None or not self.set:
            return
        name = entry.model.info.dataset
        try:
            ds = get_dataset(name) if name else None
        except ValueError:
            ds = None
        if ds is None:
            self.status.setText("evaluation needs the model's dataset with ground-truth factors")
            return
        dirs = list(self.set)
        self.evaluator.start(lambda ctx: evaluate_directions(entry.model, dirs, ds, ctx=ctx),
                             label=f"evaluating {len(dirs)} directions on {ds.name}")

    def _on_evaluated(self, ev) -> None:
        self.evaluation = ev
        self._show_factor_map()
        self.cosine_map.set_matrix(ev.cosine, ev.direction_names, ev.direction_names, -1.0, 1.0)
        self.status.setText("dominant factor: " + ", ".join(f"{d} → {f}" for d, f in
                                                          zip(ev.direction_names, ev.dominant, strict=True)))
        self.tabs.setCurrentIndex(1)

    def _show_factor_map(self) -> None:
        """The raw factor change (each factor in its own unit), or each column scaled to its best direction."""
        ev = getattr(self, "evaluation", None)
        if ev is None:
            return
        if self.normalise.isChecked():
            self.factor_map.set_units("change / the factor's largest (0-1)")
            self.factor_map.set_matrix(ev.column_normalised, ev.direction_names, ev.factor_names, 0.0, 1.0)
        else:
            self.factor_map.set_units(RAW_UNITS)
            self.factor_map.set_matrix(ev.matrix, ev.direction_names, ev.factor_names, 0.0, None)

    def export_source(self, frames: int):
        """For the export dialog: a traversal along the first direction ticked for the grid."""
        from latentlab.core.export.plan import direction_traversal

        dirs = self.directions_for_grid()
        if not dirs:
            raise ValueError("no direction is ticked")
        z = self.base if self.base is not None else self.state.z
        return direction_traversal(z, dirs[0], frames, float(self.span.value()), dirs[0].name)

    def shutdown(self) -> bool:
        ok = self.evaluator.shutdown()
        if self.dialog is not None:
            ok = self.dialog.runner.shutdown() and ok
        return ok
