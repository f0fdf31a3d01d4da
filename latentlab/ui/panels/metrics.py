"""Metrics dock: the disentanglement suite as cards and heatmaps, computed in the background, stored forever.

Figures already in the results store (same checkpoint SHA-256, dataset, parameters and seed) appear as soon
as a model is selected; Compute fills in what is missing, card by card as each metric finishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QLabel,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.choices import BUILTIN_DATASETS
from latentlab.core.errors import StoreUnavailable
from latentlab.core.metrics.catalogue import ABOUT
from latentlab.core.store import ResultStore
from latentlab.ui.charts import BarChart, Heatmap
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.panels.sliders import ACTIVITY_COLOURS
from latentlab.ui.safe_text import PlainLabel, plain_rich
from latentlab.ui.widgets import FlowLayout, JobStrip

if TYPE_CHECKING:
    from latentlab.core.metrics.base import MetricResult

FIGURE_TITLES = {
    "betavae": "BetaVAE", "factorvae": "FactorVAE", "mig": "MIG", "dci_disentanglement": "D",
    "dci_completeness": "C", "dci_informativeness": "I", "sap": "SAP", "modularity": "Modularity",
    "explicitness": "Explicitness", "infom": "InfoM", "infoc": "InfoC", "infoe": "InfoE",
    "gaussian_tc": "TC (nats)", "mean_pairwise_mi": "pair MI (nats)", "kl_total": "KL total (nats)",
    "n_active": "active", "n_mixed": "mixed", "n_passive": "passive",
    "vne": "VNE", "vne_normalized": "VNE/log d", "dse": "DSE", "lid_mean": "LID mean", "lid_geomean": "LID geo",
}


CARD_WIDTH = 150


class MetricCard(QFrame):
    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        spec = ABOUT[name]
        self.name = name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("MetricCard { background: #22262b; border-radius: 4px; }")
        self.title = QLabel(spec.title)
        self.title.setStyleSheet("color: #9aa3ad; font-size: 10px;")
        self.title.setWordWrap(True)  # a long title takes two lines of the fixed-width card instead of being cut
        self.value = PlainLabel("—")
        self.value.setStyleSheet("font-size: 13px; font-weight: bold;")
        self.value.setWordWrap(True)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(1)
        lay.addWidget(self.title)
        lay.addWidget(self.value)
        self.description = spec.description
        self.setToolTip(self.description)
        self.result: MetricResult | None = None

    def set_result(self, res: MetricResult | None) -> None:
        self.result = res
        spec = ABOUT[self.name]
        if res is None:
            self.value.setText("—")
            self.setToolTip(self.description)
            return
        if not res.ok:
            self.value.setText("n/a")
            self.setToolTip(plain_rich(f"{self.description}\n\nNot available: {res.message}"))
            return
        keys = [k for k in spec.keys if k in res.values and not k.endswith("_train")]
        parts = []
        for key in keys:
            v = res.values[key]
            # An undefined figure (NaN: e.g. LID on fewer points than neighbours) reads n/a; the tooltip's notes say why.
            fmt = "n/a" if not np.isfinite(v) else f"{v:.0f}" if key.startswith("n_") else f"{v:.3f}"
            # No-break spaces: a long card wraps between figures, never between a figure and its name.
            label = FIGURE_TITLES.get(key, key).replace(" ", "\u00a0")
            parts.append(fmt if len(keys) == 1 else f"{label}\u00a0{fmt}")
        per_latent = res.arrays.get("kl") if self.name == "kl" else None
        if per_latent is not None and len(per_latent):
            # The card sits above a per-latent chart: say what one latent carries, not only the sum.
            kl = np.asarray(per_latent, dtype=float)
            parts = [f"max {kl.max():.2f}", f"median {np.median(kl):.2f} nats/latent"]
        # More than three figures do not fit a card's rows side by side: one a line (the card grows to show them).
        self.value.setText(("\n" if len(parts) > 3 else "  ").join(parts) if parts else "—")
        if per_latent is not None and "kl_total" in res.values:
            self.description = f"{ABOUT[self.name].description}\n\nTotal over latents: {res.values['kl_total']:.3f} nats"
        detail = [self.description, "", f"representation: {res.representation}"
                  + (", passive latents dropped" if res.drop_passive else ""),
                  f"seed {res.seed}; samples {res.samples}", f"time {res.seconds:.1f} s",
                  f"parameters {res.params}"] + [f"note: {n}" for n in res.notes]
        self.setToolTip(plain_rich("\n".join(detail)))


def _run(ctx, checkpoint, dataset, n, representation, drop_passive, params, force):
    from latentlab.core.metrics.runner import evaluate

    return evaluate(checkpoint, dataset, None, n=n, representation=representation, drop_passive=drop_passive,
                    params=params, force=force, ctx=ctx)


class MetricsPanel(QWidget):
    latentSelected = Signal(int)

    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = JobRunner(self, "metrics")
        self._build_settings()
        bar = self._settings_bar()
        grid = self._build_cards()
        tabs = self._build_charts()
        self._assemble(bar, grid, tabs)
        self.results: dict[str, MetricResult] = {}
        self.store = None
        self._connect(state)
        self._on_model(state.current)

    def _build_settings(self) -> None:
        """Dataset, n, representation, passive latents, DCI estimator, vote sampling, and Compute."""
        self.dataset = QComboBox()
        self.dataset.setToolTip("Dataset with ground-truth factors to evaluate on")
        self.n = QSpinBox()
        self.n.setRange(200, 100000)
        self.n.setSingleStep(1000)
        self.n.setValue(10000)
        self.n.setPrefix("n ")
        self.n.setToolTip("Training points (the published protocols use 10,000); test points are half as many")
        self.representation = QComboBox()
        self.representation.addItems(["mean", "sampled"])
        self.representation.setToolTip("Posterior mean, or one sample z ~ q(z|x) per input")
        self.drop_passive = QCheckBox("drop passive")
        self.drop_passive.setToolTip("Leave passive (collapsed) latents out of the metrics")
        self.estimator = QComboBox()
        self.estimator.addItem("DCI: fast", "fast")
        self.estimator.addItem("DCI: exact (GBT, slow)", "gbt")
        self.estimator.setToolTip("Exact mode reproduces disentanglement_lib's gradient-boosted trees (minutes)")
        self.sampling = QComboBox()
        self.sampling.addItem("votes: fresh", "auto")
        self.sampling.addItem("votes: pooled (fast)", "pool")
        self.sampling.setToolTip("BetaVAE / FactorVAE: fresh samples per vote, as the references draw them (each "
                                 "dataset image is encoded once: minutes on a CPU), or votes drawn from the points "
                                 "already encoded (seconds; not the reference protocol, noisier from seed to seed)")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Compute the metrics that are not stored yet (Shift-click: recompute all)")

    def _settings_bar(self) -> FlowLayout:
        """The settings in one wrapping row, the status line taking what is left."""
        self.status = PlainLabel("")
        self.status.setStyleSheet("color: #9aa3ad;")
        bar = FlowLayout()
        for w in (self.dataset, self.n, self.representation, self.drop_passive, self.estimator, self.sampling,
                  self.compute_button):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)
        return bar

    def _build_cards(self) -> FlowLayout:
        """One fixed-width card per metric."""
        self.cards = {name: MetricCard(name) for name in ABOUT}
        grid = FlowLayout(spacing=6)  # as many cards a row as the dock is wide
        for card in self.cards.values():
            card.setFixedWidth(CARD_WIDTH)
            grid.addWidget(card)
        return grid

    def _build_charts(self) -> QTabWidget:
        """The MI and DCI importance heatmaps and the KL bars, in tabs."""
        self.mi_map = Heatmap("mutual information: latent × factor", units="MI (nats)", empty_text="Compute to see which latent carries which factor")
        self.dci_map = Heatmap("DCI importance: latent × factor", units="importance (share of the factor's, 0-1)", empty_text="Compute to see the DCI importance matrix")
        self.kl_bars = BarChart("KL per latent (nats), coloured by activity")
        tabs = QTabWidget()
        tabs.addTab(self.mi_map, "MI")
        tabs.addTab(self.dci_map, "DCI importance")
        tabs.addTab(self.kl_bars, "KL / activity")
        return tabs

    def _assemble(self, bar: FlowLayout, grid: FlowLayout, tabs: QTabWidget) -> None:
        """Settings, progress, cards and charts, top to bottom."""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(JobStrip(self.runner))
        lay.addLayout(grid)
        lay.addWidget(tabs, 1)

    def _connect(self, state: AppModel) -> None:
        """Compute, the runner's outcomes, settings that reload stored figures, chart clicks, the current model."""
        self.compute_button.clicked.connect(self._compute_clicked)
        self.runner.partial.connect(self._on_result)
        self.runner.finished.connect(self._on_done)
        self.runner.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.runner.cancelled.connect(lambda: self.status.setText("cancelled"))
        for w in (self.dataset, self.representation, self.estimator, self.sampling):
            w.currentIndexChanged.connect(lambda _i: self.load_stored())
        self.drop_passive.toggled.connect(lambda _b: self.load_stored())
        self.n.editingFinished.connect(self.load_stored)
        self.mi_map.rowClicked.connect(lambda r: self._select_row("mig", r))
        self.dci_map.rowClicked.connect(lambda r: self._select_row("dci", r))
        self.kl_bars.barClicked.connect(lambda i: self._select_row("kl", i))
        state.currentModelChanged.connect(self._on_model)

    # --- settings ------------------------------------------------------------------------------------------------
    def params(self) -> dict:
        votes = {"sampling": self.sampling.currentData()}
        return {"dci": {"estimator": self.estimator.currentData()}, "betavae": votes, "factorvae": votes}

    def settings(self) -> dict:
        return dict(n=self.n.value(), representation=self.representation.currentText(),
                    drop_passive=self.drop_passive.isChecked(), params=self.params())

    def _on_model(self, entry) -> None:
        self.runner.cancel()
        self.dataset.blockSignals(True)
        self.dataset.clear()
        if entry is not None:
            names = list(BUILTIN_DATASETS)
            own = entry.model.info.dataset
            if own in names:
                names.remove(own)
                names.insert(0, own)
            self.dataset.addItems(names)
        self.dataset.blockSignals(False)
        ok = entry is not None and entry.encodes
        self.compute_button.setEnabled(ok)
        self.load_stored()
        if entry is not None and not entry.encodes:
            self.status.setText("this model has no encoder: metrics need encoded data (invert images first)")

    def _store(self) -> ResultStore:
        if self.store is None:
            self.store = ResultStore()
        return self.store

    def load_stored(self) -> None:
        """Show whatever the store already holds for these settings (instant: no encoding)."""
        self.results = {}
        entry = self.state.current
        for card in self.cards.values():
            card.set_result(None)
        self.mi_map.clear()
        self.dci_map.clear()
        self.kl_bars.clear()
        if entry is None or not self.dataset.currentText():
            return
        from latentlab.core.metrics.base import MetricResult
        from latentlab.core.metrics.runner import KIND, dataset_key, metric_key_params

        s = self.settings()
        n_test = max(2, s["n"] // 2)
        try:
            from latentlab.core.data import get_dataset

            dkey = dataset_key(get_dataset(self.dataset.currentText()))
            db = self._store()
            for name in ABOUT:
                kp = metric_key_params(name, s["params"].get(name), s["n"], n_test, s["representation"],
                                       s["drop_passive"])
                payload = db.get(KIND, entry.checkpoint.sha256, dkey, name, kp, 0)
                if payload is not None:
                    self._on_result(MetricResult.from_dict(payload))
        except Exception as exc:  # a broken store must not break the panel
            self.status.setText(f"⚠ results store: {exc}")
            return
        stored = len(self.results)
        self.status.setText(f"{stored} of {len(ABOUT)} metrics stored" if stored else "nothing stored yet")

    # --- computing -----------------------------------------------------------------------------------------------
    def _compute_clicked(self) -> None:
        from PySide6.QtWidgets import QApplication

        force = bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)
        self.compute(force=force)

    def compute(self, force: bool = False) -> None:
        entry = self.state.current
        if entry is None:
            return
        s = self.settings()
        self.status.setText("computing…")
        self.runner.start(_run, entry.checkpoint, self.dataset.currentText(), s["n"], s["representation"],
                          s["drop_passive"], s["params"], force, label=f"metrics of {entry.name}")

    def _on_result(self, res: MetricResult) -> None:
        self.results[res.metric] = res
        if res.metric in self.cards:
            self.cards[res.metric].set_result(res)
        self._draw(res)

    def _on_done(self, results) -> None:
        from latentlab.core.metrics.runner import FROM_STORE, KEPT_FOR_LATER, NOT_SAVED

        took = sum(r.seconds for r in results.values() if FROM_STORE not in r.notes)
        text = f"done: {len(results)} metrics ({took:.0f} s computed, the rest from the store)"
        # A store that could not take the figures: they are shown all the same, and the user hears where they went.
        store_notes = {n for r in results.values() for n in r.notes if n.startswith((KEPT_FOR_LATER, NOT_SAVED))}
        if store_notes:
            text += " — ⚠ " + "; ".join(sorted(store_notes))
        self.status.setText(text)

    def _draw(self, res: MetricResult) -> None:
        if not res.ok:
            return
        rows = res.latent_names or [f"z{j}" for j in res.latents]
        if res.metric == "mig" and "mi" in res.arrays:
            self.mi_map.set_matrix(res.arrays["mi"], rows, res.factor_names)
        elif res.metric == "dci" and "importance" in res.arrays:
            self.dci_map.set_matrix(res.arrays["importance"], rows, res.factor_names)
        elif res.metric in ("kl", "activity"):
            self._draw_kl()

    def _draw_kl(self) -> None:
        from latentlab.core.metrics.activity import LABELS as ACTIVITY_NAMES

        kl = self.results.get("kl")
        if kl is None or not kl.ok:
            return
        act = self.results.get("activity")
        colours = None
        if act is not None and act.ok and "labels" in act.arrays:
            # The metric stores its labels as codes (0 active, 1 mixed, 2 passive): colour by their names.
            colours = [ACTIVITY_COLOURS.get(ACTIVITY_NAMES[int(lab)] if 0 <= int(lab) < len(ACTIVITY_NAMES)
                                            else "", "#7aa2d6") for lab in act.arrays["labels"]]
        self.kl_bars.set_values(kl.arrays["kl"], kl.latent_names or [f"z{j}" for j in kl.latents], colours)

    def _select_row(self, metric: str, row: int) -> None:
        res = self.results.get(metric)
        if res is not None and row < len(res.latents):
            self.latentSelected.emit(int(res.latents[row]))

    def figures(self, sha256: str) -> dict[str, float]:
        """Headline figures stored for a checkpoint under the current settings (the compare view's table)."""
        from latentlab.core.metrics.base import MetricResult
        from latentlab.core.metrics.runner import KIND, dataset_key, metric_key_params

        entry = self.state.current
        if entry is None or not self.dataset.currentText():
            return {}
        s = self.settings()
        n_test = max(2, s["n"] // 2)
        from latentlab.core.data import get_dataset

        dkey = dataset_key(get_dataset(self.dataset.currentText()))
        out: dict[str, float] = {}
        try:
            db = self._store()
        except StoreUnavailable:  # not a results store at all: the compare table shows no figures, says load_stored
            return out
        for name in ABOUT:
            kp = metric_key_params(name, s["params"].get(name), s["n"], n_test, s["representation"], s["drop_passive"])
            payload = db.get(KIND, sha256, dkey, name, kp, 0)
            if payload is None:
                continue
            res = MetricResult.from_dict(payload)
            for key, v in res.values.items():
                if not key.endswith("_train") and np.isfinite(v):
                    out[FIGURE_TITLES.get(key, key)] = float(v)
        return out
