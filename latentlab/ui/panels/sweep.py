"""Sweep view: many checkpoints at once, as a sortable table, a metric x metric rank-correlation heatmap
(Locatello et al. 2019, Fig. 3) and a metric-vs-hyper-parameter violin plot per objective.

Open a folder of checkpoints (figures already in the results store show at once; Evaluate computes the rest
in the background, on Ray or in turn, with progress, an ETA and Cancel) or read every checkpoint the store
has figures for. Double-click a row to open that checkpoint in the explorer; "Add to Compare" opens it beside
the current model. Self-contained: ``attach(window)`` is all the main window does with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from latentlab.core.sidecars import is_sidecar
from latentlab.core.text import printable
from latentlab.ui.charts import Heatmap
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.widgets import FlowLayout, JobStrip, plot_widget

if TYPE_CHECKING:
    from latentlab.core.sweep import table as sweep_table

FIXED_COLUMNS = ("checkpoint", "objective", "hyper-parameters")
SHORT = {  # figure -> the heatmap's axis label (the full name is in the table's header)
    "mig": "MIG", "sap": "SAP", "modularity": "Mod", "explicitness": "Expl", "dci_disentanglement": "D",
    "dci_completeness": "C", "dci_informativeness": "I", "betavae": "BetaVAE", "factorvae": "FactorVAE",
    "infom": "InfoM", "infoc": "InfoC", "infoe": "InfoE", "udr_spearman": "UDR-S", "udr_lasso": "UDR-L",
    "gaussian_tc": "TC", "mean_pairwise_mi": "pair MI", "kl_total": "KL",
}
MAX_TEXT_COLUMN = 240  # px: long run names and settings are elided (the tooltip has them whole)


def short_label(column: str) -> str:
    key = column.split(".", 1)[-1]
    return SHORT.get(key, key)


def checkpoints_in(folder: Path) -> list[str]:
    """The checkpoints of a sweep folder: its .safetensors files and its runs' final files (not their series)."""
    files = [p for p in sorted(folder.rglob("*.safetensors"))
             if not is_sidecar(p) and not any(part.endswith(".series") for part in p.relative_to(folder).parts)]
    return [str(p) for p in files]


def _sweep_job(ctx, files, opts, compute: bool, on_ray: bool):
    from latentlab.core.jobs import JobContext
    from latentlab.core.sweep.engine import RayBackend, SequentialBackend
    from latentlab.core.sweep.evaluate import run_sweep

    start = time.monotonic()

    def progress(f: float, m: str = "") -> None:
        from latentlab.core.sweep.engine import eta_text

        eta = eta_text(time.monotonic() - start, f)
        ctx.progress(f, f"{m}, {eta}" if eta else m)

    backend = RayBackend() if (compute and on_ray) else SequentialBackend()
    try:
        return run_sweep(files, opts, backend, JobContext(progress, ctx.partial, ctx.should_stop), compute=compute)
    finally:
        backend.close()


def _store_job(ctx, names):
    from latentlab.core.store import ResultStore
    from latentlab.core.sweep import table as sweep_table

    ctx.progress(0.5, "reading the results store")
    return sweep_table.from_store(ResultStore(), names)


class _NumberItem(QTableWidgetItem):
    """Sorts by value (missing figures last), shows three decimals."""

    def __init__(self, value: float | None):
        ok = value is not None and np.isfinite(value)
        super().__init__(f"{value:.3f}" if ok else "—")
        self.key = float(value) if ok else float("inf")
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.key < getattr(other, "key", float("inf"))


class ViolinPlot(QWidget):
    """One metric against one hyper-parameter for the models of one objective: a violin (Gaussian kernel
    density) per value, its median as a bar and every model as a dot."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(y=True, alpha=0.2)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.groups: list[tuple[object, np.ndarray]] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_groups(self, groups, metric: str, hparam: str, title: str) -> None:
        self.plot.clear()
        self.groups = list(groups)
        self.plot.setTitle(title, color="#c9ced4", size="10pt")
        self.plot.setLabel("left", metric)
        self.plot.setLabel("bottom", hparam)
        self.plot.getAxis("bottom").setTicks([[(i, str(v)) for i, (v, _) in enumerate(self.groups)]])
        rng = np.random.default_rng(0)
        for i, (_, ys) in enumerate(self.groups):
            if len(ys) > 1 and np.ptp(ys) > 0:
                grid = np.linspace(ys.min(), ys.max(), 60)
                bw = 1.06 * ys.std() * len(ys) ** -0.2  # Silverman's rule
                dens = np.exp(-0.5 * ((grid[:, None] - ys[None, :]) / bw) ** 2).sum(1)
                half = 0.4 * dens / dens.max()
                xs = np.concatenate([i - half, (i + half)[::-1], [i - half[0]]])
                yy = np.concatenate([grid, grid[::-1], [grid[0]]])
                self.plot.plot(xs, yy, pen=pg.mkPen("#5aa9e6", width=1.5), fillLevel=None,
                               brush=pg.mkBrush(90, 169, 230, 60))
            med = float(np.median(ys))
            self.plot.plot([i - 0.25, i + 0.25], [med, med], pen=pg.mkPen("#f0c674", width=2.5))
            jitter = rng.uniform(-0.08, 0.08, len(ys))
            self.plot.plot(i + jitter, ys, pen=None, symbol="o", symbolSize=6, symbolBrush="#e6e6e6",
                           symbolPen=None)
        self.plot.setXRange(-0.6, max(0.6, len(self.groups) - 0.4))


class SweepPanel(QWidget):
    openRequested = Signal(str)  # a checkpoint to show in the explorer
    compareRequested = Signal(str)  # a checkpoint to add to Compare
    message = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        from latentlab.core.sweep import table as sweep_table

        super().__init__(parent)
        self.runner = JobRunner(self, "sweep")
        self.files: list[str] = []
        self.data = sweep_table.SweepTable([], [])
        self.names: dict[str, str] = {}  # SHA-256 -> a name, for the store's rows

        top = self._build_toolbar()
        row_bar = self._build_table()
        pick = self._build_charts()
        self._assemble(top, row_bar, pick)
        self._connect()
        self._sync_buttons()

    def _build_toolbar(self) -> FlowLayout:
        """Where the checkpoints come from, which metrics, n, UDR, Ray, and Evaluate."""
        self.open_button = QPushButton("Open folder…")
        self.open_button.setToolTip("A folder of checkpoints (a seed sweep, a training grid's runs)")
        self.store_button = QPushButton("From the store")
        self.store_button.setToolTip("Every checkpoint the results store has figures for")
        self.metrics = QLineEdit("mig,sap,modularity,infomec")
        self.metrics.setToolTip("Metrics to evaluate (comma-separated names, or 'all')")
        self.n = QSpinBox()
        self.n.setRange(100, 100000)
        self.n.setSingleStep(1000)
        self.n.setValue(10000)
        self.n.setPrefix("n ")
        self.udr = QCheckBox("UDR")
        self.udr.setToolTip("Also UDR (Duan et al. 2020): agreement with the other seeds of the same setting")
        self.on_ray = QCheckBox("on Ray")
        self.on_ray.setToolTip("Run the evaluation as Ray tasks on a local Ray (else one after another)")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Compute the figures the store does not have yet")
        top = FlowLayout()
        for w in (self.open_button, self.store_button, QLabel("metrics"), self.metrics, self.n, self.udr, self.on_ray,
                  self.evaluate_button):
            top.addWidget(w)
        return top

    def _build_table(self) -> QHBoxLayout:
        """The sortable table of models (a double click opens one) and the bar of row actions and status."""
        self.table = QTableWidget()
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.cellDoubleClicked.connect(lambda r, _c: self.open_row(r))
        self.explore_button = QPushButton("Open in explorer")
        self.compare_button = QPushButton("Add to Compare")
        self.status = QLabel("Open a folder of checkpoints, or read the results store.")
        self.status.setWordWrap(True)
        row_bar = QHBoxLayout()
        row_bar.addWidget(self.explore_button)
        row_bar.addWidget(self.compare_button)
        row_bar.addWidget(self.status, 1)
        return row_bar

    def _build_charts(self) -> QHBoxLayout:
        """The rank-correlation heatmap, the violins and their objective / metric / hyper-parameter pickers."""
        self.heatmap = Heatmap("rank correlation between metrics (Spearman, across models)", symmetric=True,
                               units="Spearman ρ (-1 to 1)",
                               empty_text="needs three models with figures")
        self.heatmap.bar.setLabel("right", "Spearman ρ")
        self.objective_box = QComboBox()
        self.metric_box = QComboBox()
        self.hparam_box = QComboBox()
        for combo, tip in ((self.objective_box, "objective"), (self.metric_box, "metric"), (self.hparam_box, "hyper-parameter")):
            combo.setToolTip(tip)
            combo.currentIndexChanged.connect(self._draw_violins)
        self.objective_box.currentIndexChanged.connect(self._fill_hparams)
        self.violins = ViolinPlot()
        pick = QHBoxLayout()
        for w in (QLabel("objective"), self.objective_box, QLabel("metric"), self.metric_box, QLabel("against"), self.hparam_box):
            pick.addWidget(w)
        return pick

    def _assemble(self, top: FlowLayout, row_bar: QHBoxLayout, pick: QHBoxLayout) -> None:
        """Toolbar and progress on top; table (left) and charts (right) in a splitter."""
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.heatmap, 1)
        rl.addLayout(pick)
        rl.addWidget(self.violins, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        ll.addLayout(row_bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(JobStrip(self.runner))
        lay.addWidget(split, 1)

    def _connect(self) -> None:
        """Buttons, the table's selection and the runner's outcomes."""
        self.open_button.clicked.connect(self._choose_folder)
        self.store_button.clicked.connect(self.load_store)
        self.evaluate_button.clicked.connect(lambda: self.load_files(self.files, compute=True))
        self.explore_button.clicked.connect(lambda: self.open_row(self.table.currentRow()))
        self.compare_button.clicked.connect(lambda: self.open_row(self.table.currentRow(), compare=True))
        self.table.itemSelectionChanged.connect(self._sync_buttons)
        self.runner.finished.connect(self._on_result)
        self.runner.failed.connect(lambda msg: self._say(f"sweep failed: {msg}", "error"))
        self.runner.cancelled.connect(lambda: self._say("cancelled: figures finished before are in the store"))
        self.runner.busyChanged.connect(self._sync_buttons)

    # --- opening ---------------------------------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a sweep folder", str(Path.cwd()))
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path) -> None:
        files = checkpoints_in(Path(folder))
        if not files:
            self._say(f"no checkpoints in {printable(str(folder))}", "warning")
            return
        self.load_files(files, compute=False)

    def _options(self):
        from latentlab.core.metrics import parse_names
        from latentlab.core.sweep.evaluate import SweepOptions
        from latentlab.core.sweep.tasks import EvalSettings

        return SweepOptions(metrics=parse_names(self.metrics.text() or "all"),
                            settings=EvalSettings(n=int(self.n.value()), device="cpu"), udr=self.udr.isChecked())

    def load_files(self, files: list[str], compute: bool) -> None:
        """Show ``files`` with their stored figures (``compute``: and evaluate what is missing)."""
        if not files:
            return
        try:
            opts = self._options()
        except ValueError as exc:
            self._say(str(exc), "error")
            return
        self.files = list(files)
        verb = "evaluating" if compute else "reading"
        self.runner.start(_sweep_job, self.files, opts, compute, self.on_ray.isChecked(),
                          label=f"{verb} {len(files)} checkpoints")

    def load_store(self) -> None:
        self.files = []
        self.runner.start(_store_job, dict(self.names), label="results store")

    def _on_result(self, result) -> None:
        from latentlab.core.sweep import table as sweep_table

        if isinstance(result, sweep_table.SweepTable):
            self.show_table(result)
            self._say(f"{len(result.rows)} checkpoint(s) with figures in the results store")
            return
        table = sweep_table.from_report(result)
        for r in table.rows:
            if r.sha256:
                self.names[r.sha256] = r.label
        self.show_table(table)
        missing = sum(1 for r in table.rows for c in table.columns if r.values.get(c) is None)
        done = sum(1 for r in result.rows for _ in r.computed)
        text = f"{len(table.rows)} checkpoint(s); {done} figure(s) computed" if result.tasks else \
            f"{len(table.rows)} checkpoint(s) from the store"
        self._say(text + (f"; {missing} figure(s) missing (Evaluate computes them)" if missing and not result.tasks
                          else ""))

    # --- showing ---------------------------------------------------------------------------------------------------
    def show_table(self, data: sweep_table.SweepTable) -> None:
        from latentlab.core.sweep import table as sweep_table

        self.data = data
        self.table.setSortingEnabled(False)
        self.table.clear()
        headers = [*FIXED_COLUMNS, *data.columns]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(data.rows))
        varying = set(data.hyperparameters()) | {"seed"}
        for i, row in enumerate(data.rows):
            name = QTableWidgetItem(printable(row.label))
            name.setData(Qt.ItemDataRole.UserRole, i)
            tip = [printable(row.file or f"SHA-256 {row.sha256} (no file known)")]
            if row.status:
                tip.append(printable(row.status))
            name.setToolTip("\n".join(tip))
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, QTableWidgetItem(printable(row.objective or "")))
            hp = QTableWidgetItem(printable(", ".join(f"{k}={v}" for k, v in row.hparams.items() if k in varying)))
            hp.setToolTip(printable(", ".join(f"{k}={v}" for k, v in row.hparams.items())))
            self.table.setItem(i, 2, hp)
            for j, col in enumerate(data.columns):
                self.table.setItem(i, 3 + j, _NumberItem(row.values.get(col)))
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        for c in range(len(FIXED_COLUMNS)):
            self.table.setColumnWidth(c, min(self.table.columnWidth(c), MAX_TEXT_COLUMN))
        shown = [c for c in data.columns if not c.endswith("_train")]  # fits on training points: diagnostics
        matrix, cols = sweep_table.rank_correlation(data, shown)
        if len(cols) >= 2:
            labels = [short_label(c) for c in cols]
            self.heatmap.set_matrix(matrix, labels, labels, -1.0, 1.0)
        else:
            self.heatmap.clear()
        self._fill_pickers()
        self._sync_buttons()

    def _fill_pickers(self) -> None:
        for combo, items in ((self.objective_box, self.data.objectives), (self.metric_box, self.data.columns)):
            combo.blockSignals(True)
            keep = combo.currentText()
            combo.clear()
            combo.addItems(items)
            if keep in items:
                combo.setCurrentText(keep)
            combo.blockSignals(False)
        self._fill_hparams()

    def _fill_hparams(self) -> None:
        self.hparam_box.blockSignals(True)
        keep = self.hparam_box.currentText()
        self.hparam_box.clear()
        self.hparam_box.addItems(self.data.hyperparameters(self.objective_box.currentText() or None))
        if keep:
            self.hparam_box.setCurrentText(keep)
        self.hparam_box.blockSignals(False)
        self._draw_violins()

    def _draw_violins(self) -> None:
        from latentlab.core.sweep import table as sweep_table

        objective, metric, hp = self.objective_box.currentText(), self.metric_box.currentText(), self.hparam_box.currentText()
        if not (metric and hp):
            self.violins.set_groups([], metric, hp, "no hyper-parameter varies among these models")
            return
        groups = sweep_table.by_hyperparameter(self.data, objective or None, metric, hp)
        self.violins.set_groups(groups, metric, hp, f"{metric} against {hp} ({objective or 'all'})")

    # --- rows ------------------------------------------------------------------------------------------------------
    def row_at(self, table_row: int) -> sweep_table.TableRow | None:
        item = self.table.item(table_row, 0) if table_row >= 0 else None
        return None if item is None else self.data.rows[int(item.data(Qt.ItemDataRole.UserRole))]

    def open_row(self, table_row: int, compare: bool = False) -> None:
        row = self.row_at(table_row)
        if row is None:
            return
        if row.file is None:
            self._say("the store knows this checkpoint by its SHA-256 only: open its folder to open it", "warning")
            return
        (self.compareRequested if compare else self.openRequested).emit(row.file)

    def _sync_buttons(self, *_args) -> None:
        row = self.row_at(self.table.currentRow())
        can = row is not None and row.file is not None
        self.explore_button.setEnabled(can)
        self.compare_button.setEnabled(can)
        self.evaluate_button.setEnabled(bool(self.files) and not self.runner.busy)

    def _say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        if level != "info":
            self.message.emit(level, text)

    def shutdown(self) -> bool:
        return self.runner.shutdown()


def _follow(window, entry) -> None:
    window.compare.set_followers([*window.compare.followers(), entry])
    window.docks["Compare"].raise_()


def attach(window) -> SweepPanel:
    """Add the Sweep view to the main window as a dock, wired to its explorer and Compare."""
    panel = SweepPanel(window)
    dock = window._dock("Sweep", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.docks["Traversal grid"], dock)
    window.docks["Traversal grid"].raise_()
    panel.message.connect(window.show_message)
    panel.openRequested.connect(lambda path: window.models.open(Path(path), select=True))

    def to_compare(path: str) -> None:
        pending = {"path": Path(path).resolve()}

        def added() -> None:
            for entry in window.state.models:
                if Path(entry.checkpoint.path).resolve() == pending["path"]:
                    window.state.modelsChanged.disconnect(added)
                    # After Compare has listed the new model (it listens to the same signal).
                    QTimer.singleShot(0, lambda e=entry: _follow(window, e))
                    return

        window.state.modelsChanged.connect(added)
        window.models.open(Path(path), select=False)

    panel.compareRequested.connect(to_compare)
    return panel
