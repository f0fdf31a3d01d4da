"""Per-dimension latent sliders: range in prior standard deviations, activity labels, lock and reset.

Passive dimensions (collapsed to the prior) are greyed and sorted last, hidden unless asked for. Quantized
models snap to their codebook values, which are drawn as ticks under each slider.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.activity import ACTIVE, MIXED, PASSIVE
from latentlab.ui.binding import bind, connect_while_alive
from latentlab.ui.condition_selector import ConditionSelector
from latentlab.ui.float_slider import FloatSlider
from latentlab.ui.icons import icon
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import FlowLayout

ACTIVITY_COLOURS = {ACTIVE: "#4caf7a", MIXED: "#d8a53a", PASSIVE: "#777d86"}
ACTIVITY_HELP = {
    ACTIVE: "active: the encoder is certain about this dimension for every input (posterior variance ≈ 0)",
    MIXED: "mixed: certain for some inputs, uncertain for others",
    PASSIVE: "passive: collapsed to the prior (posterior variance ≈ 1 for every input); it barely affects the image",
}
ORDER = {ACTIVE: 0, MIXED: 1, None: 1, PASSIVE: 2}


class TickBar(QWidget):
    """Codebook values of a quantized dimension, drawn as ticks aligned with the slider's groove."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedHeight(5)
        self.positions: list[float] = []

    def set_positions(self, positions: list[float]) -> None:
        self.positions = positions
        self.setVisible(bool(positions))
        self.update()

    def paintEvent(self, ev) -> None:
        p = QPainter(self)
        p.setPen(QPen(QColor("#9ab"), 1))
        margin = 8  # approximately the slider handle's half width, so ticks line up with handle centres
        w = self.width() - 2 * margin
        for f in self.positions:
            x = int(margin + f * w)
            p.drawLine(x, 0, x, self.height())


SPIN_FOLLOW_MS = 33  # while a slider is held, its number box redraws at most this often (about 30 times a second)


class SliderRow(QWidget):
    valueEdited = Signal(int, float, bool)  # dimension, value, commit
    grabbed = Signal(int)  # dimension: its handle was pressed, a drag may follow

    def __init__(self, dim: int, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.dim = dim
        self.activity: str | None = None
        self.name_label = PlainLabel(name)
        self.name_label.setMinimumWidth(44)
        self.badge = QLabel("")
        self.badge.setFixedWidth(58)
        self.slider = FloatSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(140)
        self.ticks = TickBar()
        self.ticks.setVisible(False)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setFixedWidth(70)
        self.spin.setKeyboardTracking(False)
        self.lock = QToolButton()
        self.lock.setCheckable(True)
        self.lock.setIcon(icon("unlock"))
        self.lock.setToolTip("Lock: keep this dimension's value when the latent changes elsewhere")
        self.lock.setAutoRaise(True)
        self.reset = QToolButton()
        self.reset.setIcon(icon("reset"))
        self.reset.setToolTip("Reset this dimension to 0")
        self.reset.setAutoRaise(True)
        slider_box = QVBoxLayout()
        slider_box.setSpacing(0)
        slider_box.setContentsMargins(0, 0, 0, 0)
        slider_box.addWidget(self.slider)
        slider_box.addWidget(self.ticks)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 1, 2, 1)
        lay.addWidget(self.name_label)
        lay.addWidget(self.badge)
        lay.addLayout(slider_box, 1)
        lay.addWidget(self.spin)
        lay.addWidget(self.lock)
        lay.addWidget(self.reset)
        self.slider.floatValueChanged.connect(lambda v: self.valueEdited.emit(self.dim, v, False))
        self.slider.sliderPressed.connect(lambda: self.grabbed.emit(self.dim))
        self.slider.sliderReleased.connect(lambda: self.valueEdited.emit(self.dim, self.slider.floatValue(), True))
        self.spin.valueChanged.connect(lambda v: self.valueEdited.emit(self.dim, float(v), True))
        self.reset.clicked.connect(lambda: self.valueEdited.emit(self.dim, 0.0, True))
        self._spin_pending: float | None = None
        self._spin_timer = QTimer(self, singleShot=True, interval=SPIN_FOLLOW_MS)
        self._spin_timer.timeout.connect(self._show_pending_spin)
        self.lock.toggled.connect(lambda on: self.lock.setIcon(icon("lock" if on else "unlock")))

    def set_range(self, lo: float, hi: float, codebook: np.ndarray | None) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.slider.setFloatRange(lo, hi)
            self.spin.setRange(lo, hi)
        if codebook is not None and hi > lo:
            self.ticks.set_positions([float((v - lo) / (hi - lo)) for v in codebook])
        else:
            self.ticks.set_positions([])

    def set_value(self, v: float) -> None:
        if self.slider.isSliderDown():
            # The handle is under the pointer and already shows v; the number box follows at most every
            # SPIN_FOLLOW_MS (first change at once, the last one when the interval ends). Redrawing it for
            # each of hundreds of changes a second cost the GUI thread about a quarter of its time per change
            # in a fast drag, time the preview's frames then waited for; nobody reads digits that fast.
            self._spin_pending = v
            if not self._spin_timer.isActive():
                self._show_pending_spin()
                self._spin_timer.start()
            return
        self._spin_timer.stop()
        self._spin_pending = None
        # QAbstractSpinBox repaints on every setValue, changed or not: skip rows that already show v.
        spin_shows = self._spin_shows(v)
        slider_shows = self.slider.isSliderDown() or abs(self.slider.floatValue() - v) <= self.slider.floatStep() / 2
        if spin_shows and slider_shows:
            return
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            if not self.slider.isSliderDown():
                self.slider.setFloatValue(v)
            self.spin.setValue(v)

    def _spin_shows(self, v: float) -> bool:
        return abs(self.spin.value() - v) < 0.5 * 10.0 ** -self.spin.decimals()

    def _show_pending_spin(self) -> None:
        if self._spin_pending is not None:
            v, self._spin_pending = self._spin_pending, None
            if not self._spin_shows(v):
                with QSignalBlocker(self.spin):
                    self.spin.setValue(v)

    def set_activity(self, label: str | None, detail: str = "") -> None:
        self.activity = label
        if label is None:
            self.badge.setText("")
            self.badge.setToolTip("")
            self.setToolTip("")
        else:
            colour = ACTIVITY_COLOURS[label]
            self.badge.setText(label)
            self.badge.setStyleSheet(f"color: {colour}; font-size: 10px;")
            tip = ACTIVITY_HELP[label] + (f"\n{detail}" if detail else "")
            self.badge.setToolTip(tip)
        passive = label == PASSIVE
        self.name_label.setStyleSheet("color: #777d86;" if passive else "")
        self.slider.setStyleSheet("QSlider::handle { background: #666; }" if passive else "")


class LatentSlidersPanel(QWidget):
    encodeRequested = Signal()
    dimensionGrabbed = Signal(int)  # a slider's handle was pressed

    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.rows: list[SliderRow] = []
        self._effects: dict[int, float] = {}
        self._build_tools()
        self._build_history()
        self._build_layer_picker()
        top = self._top_area()
        self._assemble(top)
        self._connect_state()
        self._rebuild(state.current)

    def _build_tools(self) -> None:
        """Range, passive toggle, random / zero / encode buttons."""
        self.show_passive = QCheckBox("show passive")
        self.show_passive.setToolTip("Passive dimensions collapsed to the prior and barely change the image")
        bind(self.show_passive, self.state.view, "show_passive")
        self.show_passive.toggled.connect(self._layout_rows)
        self.range_spin = QDoubleSpinBox()
        self.range_spin.setRange(0.5, 10.0)
        self.range_spin.setSingleStep(0.5)
        self.range_spin.setPrefix("± ")
        self.range_spin.setSuffix(" σ")
        self.range_spin.setToolTip("Slider range in prior standard deviations")
        bind(self.range_spin, self.state.view, "range_std")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seed of the random prior sample")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("Draw a latent from the prior with this seed (R); the seed then advances")
        self.random_button.clicked.connect(self._random)
        self.reset_button = QPushButton("Zero")
        self.reset_button.setToolTip("Reset every unlocked dimension to 0 (0)")
        self.reset_button.clicked.connect(self.state.reset_all)
        self.encode_button = QPushButton("Encode sample")
        self.encode_button.setToolTip("Encode a random sample of the model's dataset (E)")
        self.encode_button.clicked.connect(self.encodeRequested)

    def _build_history(self) -> None:
        """Undo and redo."""
        self.undo_button = QToolButton()
        self.undo_button.setIcon(icon("undo"))
        self.undo_button.setToolTip("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.state.undo)
        self.redo_button = QToolButton()
        self.redo_button.setIcon(icon("redo"))
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.state.redo)

    def _build_layer_picker(self) -> None:
        """The summary line and, for W+ and S, the layer whose part of the latent the sliders show."""
        self.summary = PlainLabel("")
        self.summary.setStyleSheet("color: #9aa3ad;")
        # W+ has one w per synthesis layer (18 x 512 at 1024 px): the sliders show one layer's w at a time.
        self.layer = QSpinBox()
        self.layer.setPrefix("layer ")
        self.layer.setToolTip("W+: the synthesis layer whose w these sliders move (0 = coarsest); "
                              "S: the layer whose style channels they move")
        self.layer.setVisible(False)
        self.layer.valueChanged.connect(lambda _v: self._rebuild(self.state.current))
        self.rank_button = QPushButton("Rank by effect")
        self.rank_button.setToolTip("StyleSpace: order this layer's channels by how much each moves the image at "
                                    "the current latent (strongest first)")
        self.rank_button.setVisible(False)
        self.rank_button.clicked.connect(self.rank_channels)
        self.ranker = JobRunner(self, name="channel ranking")
        self.ranker.finished.connect(self._on_ranked)
        self.ranker.failed.connect(lambda msg: self.state.message.emit("error", f"could not rank the channels: {msg}"))

    def _top_area(self) -> QVBoxLayout:
        """Tools (wrapping in a narrow dock), summary, layer picker, a conditioned model's condition."""
        top = QVBoxLayout()
        tools = FlowLayout()  # wraps in a narrow dock
        for w in (self.reset_button, self.random_button, self.seed, self.encode_button, self.undo_button,
                  self.redo_button, self.range_spin, self.show_passive):
            tools.addWidget(w)
        top.addLayout(tools)
        top.addWidget(self.summary)
        layer_row = QHBoxLayout()
        layer_row.addWidget(self.layer, 1)
        layer_row.addWidget(self.rank_button)
        top.addLayout(layer_row)
        top.addWidget(condition := ConditionSelector(self.state))
        self.condition = condition  # a conditioned model's c (hidden for other models)
        return top

    def _assemble(self, top: QVBoxLayout) -> None:
        """The top area over the scrolled slider rows."""
        self.rows_widget = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_widget)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(0)
        self.rows_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(scroll, 1)

    def _connect_state(self) -> None:
        """Follow the app model: model, latent, activity, range, history, locks."""
        self.state.currentModelChanged.connect(self._rebuild)
        self.state.latentChanged.connect(self._sync_values)
        self.state.analysisChanged.connect(self._on_activity)
        connect_while_alive(self.state.rangeChanged, self, lambda *_: self._apply_ranges())
        self.state.historyChanged.connect(self._sync_history)
        self.state.locksChanged.connect(self._sync_locks)

    # --- building ---------------------------------------------------------------------------------------------
    def _rebuild(self, entry) -> None:
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        self._by_dim: dict[int, SliderRow] = {}
        self._effects: dict[int, float] = {}  # StyleSpace: each shown channel's effect on the image, once ranked
        self.ranker.cancel()
        has_model = entry is not None
        for w in (self.random_button, self.reset_button, self.seed, self.range_spin):
            w.setEnabled(has_model)
        self.encode_button.setEnabled(has_model and entry.encodes)
        self.encode_button.setToolTip(
            "Encode a random sample of the model's dataset (E)" if has_model and entry.encodes
            else "This model has no encoder (a generator): use inversion to find latents for images"
        )
        self.range_spin.setEnabled(has_model and not entry.quantized)
        if not has_model:
            self.summary.setText("")
            return
        for j in self._shown_dims(entry):
            row = SliderRow(j, self._label(entry, j))
            row.valueEdited.connect(self._on_edit)
            row.grabbed.connect(self.dimensionGrabbed)
            row.lock.toggled.connect(lambda on, j=j: self.state.set_locked(j, on))
            self.rows.append(row)
            self._by_dim[j] = row
        self._apply_ranges()
        self._on_activity(entry)
        self._sync_values("model")
        self._sync_history()

    def _shown_dims(self, entry) -> range:
        """Every dimension, or in W+ / S the part of the layer picked (the layer box appears only there)."""
        from latentlab.core.style_edit import slider_groups

        groups = slider_groups(entry.model)
        self.layer.setVisible(groups is not None)
        self.rank_button.setVisible(getattr(entry.model, "latent_space", None) == "s")
        if groups is None:
            return range(entry.model.info.latent_dim)
        with QSignalBlocker(self.layer):
            self.layer.setRange(0, len(groups) - 1)
            name = groups[min(self.layer.value(), len(groups) - 1)][0]
            self.layer.setSuffix(f" of {len(groups)}" + ("" if name.startswith("L") else f" · {name}"))
        _, start, end = groups[self.layer.value()]
        return range(start, end)

    # --- StyleSpace: the channels that move the image most, first -----------------------------------------------------
    def rank_channels(self) -> None:
        """Order the shown layer's style channels by how much each moves the image at the current latent."""
        from latentlab.core.style_edit import slider_groups
        from latentlab.core.style_space import channel_effects

        entry = self.state.current
        if entry is None or getattr(entry.model, "latent_space", None) != "s":
            return
        name = slider_groups(entry.model)[self.layer.value()][0]
        model, s = entry.model, self.state.z.copy()  # what is shown now; the job runs off the GUI thread
        self.ranker.start(lambda ctx: channel_effects(model, s, name), label=f"ranking the style channels of {name}")

    def _on_ranked(self, scores) -> None:
        rows = self.rows
        if len(scores) != len(rows):
            return  # the layer shown changed meanwhile
        self._effects = {row.dim: float(v) for row, v in zip(rows, scores, strict=True)}
        top = max(self._effects.values()) or 1.0
        for row in rows:
            row.badge.setText(f"{self._effects[row.dim] / top:.0%}")
            row.badge.setToolTip("How much this channel moves the image here (‖∂image/∂s‖ × its spread), "
                                 "as a share of the layer's strongest")
        self._layout_rows()
        self.summary.setText(f"channels ordered by their effect on the image (strongest: "
                             f"{self.row(max(self._effects, key=self._effects.__getitem__)).name_label.text()})")

    @staticmethod
    def _label(entry, j: int) -> str:
        return entry.model.info.dim_label(j)  # a W+ view names its dimensions L<layer>·w<index>

    def _apply_ranges(self) -> None:
        lo, hi = self.state.bounds()
        books = self.state.current.codebooks() if self.state.current else None
        for row in self.rows:
            row.set_range(float(lo[row.dim]), float(hi[row.dim]), None if books is None else books[row.dim])
        self._sync_values("range")

    def _on_activity(self, entry) -> None:
        if entry is not self.state.current or entry is None:
            return
        act = entry.activity
        for row in self.rows:
            if act is None:
                row.set_activity(None)
            else:
                mv = act.mean_variance[row.dim]
                detail = "" if np.isnan(mv) or act.active_share is None else (
                    f"active (posterior variance near 0) on {act.active_share[row.dim]:.0%} of {act.n} inputs; "
                    f"mean posterior variance {mv:.3f}")
                row.set_activity(act.labels[row.dim], detail)
        if act is not None:
            counts = {k: act.labels.count(k) for k in (ACTIVE, MIXED, PASSIVE)}
            self.summary.setText(f"{counts[ACTIVE]} active · {counts[MIXED]} mixed · {counts[PASSIVE]} passive")
        else:
            self.summary.setText("activity: computing…" if entry.encodes else "activity: needs an encoder")
        self._layout_rows()

    def _layout_rows(self) -> None:
        effects = self._effects
        ordered = sorted(self.rows, key=lambda r: (ORDER.get(r.activity, 1), -effects.get(r.dim, 0.0), r.dim))
        laid = [self.rows_layout.itemAt(i).widget() for i in range(self.rows_layout.count())]
        if [w for w in laid if w is not None] != ordered:  # re-inserting 512 rows of a GAN costs 0.1 s
            self.rows_widget.setUpdatesEnabled(False)
            for row in self.rows:
                self.rows_layout.removeWidget(row)
            for i, row in enumerate(ordered):
                self.rows_layout.insertWidget(i, row)
            self.rows_widget.setUpdatesEnabled(True)
        for row in ordered:
            row.setVisible(row.activity != PASSIVE or self.show_passive.isChecked())

    # --- syncing with the state -------------------------------------------------------------------------------------
    def _on_edit(self, dim: int, value: float, commit: bool) -> None:
        self.state.set_dim(dim, value, source=f"slider:{dim}", commit=commit)
        if commit and dim < len(self.state.z):
            # A quantized slider released between codebook values jumps to the value in use, even when the
            # latent did not change (and so sent no latentChanged).
            self.row(dim).set_value(float(self.state.z[dim]))

    def _sync_values(self, source: str) -> None:
        z = self.state.z
        if source.startswith("slider:") and not (self.state.current and self.state.current.quantized):
            # Only that dimension changed, and its slider already shows it: update its spin box alone.
            j = int(source.split(":", 1)[1])
            if j in self._by_dim and j < len(z):
                self._by_dim[j].set_value(float(z[j]))
            return
        for row in self.rows:
            if row.dim < len(z):
                row.set_value(float(z[row.dim]))

    def _sync_history(self) -> None:
        self.undo_button.setEnabled(self.state.history.can_undo)
        self.redo_button.setEnabled(self.state.history.can_redo)

    def _sync_locks(self) -> None:
        for row in self.rows:
            with QSignalBlocker(row.lock):
                row.lock.setChecked(row.dim in self.state.locked)
                row.lock.setIcon(icon("lock" if row.dim in self.state.locked else "unlock"))

    def _random(self) -> None:
        self.state.random_sample(self.seed.value())
        self.seed.setValue(self.seed.value() + 1)

    def row(self, dim: int) -> SliderRow:
        return self._by_dim[dim]

    def focus_dim(self, dim: int) -> None:
        """Scroll to and highlight one dimension's slider (e.g. from a metrics heatmap click)."""
        if dim not in self._by_dim:
            return
        row = self.row(dim)
        if not row.isVisible():
            self.show_passive.setChecked(True)
        row.slider.setFocus()
        parent = self.rows_widget.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if isinstance(parent, QScrollArea):
            parent.ensureWidgetVisible(row)
