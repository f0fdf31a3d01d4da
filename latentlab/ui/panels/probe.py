"""The Probe dock: which latent causes which change in the output (``core.probe``), as a forest plot.

Pick the output properties (intensity, centroid, spread, and a read-out of each ground-truth factor of the
model's dataset), how far each latent is pushed (in prior SDs) and on how many prior samples; Run probes every
latent off the GUI thread with progress and Cancel. The plot shows, for the property picked, every latent's
standardised effect with its 95 % bootstrap interval; rows whose interval excludes zero are in colour. Click a
row to bring up that latent's slider.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.choices import PROBE_PROPERTIES
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import FlowLayout, JobStrip, plot_widget

SIGNIFICANT, PLAIN = "#e4572e", "#8a939c"


def _probe_job(ctx, model, names, dataset_name, n, extreme, seed):
    from latentlab.core.probe import probe, properties_for

    return probe(model, properties_for(names, dataset_name), n=n, extreme=extreme, n_boot=1000, seed=seed, ctx=ctx)


class ForestPlot(QWidget):
    """One row per latent: the standardised effect as a dot, its 95 % interval as a bar, zero as a line."""

    rowClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "effect of pushing the latent from -k to +k SD (SDs of the property)")
        self.plot.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#c9ced4", width=1)))
        self.items: list = []
        self.latents: list[int] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    def clear(self) -> None:
        for item in self.items:
            self.plot.removeItem(item)
        self.items, self.latents = [], []
        self.plot.getAxis("left").setTicks(None)

    def show_result(self, result, prop: str) -> None:
        self.clear()
        scale = result.scales.get(prop) or 1.0
        rows = [e for e in result.effects if e.prop == prop]
        self.latents = [e.latent for e in rows]
        y = np.arange(len(rows), dtype=float)
        x = np.array([e.standardised for e in rows])
        low = np.array([e.low / scale for e in rows])
        high = np.array([e.high / scale for e in rows])
        colours = [SIGNIFICANT if e.significant else PLAIN for e in rows]
        bars = pg.ErrorBarItem(x=x, y=y, left=x - low, right=high - x, beam=0.2, pen=pg.mkPen("#c9ced4"))
        dots = pg.ScatterPlotItem(x=x, y=y, size=9, brush=[pg.mkBrush(c) for c in colours], pen=None)
        for item in (bars, dots):
            self.plot.addItem(item)
            self.items.append(item)
        names = result.latent_names
        self.plot.getAxis("left").setTicks([[(i, names[result.latents.index(e.latent)]) for i, e in enumerate(rows)]])
        self.plot.setTitle(f"{prop}: each latent pushed to ±{result.extreme:g} SD on {result.n} samples",
                           color="#c9ced4", size="9pt")
        self.plot.setYRange(-0.7, len(rows) - 0.3, padding=0)

    def _on_click(self, ev) -> None:
        if not self.latents:
            return
        row = int(round(self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos()).y()))
        if 0 <= row < len(self.latents):
            self.rowClicked.emit(self.latents[row])


class ProbePanel(QWidget):
    latentSelected = Signal(int)

    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = JobRunner(self, "probe")
        self.result = None
        self._build_controls()
        self.forest = ForestPlot()
        self.status = PlainLabel("Run to see which latent moves which property of the output")
        self.status.setStyleSheet("color: #9aa3ad;")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(self.bar)
        lay.addWidget(self.props_box)
        lay.addWidget(JobStrip(self.runner))
        lay.addWidget(self.forest, 1)
        lay.addWidget(self.status)
        self._connect()
        self._on_model(state.current)

    def _build_controls(self) -> None:
        """Samples, how far, the property shown; Run; one box per property to measure."""
        self.n = QSpinBox()
        self.n.setRange(8, 100_000)
        self.n.setValue(256)
        self.n.setPrefix("n ")
        self.n.setToolTip("Prior samples each latent is pushed on (paired: the same samples at -k and +k)")
        self.extreme = QDoubleSpinBox()
        self.extreme.setRange(0.5, 20.0)
        self.extreme.setValue(3.0)
        self.extreme.setPrefix("± ")
        self.extreme.setSuffix(" SD")
        self.extreme.setToolTip("How far each latent is pushed (quantized latents: to their codebook's ends)")
        self.shown = QComboBox()
        self.shown.setToolTip("The property the forest plot shows")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Probe every latent of the current model (in the background; Cancel stops it)")
        self.bar = FlowLayout()
        for w in (self.n, self.extreme, self.run_button, self.shown):
            self.bar.addWidget(w)
        self.props_box = QWidget()  # the property boxes, rebuilt per model (see _on_model)
        self.prop_boxes: dict[str, QCheckBox] = {}

    def _connect(self) -> None:
        self.run_button.clicked.connect(self.run)
        self.shown.activated.connect(lambda _i: self._draw())
        self.runner.finished.connect(self._on_done)
        self.runner.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.runner.cancelled.connect(lambda: self.status.setText("cancelled"))
        self.forest.rowClicked.connect(self.latentSelected)
        self.state.currentModelChanged.connect(self._on_model)

    def _on_model(self, entry) -> None:
        """The properties this model can be probed for (factor read-outs need its dataset); old figures go."""
        self.runner.cancel()
        self.result = None
        self.forest.clear()
        self.shown.clear()
        names = list(PROBE_PROPERTIES)
        dataset = entry.dataset if entry is not None else None
        if dataset is not None:
            names += [f"factor:{f}" for f in dataset.factor_names]
        # A new holder with a new FlowLayout replaces the old one: taking widgets out of a layout written in
        # Python (removeWidget -> takeAt) hands Qt items that Python also owns, and the heap does not survive it.
        holder = QWidget()
        row = FlowLayout(holder)
        self.prop_boxes = {}
        for name in names:
            box = QCheckBox(name)
            box.setChecked(not name.startswith("factor:") or dataset is not None)
            box.setToolTip("a read-out of this ground-truth factor from the pixels (ridge regression on the dataset)"
                           if name.startswith("factor:") else f"the output's {name.replace('_', ' ')}")
            row.addWidget(box)
            self.prop_boxes[name] = box
        old = self.props_box
        self.layout().replaceWidget(old, holder)
        old.setParent(None)
        old.deleteLater()
        self.props_box = holder
        self.run_button.setEnabled(entry is not None)

    def run(self) -> bool:
        entry = self.state.current
        names = [n for n, box in self.prop_boxes.items() if box.isChecked()]
        if entry is None or not names:
            self.status.setText("tick at least one property" if entry is not None else "")
            return False
        self.status.setText(f"probing {entry.latent_dim} latents on {self.n.value()} samples…")
        self.runner.start(_probe_job, entry.model, names, entry.dataset_name, self.n.value(),
                          float(self.extreme.value()), 0, label=f"probing {entry.name}")
        return True

    def _on_done(self, result) -> None:
        self.result = result
        keep = self.shown.currentText()
        self.shown.clear()
        self.shown.addItems(result.properties)
        if keep in result.properties:
            self.shown.setCurrentText(keep)
        found = sorted({result.latent_names[result.latents.index(e.latent)] for e in result.effects
                        if e.significant and abs(e.standardised) >= 0.5})
        self.status.setText("latents with an effect of at least half an SD: " + (", ".join(found) or "none"))
        self._draw()

    def _draw(self) -> None:
        if self.result is not None and self.shown.currentText():
            self.forest.show_result(self.result, self.shown.currentText())

    def shutdown(self) -> bool:
        return self.runner.shutdown()
