"""Compare 2-4 checkpoints side by side, driven by the current latent.

The current model leads; the others follow. Models with the same latent size can share the latent as it is;
when sizes differ (or the user asks), their dimensions are aligned by matching their encodings of the same
dataset samples (correlation + Hungarian matching) and each follower is driven through its matched
dimensions. Each slot decodes on its own render thread; decode times are measured in the background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel, ModelEntry
from latentlab.core.traversal import traversal_grid
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.render_bridge import RenderBridge
from latentlab.ui.safe_text import PlainLabel, plain_rich, shown
from latentlab.ui.widgets import FlowLayout, ImageCanvas, JobStrip

if TYPE_CHECKING:
    from latentlab.core.render import RenderResult

MAX_SLOTS = 4
PAD = 2


def _tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows*cols, H, W[, 3]) uint8 -> one padded grid image."""
    h, w = images.shape[1:3]
    shape = (rows * (h + PAD) - PAD, cols * (w + PAD) - PAD) + images.shape[3:]
    out = np.full(shape, 40, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + PAD): r * (h + PAD) + h, c * (w + PAD): c * (w + PAD) + w] = img
    return out


SERIES_KEPT = 4  # snapshots of a checkpoint series kept open while stepping through it


class CompareSlot(QWidget):
    """One model of the comparison: renders through the window's render service as view ``compare:<index>``."""

    def __init__(self, index: int, bridge: RenderBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.view = f"compare:{index}"
        self.title = PlainLabel("")
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.canvas = ImageCanvas()
        self.canvas.setMinimumSize(160, 160)
        self.info = PlainLabel("")
        self.info.setStyleSheet("color: #9aa3ad; font-size: 10px;")
        self.info.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.title)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.info)
        self.bridge = bridge
        self.entry: ModelEntry | None = None
        self.timing = ""
        self.mapping = ""
        self.last_result: RenderResult | None = None
        self.bridge.rendered.connect(self._on_rendered)

    def set_entry(self, entry: ModelEntry | None) -> None:
        self.entry = entry
        if entry is not None:
            self.bridge.add_model(entry.model, entry.token)  # a series snapshot is not among the open models
        else:
            self.bridge.cancel(self.view)
        self.title.setText(entry.name if entry else "")
        self.timing = self.mapping = ""
        self._update_info()
        if entry is None:
            self.canvas.clear_image()
            self.canvas.set_overlay("")
        self.setVisible(entry is not None)

    def show_latent(self, z: np.ndarray | None, note: str = "") -> None:
        if self.entry is None:
            return
        if z is None:
            self.canvas.clear_image()
            self.canvas.set_overlay(note)
            return
        self.canvas.set_overlay("")
        self.bridge.submit(self.view, z, token=self.entry.token, progressive=True)

    def show_grid(self, cells: np.ndarray) -> None:
        """cells: (rows, cols, D) latents for this slot's model."""
        if self.entry is None:
            return
        rows, cols = cells.shape[:2]
        self._grid_shape = (rows, cols)
        self.bridge.submit(self.view, cells.reshape(rows * cols, -1), tag=(rows, cols), token=self.entry.token)

    def _on_rendered(self, res: RenderResult) -> None:
        if res.view != self.view or self.entry is None:
            return
        if not res.ok:
            self.canvas.set_overlay(f"⚠ {res.error}")
            return
        self.last_result = res
        img = res.image
        if isinstance(res.tag, tuple):
            img = _tile(img, *res.tag)
        self.canvas.set_image(img, autorange=isinstance(res.tag, tuple) != getattr(self, "_was_grid", False))
        self._was_grid = isinstance(res.tag, tuple)

    def set_timing(self, text: str) -> None:
        self.timing = text
        self._update_info()

    def set_mapping(self, text: str) -> None:
        self.mapping = text
        self._update_info()

    def _update_info(self) -> None:
        self.info.setText("  ·  ".join(t for t in (self.timing, self.mapping) if t))
        self.info.setToolTip(plain_rich(self.mapping) if self.mapping else "")

    def shown_image(self) -> np.ndarray | None:
        return self.canvas.current_image()


def _encode_same(ctx, models, image):
    from latentlab.core.encode import encode_images

    out = []
    for m in models:
        ctx.check()
        out.append(encode_images(m, image)[0][0] if hasattr(m, "encode") else None)
    return out


def _timings(ctx, models):
    from latentlab.core.compare import decode_time

    out = []
    for i, m in enumerate(models):
        ctx.check()
        out.append(decode_time(m, runs=15))
        ctx.progress((i + 1) / len(models), "timing decodes")
    return out


def _open_snapshot(ctx, path):
    from latentlab.core.checkpoint import open_checkpoint

    return open_checkpoint(path)


class ComparePanel(QWidget):
    def __init__(self, state: AppModel, bridge: RenderBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.on_screen = True  # until a dock says otherwise
        self.state = state
        self._build_controls()
        controls = self._controls_layout()
        slots_row = self._build_slots(bridge)
        self._build_footer()
        self._build_jobs()
        self._assemble(controls, slots_row)
        self._init_state()
        self._connect(state)
        self._fill_models()

    def _build_controls(self) -> None:
        """The tick list of models, alignment, grid, same-sample and checkpoint-series controls."""
        self.models_list = QListWidget()
        self.models_list.setMaximumHeight(90)
        self.models_list.setToolTip("Tick up to 3 open models to compare with the current one")
        self.align_box = QCheckBox("align dimensions by encodings")
        self.align_box.setToolTip("Match dimensions by the correlation of both models' encodings of the same "
                                  "dataset samples (Hungarian matching); needed when latent sizes differ")
        self.align_button = QPushButton("Align")
        self.grid_box = QCheckBox("traversal grid")
        self.grid_box.setToolTip("Show the same traversal grid (the current model's dims, mapped) for each model")
        self.grid_dims = QSpinBox()
        self.grid_dims.setRange(1, 10)
        self.grid_dims.setValue(4)
        self.grid_dims.setPrefix("rows ")
        self.sample_button = QPushButton("Encode same sample")
        self.sample_button.setToolTip("Encode one dataset sample with every model and show each reconstruction")
        self.sample_seed = QSpinBox()
        self.sample_seed.setRange(0, 2**31 - 1)
        self.sample_seed.setPrefix("seed ")
        self.series_button = QPushButton("Checkpoint series…")
        self.series_button.setToolTip("Pick the snapshots of one training run and step through them with a slider")
        self.own_series_button = QPushButton("Its training series")
        self.own_series_button.setToolTip("Step through the snapshots shipped beside the current checkpoint "
                                          "(its .series folder)")
        self.own_series_button.setEnabled(False)
        self.concepts_button = QPushButton("Concept path")
        self.concepts_button.setToolTip("Read each factor out of every snapshot's latents: when was each factor "
                                        "learned? (needs the run's dataset; in the background)")
        self.concepts_button.setVisible(False)
        self.series_slider = QSlider(Qt.Orientation.Horizontal)
        self.series_slider.setVisible(False)
        self.series_label = PlainLabel("")

    def _controls_layout(self) -> QVBoxLayout:
        """The controls in two wrapping rows: alignment and grid; sample and series."""
        controls = QVBoxLayout()
        row1 = FlowLayout()
        row1.addWidget(self.align_box)
        row1.addWidget(self.align_button)
        row1.addWidget(self.grid_box)
        row1.addWidget(self.grid_dims)
        row1.addStretch(1)
        row2 = FlowLayout()
        row2.addWidget(self.sample_button)
        row2.addWidget(self.sample_seed)
        row2.addWidget(self.series_button)
        row2.addWidget(self.own_series_button)
        row2.addWidget(self.concepts_button)
        row2.addWidget(self.series_slider, 1)
        row2.addWidget(self.series_label)
        controls.addLayout(row1)
        controls.addLayout(row2)
        return controls

    def _build_slots(self, bridge: RenderBridge) -> QHBoxLayout:
        """One hidden slot per comparable model, side by side."""
        self.slots = [CompareSlot(i, bridge) for i in range(MAX_SLOTS)]
        slots_row = QHBoxLayout()
        for s in self.slots:
            slots_row.addWidget(s, 1)
            s.setVisible(False)
        return slots_row

    def _build_footer(self) -> None:
        """The metrics table and the status line."""
        self.metrics = QTableWidget(0, 0)
        self.metrics.setMaximumHeight(150)
        self.metrics.setToolTip("Stored metric figures of each model; the best value in each row is highlighted")
        self.status = PlainLabel("")
        self.status.setStyleSheet("color: #9aa3ad;")

    def _build_jobs(self) -> None:
        """Background jobs: alignment, same-sample encoding, decode timing, series snapshots."""
        self.aligner = JobRunner(self, "align")
        self.sampler = JobRunner(self, "encode")
        self.timer_job = JobRunner(self, "timing")
        self.series_job = JobRunner(self, "snapshot")
        self.concepts_job = JobRunner(self, "concept path")

    def _assemble(self, controls: QVBoxLayout, slots_row: QHBoxLayout) -> None:
        """Models list and controls on top, the slots, then status, progress and metrics."""
        top = QHBoxLayout()
        top.addWidget(self.models_list, 1)
        top.addLayout(controls, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addLayout(slots_row, 1)
        lay.addWidget(self.status)
        lay.addWidget(JobStrip(self.aligner))
        lay.addWidget(JobStrip(self.concepts_job))
        lay.addWidget(self.metrics)

    def _init_state(self) -> None:
        """Alignments, sample latents and the checkpoint series, all empty until asked for."""
        self.alignments: list = []
        self.sample_latents: list | None = None
        self.series: list = []
        self._series_cache: dict[str, ModelEntry] = {}
        self._series_shown: ModelEntry | None = None
        self.metrics_source = None  # set by the metrics feature: (sha256) -> {metric: value}

    def _connect(self, state: AppModel) -> None:
        """Controls, job runners and the app model's events."""
        self._refresh_timer = QTimer(self, singleShot=True, interval=0, timeout=self.refresh)
        self.models_list.itemChanged.connect(self._on_ticked)
        self.align_box.toggled.connect(lambda on: self._setup())
        self.align_button.clicked.connect(self.align)
        self.grid_box.toggled.connect(lambda _on: self.refresh())
        self.grid_dims.valueChanged.connect(lambda _v: self.refresh())
        self.sample_button.clicked.connect(self.encode_same_sample)
        self.series_button.clicked.connect(self.choose_series)
        self.own_series_button.clicked.connect(self.open_own_series)
        state.currentModelChanged.connect(self._sync_own_series)
        self.series_slider.valueChanged.connect(self._series_step)
        self.concepts_button.clicked.connect(self.concept_path)
        self.concepts_job.finished.connect(self._show_concepts)
        self.concepts_job.failed.connect(lambda m: self.status.setText(f"⚠ concept path: {m}"))
        self.aligner.finished.connect(self._on_aligned)
        self.aligner.failed.connect(lambda m: self.status.setText(f"⚠ alignment failed: {m}"))
        self.sampler.finished.connect(self._on_sample)
        self.sampler.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.timer_job.finished.connect(self._on_timings)
        self.series_job.finished.connect(self._on_snapshot)
        self.series_job.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        state.modelsChanged.connect(self._fill_models)
        state.compareChanged.connect(self._fill_models)
        state.currentModelChanged.connect(lambda _e: self._fill_models())
        state.latentChanged.connect(self._on_latent)

    # --- which models ---------------------------------------------------------------------------------------------
    def _fill_models(self) -> None:
        """The tick list shows the app model's compare set (every open model but the current one)."""
        ticked = {e.token for e in self.state.compare}
        self.models_list.blockSignals(True)
        self.models_list.clear()
        for entry in self.state.models:
            if entry is self.state.current:
                continue
            item = QListWidgetItem(shown(entry.name, 200))
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if entry.token in ticked else Qt.CheckState.Unchecked)
            self.models_list.addItem(item)
        self.models_list.blockSignals(False)
        self._setup()

    def followers(self) -> list[ModelEntry]:
        out = [e for e in self.state.compare if e is not self.state.current]
        if self.series and self._series_entry() is not None:
            out.append(self._series_entry())
        return out[: MAX_SLOTS - 1]

    def set_followers(self, entries: list[ModelEntry]) -> None:
        for e in list(self.state.compare):
            if e not in entries:
                self.state.set_compared(e, False)
        for e in entries:
            self.state.set_compared(e, True)

    def _on_ticked(self, item: QListWidgetItem) -> None:
        entry = item.data(Qt.ItemDataRole.UserRole)
        on = item.checkState() == Qt.CheckState.Checked
        if on and len([e for e in self.state.compare if e is not self.state.current]) >= MAX_SLOTS - 1:
            with QSignalBlocker(self.models_list):
                item.setCheckState(Qt.CheckState.Unchecked)
            self.status.setText(f"at most {MAX_SLOTS} models side by side")
            return
        self.state.set_compared(entry, on)

    def entries(self) -> list[ModelEntry]:
        lead = self.state.current
        return ([lead] if lead else []) + self.followers()

    def _setup(self) -> None:
        entries = self.entries()
        for i, slot in enumerate(self.slots):
            entry = entries[i] if i < len(entries) else None
            if slot.entry is not entry:
                slot.set_entry(entry)
        self.alignments = []
        self.sample_latents = None
        dims = {e.latent_dim for e in entries}
        needs_align = len(dims) > 1
        if needs_align and not self.align_box.isChecked():
            self.align_box.blockSignals(True)
            self.align_box.setChecked(True)
            self.align_box.blockSignals(False)
        self.align_button.setEnabled(len(entries) > 1 and self.align_box.isChecked())
        if len(entries) > 1 and self.align_box.isChecked():
            self.align()
        if len(entries) > 1:
            self.timer_job.start(_timings, [e.model for e in entries], label="timing decodes")
        self._fill_metrics()
        self._refresh_timer.start()

    # --- alignment ------------------------------------------------------------------------------------------------
    def align(self) -> None:
        from latentlab.core.compare import align_many

        entries = self.entries()
        if len(entries) < 2:
            return
        ds = entries[0].dataset
        if ds is None:
            self.status.setText("alignment needs the lead model's dataset; this model names none")
            return
        if not all(e.encodes for e in entries):
            self.status.setText("alignment needs every model to encode; generators cannot be aligned by encodings")
            return
        self.aligner.start(lambda ctx: align_many([e.model for e in entries], ds, n=1500, ctx=ctx),
                           label=f"aligning {len(entries)} models on {ds.name}")

    def _on_aligned(self, alignments) -> None:
        self.alignments = alignments
        for slot, al in zip(self.slots[1:], alignments[1:], strict=False):
            if al is not None:
                strong = int((al.strength > 0.5).sum())
                slot.set_mapping(f"{len(al.pairs)} dims matched ({strong} with |r| > 0.5)")
                slot.info.setToolTip(plain_rich("\n".join(al.describe())))
        self.status.setText("aligned by encodings")
        self.refresh()

    # --- rendering ------------------------------------------------------------------------------------------------
    def _on_latent(self, source: str) -> None:
        self.sample_latents = None
        if self.on_screen:
            self.refresh()

    def latent_for(self, i: int, z: np.ndarray) -> tuple[np.ndarray | None, str]:
        """The latent follower ``i`` shows for the lead's ``z``, or None with a reason."""
        entries = self.entries()
        if i == 0:
            return z, ""
        entry = entries[i]
        if self.align_box.isChecked():
            if len(self.alignments) > i and self.alignments[i] is not None:
                return self.alignments[i].map_latent(z), ""
            return None, "aligning…" if self.aligner.busy else "not aligned"
        if entry.latent_dim == len(z):
            return z, ""
        return None, "latent sizes differ: align by encodings"

    def refresh(self) -> None:
        entries = self.entries()
        z = self.state.z
        if not entries or z.size == 0 or not self.on_screen:
            return  # a hidden panel catches up in set_on_screen
        if self.grid_box.isChecked():
            self._refresh_grid(entries, z)
            return
        for i, slot in enumerate(self.slots[: len(entries)]):
            if self.sample_latents is not None:
                zi = self.sample_latents[i]
                slot.show_latent(zi, "" if zi is not None else "no encoder")
                continue
            zi, why = self.latent_for(i, z)
            slot.show_latent(zi, why)

    def _refresh_grid(self, entries, z) -> None:
        lead = entries[0]
        act = lead.activity
        dims = [j for j in range(lead.latent_dim) if act is None or act.labels[j] != "passive"]
        dims = dims[: self.grid_dims.value()]
        lo, hi = self.state.bounds()
        cells = traversal_grid(z, dims, 7, lo, hi)
        for i, slot in enumerate(self.slots[: len(entries)]):
            if i == 0:
                slot.show_grid(cells)
                continue
            mapped, why = self.latent_for(i, cells.reshape(-1, cells.shape[-1]))
            if mapped is None:
                slot.show_latent(None, why)
            else:
                slot.show_grid(np.asarray(mapped).reshape(cells.shape[0], cells.shape[1], -1))

    # --- same sample, timings, metrics ----------------------------------------------------------------------------
    def encode_same_sample(self) -> None:
        entries = self.entries()
        ds = entries[0].dataset if entries else None
        if ds is None:
            self.status.setText("no dataset to sample from")
            return
        images, factors = ds.sample(1, self.sample_seed.value())
        self.status.setText("encoded: " + ds.describe(factors)[0])
        self.sampler.start(_encode_same, [e.model for e in entries], images, label="encoding the sample")

    def _on_sample(self, latents) -> None:
        self.sample_latents = latents
        self.refresh()

    def _on_timings(self, timings) -> None:
        for slot, t in zip(self.slots, timings, strict=False):
            slot.set_timing(f"decode {t.median_ms:.1f} ms ({t.device})")

    def _fill_metrics(self) -> None:
        entries = self.entries()
        if self.metrics_source is None or len(entries) < 2:
            self.metrics.setVisible(False)
            return
        figures = [self.metrics_source(e.checkpoint.sha256) or {} for e in entries]
        names = sorted(set().union(*figures))
        self.metrics.setVisible(bool(names))
        self.metrics.clear()
        self.metrics.setRowCount(len(names))
        self.metrics.setColumnCount(len(entries))
        self.metrics.setHorizontalHeaderLabels([e.name for e in entries])
        self.metrics.setVerticalHeaderLabels(names)
        for r, name in enumerate(names):
            vals = [f.get(name) for f in figures]
            present = [v for v in vals if v is not None]
            best = max(present) if present else None
            for c, v in enumerate(vals):
                item = QTableWidgetItem("—" if v is None else f"{v:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if v is not None and len(present) > 1 and v == best and max(present) - min(present) > 1e-3:
                    item.setBackground(Qt.GlobalColor.darkGreen)
                self.metrics.setItem(r, c, item)

    # --- checkpoint series ----------------------------------------------------------------------------------------
    def choose_series(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Snapshots of one training run", "",
                                                "Checkpoints (*.safetensors *.pt *.ckpt);;All files (*)")
        if paths:
            self.set_series(paths)

    def _sync_own_series(self, entry=None) -> None:
        entry = self.state.current
        self.own_series_button.setEnabled(entry is not None and len(entry.sidecars.series) > 1)

    def open_own_series(self) -> None:
        entry = self.state.current
        if entry is not None and entry.sidecars.series:
            self.set_series(entry.sidecars.series)

    def set_series(self, paths) -> None:
        from latentlab.core.compare import checkpoint_series

        self.series = checkpoint_series(paths)
        self.series_slider.blockSignals(True)
        self.series_slider.setRange(0, max(0, len(self.series) - 1))
        self.series_slider.setValue(len(self.series) - 1)
        self.series_slider.blockSignals(False)
        self.series_slider.setVisible(len(self.series) > 1)
        self.concepts_button.setVisible(len(self.series) > 1)
        self._series_step(self.series_slider.value())

    def concept_path(self) -> bool:
        """Compute the series' concept-space path (core.concept_paths) in the background, then show it."""
        from latentlab.ui.panels.concept_view import _concepts_job

        entry = self.state.current
        dataset = entry.dataset_name if entry is not None else None
        if len(self.series) < 2 or not dataset:
            self.status.setText("a concept path needs a series of two or more snapshots and the run's dataset")
            return False
        steps = [s.step if s.step is not None else i for i, s in enumerate(self.series)]
        self.concepts_job.start(_concepts_job, [s.path for s in self.series], steps, [s.name for s in self.series],
                                dataset, 1000, label="concept path of the series")
        return True

    def _show_concepts(self, path) -> None:
        from latentlab.ui.panels.concept_view import ConceptPathView

        self.concept_view = ConceptPathView(path, self)
        self.concept_view.show()

    def _series_entry(self) -> ModelEntry | None:
        if not self.series:
            return None
        s = self.series[self.series_slider.value()]
        # While the next snapshot loads, keep showing the previous one rather than an empty slot.
        return self._series_cache.get(str(s.path), self._series_shown)

    def _series_step(self, i: int) -> None:
        if not self.series:
            return
        s = self.series[i]
        self.series_label.setText(f"{s.name}" + (f" (step {s.step})" if s.step is not None else ""))
        if str(s.path) in self._series_cache:
            self._series_shown = self._series_cache[str(s.path)]
            self._setup()
        else:
            self.series_job.start(_open_snapshot, s.path, label=f"opening {s.name}")

    def _on_snapshot(self, ck) -> None:
        self._series_cache[str(ck.path)] = self._series_shown = ModelEntry(ck)
        # Snapshots are whole models: keep the few last stepped through, let the render service forget the rest.
        while len(self._series_cache) > SERIES_KEPT:
            old = self._series_cache.pop(next(iter(self._series_cache)))
            if old is not self._series_shown:
                self.bridge.remove_model(old.token)
        self._setup()

    def shutdown(self) -> bool:
        ok = True
        for job in (self.aligner, self.sampler, self.timer_job, self.series_job, self.concepts_job):
            ok = job.shutdown() and ok
        return ok

    def set_on_screen(self, on: bool) -> None:
        """Called by the dock when its tab is shown or hidden: hidden slots do not follow the latent."""
        self.on_screen = on
        if on:
            self.refresh()
