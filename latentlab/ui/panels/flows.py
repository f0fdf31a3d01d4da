"""Flows dock: train potential flows with a live loss plot, then play their trajectories in the preview.

A trajectory is computed from the current latent in both directions; the scrubber runs from the far end of
the backward path (left) through the start (centre) to the far end of the forward path (right). Playing
moves the current latent along it, so the preview and every other panel animate. All K paths from the
start are drawn on the latent map; the strip compares the flow with the straight line between its ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.choices import LOSS_TERMS, PDES
from latentlab.core.errors import LatentlabError
from latentlab.core.jobs import JobCancelled
from latentlab.core.paths import data_dir
from latentlab.ui.binding import connect_while_alive
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.panels.latent_map import PATH_COLOURS
from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import FlowLayout, ImageCanvas, JobStrip, plot_widget

if TYPE_CHECKING:
    from latentlab.core.flows import FlowConfig

SOURCE = "flow"
TERM_COLOURS = {"loss": "#e3e6ea", "pde": "#ff6b6b", "ic": "#ffd166", "jvp": "#06d6a0", "cls": "#4cc9f0"}


def _train_job(ctx, model, config, sha, resume):
    from latentlab.core.flows import train

    try:
        return {"flows": train(model, config, ctx, checkpoint_sha256=sha, resume_from=resume), "stopped": False}
    except JobCancelled as exc:
        flows = getattr(exc, "partial_flows", None)
        if flows is None:
            raise
        return {"flows": flows, "stopped": True}


def _paths_job(ctx, flows, z0, k, steps):
    from latentlab.core.flows import all_trajectories, two_sided

    back, fwd = two_sided(flows, z0, k, steps)
    ctx.check()
    every = all_trajectories(flows, z0, steps)
    return back, fwd, every


def _strip_job(ctx, model, flows, z0, k, steps, lift=None):
    from latentlab.core.flows import flow_vs_linear, render_strip

    tr, line = flow_vs_linear(flows, z0, k, steps)
    ctx.check()
    rows = [tr.latents, line] if lift is None else [lift(tr.latents), lift(line)]
    return render_strip(model, rows)


STRIP_STEPS = 8  # images per row of the flow-vs-linear strip: few enough to be seen in a narrow dock


class FlowsPanel(QWidget):
    def __init__(self, state: AppModel, latent_map=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.latent_map = latent_map
        self.history: list[dict] = []
        self.path: np.ndarray | None = None  # (2 * steps + 1, D): backward reversed, start, forward
        self.potential: np.ndarray | None = None
        self.step_sizes: np.ndarray | None = None
        self.trainer = JobRunner(self, "flows")
        self.tracer = JobRunner(self, "trajectory")
        self.striper = JobRunner(self, "strip")

        self._build_training_controls()
        self._build_training_plots()
        train_box = self._training_box()
        self._build_play_controls()
        self._build_path_views()
        self._assemble(train_box, self._play_box())
        self._connect(state)
        self._sync()

    def _build_training_controls(self) -> None:
        """K, steps, PDE, loss weights and the train/stop/resume/load/save buttons."""
        self.k_count = QSpinBox()
        self.k_count.setRange(1, 32)
        self.k_count.setValue(8)
        self.train_steps = QSpinBox()
        self.train_steps.setRange(1, 1_000_000)
        self.train_steps.setSingleStep(500)
        self.train_steps.setValue(1000)
        self.pde = QComboBox()
        self.pde.addItems(list(PDES))
        self.pde.setToolTip("wave: the paper's choice; heat / fokker-planck / hamilton-jacobi: the follow-up work")
        self.weights = {}
        weights_row = FlowLayout()
        for term in LOSS_TERMS:
            w = QDoubleSpinBox()
            w.setRange(0.0, 1000.0)
            w.setDecimals(2)
            w.setValue(1.0)
            w.setPrefix(f"{term} ")
            w.setToolTip({"pde": "PDE residual at points along the paths", "ic": "initial condition |∇u(z, 0)|²",
                          "jvp": "reward for visible image change along the flow (decoder JVP)",
                          "cls": "classifier telling the potentials apart from image pairs"}[term])
            self.weights[term] = w
            weights_row.addWidget(w)
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop training; what was trained is kept and can be resumed")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue training these flows up to the number of steps above")
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        # K, steps and PDE share one row so the plots keep their height in a short dock.
        self.k_count.setPrefix("K = ")
        self.k_count.setToolTip("Number of potentials (distinct flows) to learn")
        self.train_steps.setPrefix("steps ")
        self.train_steps.setToolTip("Training steps (Resume continues up to this number)")
        top_row = FlowLayout()
        top_row.addWidget(self.k_count)
        top_row.addWidget(self.train_steps)
        top_row.addWidget(QLabel("PDE"))
        top_row.addWidget(self.pde, 1)
        self._form = form = QFormLayout()
        form.addRow(top_row)
        form.addRow("Loss weights", weights_row)
        self._buttons = buttons = FlowLayout()
        for b in (self.train_button, self.stop_button, self.resume_button, self.load_button, self.save_button):
            buttons.addWidget(b)

    def _build_training_plots(self) -> None:
        """Loss curves per term (log scale) and the potential classifier's accuracy."""
        self.loss_plot = plot_widget()
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setTitle("training losses (log scale)", color="#c9ced4", size="9pt")
        self.curves = {t: self.loss_plot.plot([], [], pen=pg.mkPen(TERM_COLOURS[t], width=1.5), name=t)
                       for t in ("pde", "ic", "cls")}
        self.loss_plot.setMinimumHeight(150)
        self.acc_plot = plot_widget()
        self.acc_plot.setMinimumHeight(150)
        self.acc_plot.setYRange(0, 1)
        self.acc_plot.setTitle("classifier accuracy (chance = 1/K)", color="#c9ced4", size="9pt")
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#4cc9f0", width=1.5))

    def _training_box(self) -> QGroupBox:
        """The Train group: controls, progress strip, plots."""
        train_box = QGroupBox("Train")
        tl = QVBoxLayout(train_box)
        tl.addLayout(self._form)
        tl.addLayout(self._buttons)
        tl.addWidget(JobStrip(self.trainer))
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot, 2)
        plots.addWidget(self.acc_plot, 1)
        tl.addLayout(plots, 1)

        return train_box

    def _build_play_controls(self) -> None:
        """Which potential, path length, play/step/scrub controls."""
        self.k = QSpinBox()
        self.k.setRange(0, 0)
        self.k.setPrefix("k = ")
        self.k.setToolTip("Which potential's flow to follow")
        self.path_steps = QSpinBox()
        self.path_steps.setRange(2, 200)
        self.path_steps.setValue(20)
        self.path_steps.setPrefix("steps ")
        self.trace_button = QPushButton("From here")
        self.trace_button.setToolTip("Compute the flow from the current latent (forwards and backwards)")
        # Icons from the Qt style, not glyphs: ⏸ and friends are missing from many fonts (they show as boxes).
        self.play_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Play")
        self.play_button.setCheckable(True)
        self.back_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward), "step")
        self.fwd_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward), "step")
        self.reverse = QCheckBox("backwards")
        self.reverse.setToolTip("Play towards the start of the backward path")
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(12)
        self.fps.setSuffix(" fps")
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setToolTip("Scrub along the path: left = backwards, centre = start, right = forwards")
        self.position = PlainLabel("")
        # W+: a flow trained in w moves layers a..b only (GANSpace's coarse / middle / fine); hidden elsewhere.
        self.layer_from, self.layer_to = QSpinBox(), QSpinBox()
        self.layer_from.setPrefix("L")
        self.layer_to.setPrefix("to L")
        self.layer_from.setToolTip("W+: the first synthesis layer this w flow moves (0 = coarsest)")
        self.layer_to.setToolTip("W+: the layer after the last one it moves (exclusive)")
        self._play_row = play_row = QHBoxLayout()
        for w in (self.k, self.path_steps, self.layer_from, self.layer_to, self.trace_button, self.back_button,
                  self.play_button, self.fwd_button, self.reverse, self.fps):
            play_row.addWidget(w)
        self._scrub_row = scrub_row = QHBoxLayout()
        scrub_row.addWidget(self.scrub, 1)
        scrub_row.addWidget(self.position)

    def _build_path_views(self) -> None:
        """The potential and step size along the path, and the flow-vs-linear strip."""
        self.path_plot = plot_widget()
        self.path_plot.setTitle("along the path: u_k(z(t), t) and step size |Δz|", color="#c9ced4", size="9pt")
        self.path_plot.addLegend(offset=(-5, 5))
        self.path_plot.setMinimumHeight(150)
        self.path_plot.setLabel("bottom", "step along the path (negative: backwards)")
        self.u_curve = self.path_plot.plot([], [], pen=pg.mkPen("#ffd166", width=2), name="u_k")
        self.step_curve = self.path_plot.plot([], [], pen=pg.mkPen("#06d6a0", width=2), name="|Δz|")
        self.now_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffffff", width=1))
        self.path_plot.addItem(self.now_line)
        self.strip = ImageCanvas()
        self.strip.setMinimumHeight(150)
        self.strip.setToolTip("Top: the flow path. Bottom: the straight line between the same two end points.")

    def _play_box(self) -> QGroupBox:
        """The Play group: controls, scrubber, the two views in tabs."""
        play_box = QGroupBox("Play")
        pl = QVBoxLayout(play_box)
        pl.addLayout(self._play_row)
        pl.addLayout(self._scrub_row)
        tabs = QTabWidget()
        tabs.addTab(self.path_plot, "Potential and step size")
        tabs.addTab(self.strip, "Flow vs linear")
        pl.addWidget(tabs, 1)
        return play_box

    def _assemble(self, train_box: QGroupBox, play_box: QGroupBox) -> None:
        """Both groups in a scroll area (plots keep their height in a short dock), status below."""
        self.status = PlainLabel("train flows for this model, or load a flows file")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #9aa3ad;")
        # The panel scrolls rather than squashing its plots when the dock is short.
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(train_box, 1)
        bl.addWidget(play_box, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.status)

    def _connect(self, state: AppModel) -> None:
        """Buttons, job runners and the app model's events."""
        self.timer = QTimer(self, timeout=self._tick)
        self.train_button.clicked.connect(lambda: self.start_training(resume=False))
        self.resume_button.clicked.connect(lambda: self.start_training(resume=True))
        self.stop_button.clicked.connect(self.trainer.stop_gracefully)
        self.load_button.clicked.connect(self.load_dialog)
        self.save_button.clicked.connect(self.save_dialog)
        self.trace_button.clicked.connect(self.trace)
        self.k.valueChanged.connect(self._k_changed)
        self.path_steps.valueChanged.connect(lambda _v: self.trace())
        self.play_button.toggled.connect(self.play)
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.fwd_button.clicked.connect(lambda: self.step(+1))
        self.fps.valueChanged.connect(lambda v: self.timer.setInterval(int(1000 / v)))
        self.scrub.valueChanged.connect(self._scrubbed)
        self.trainer.partial.connect(self._on_loss)
        self.trainer.finished.connect(self._on_trained)
        self.trainer.failed.connect(lambda m: self.status.setText(f"⚠ training failed: {m}"))
        self.trainer.busyChanged.connect(lambda _b: self._sync())
        self.tracer.finished.connect(self._on_paths)
        self.tracer.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.striper.finished.connect(self._on_strip)
        state.currentModelChanged.connect(self._on_model)
        state.flowsChanged.connect(self._on_flows)
        # A StyleGAN's space switch keeps the model: a w flow then plays on a layer range of W+.
        connect_while_alive(state.styleChanged, self,
                            lambda entry: entry is self.state.current and self._show_flows(True))

    # --- state ---------------------------------------------------------------------------------------------------
    def _sync(self) -> None:
        has_model = self.state.current is not None
        training = self.trainer.busy
        have = self.flows is not None
        self.train_button.setEnabled(has_model and not training)
        self.resume_button.setEnabled(has_model and have and not training
                                      and self.flows.step < self.train_steps.value())
        self.stop_button.setEnabled(training)
        self.load_button.setEnabled(has_model and not training)
        self.save_button.setEnabled(have and not training)
        for w in (self.trace_button, self.play_button, self.back_button, self.fwd_button, self.scrub, self.k):
            w.setEnabled(have and not training)

    # The flows are kept per model in the app model; this panel shows the current model's.
    @property
    def flows(self):
        entry = self.state.current
        return None if entry is None else self.state.extras(entry).flows

    @property
    def flows_file(self) -> Path | None:
        entry = self.state.current
        return None if entry is None else self.state.extras(entry).flows_file

    def _on_model(self, entry) -> None:
        self.play_button.setChecked(False)
        self.trainer.cancel()
        self._show_flows()

    def _on_flows(self, entry) -> None:
        if entry is self.state.current:
            self._show_flows(keep_history=self._keep_history)

    def set_flows(self, flows, file: Path | None = None, keep_history: bool = False) -> None:
        """Make ``flows`` the current model's (through the app model, which tells every view)."""
        entry = self.state.current
        if entry is None:
            return
        self._keep_history = keep_history
        try:
            self.state.set_flows(entry, flows, file)
        finally:
            self._keep_history = False

    _keep_history = False

    def _show_flows(self, keep_history: bool = False) -> None:
        flows, file = self.flows, self.flows_file
        self.path = None
        # Another model's or the old flows' strip must not stay on screen while the new one is traced.
        self.strip.clear_image()
        self.strip.set_overlay("tracing the flow…" if flows is not None else "")
        if flows is not None:
            with QSignalBlocker(self.k):
                self.k.setRange(0, flows.n_potentials - 1)
                self.k.setValue(self.state.extras(self.state.current).flow_k)
            self.k_count.setValue(flows.n_potentials)
            if not keep_history:  # a loaded file brings its own (windowed) history
                self.history = list(getattr(flows, "history", []) or [])
            self._redraw_losses()
            self.status.setText(f"{flows.n_potentials} potentials, {flows.step} steps trained"
                                + (f" ({file.name})" if file else ""))
        else:
            self.history = []
            self._redraw_losses()
            if self.latent_map is not None:
                self.latent_map.clear_paths()
        self._sync()
        self._sync_layers()
        if flows is not None and self.state.current is not None:
            self.trace()

    def _on_strip(self, img) -> None:
        self.strip.set_overlay("")
        self.strip.set_image(img, autorange=True)

    def _k_changed(self, k: int) -> None:
        if self.state.current is not None:
            self.state.extras(self.state.current).flow_k = int(k)
        self.trace()

    # --- training ------------------------------------------------------------------------------------------------
    def config(self) -> FlowConfig:
        from latentlab.core.flows import FlowConfig

        return FlowConfig(n_potentials=self.k_count.value(), steps=self.train_steps.value(), pde=self.pde.currentText(),
                          weights={t: w.value() for t, w in self.weights.items()})

    def start_training(self, resume: bool = False) -> None:
        from latentlab.core.flows import FlowConfig

        entry = self.state.current
        if entry is None:
            return
        try:
            config = self.config()
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        if not resume:
            self.history = []
            self._redraw_losses()
        elif self.flows is not None:
            # Resuming keeps the flows' own hyper-parameters; only the total number of steps grows.
            config = FlowConfig.from_dict({**self.flows.config.to_dict(), "steps": self.train_steps.value()})
        self._t0 = time.monotonic()
        self.trainer.start(_train_job, entry.model, config, entry.checkpoint.sha256,
                           self.flows if resume else None, label=f"training {config.n_potentials} flows")
        self._rate_from = None
        self.status.setText("training… (Stop keeps what is trained so far)")

    def _on_loss(self, logs: dict) -> None:
        self.history.append(logs)
        now = time.monotonic()
        if now - getattr(self, "_last_draw", 0.0) > 0.2:  # redraw at most 5 times a second
            self._last_draw = now
            self._redraw_losses()
            self.status.setText(self._speed_text(int(logs.get("step", 0)), now))

    def _speed_text(self, step: int, now: float) -> str:
        """"step 340 / 1000 · 12.3 steps/s · ETA 54 s", as the CLI's progress bar says it."""
        total = self.train_steps.value()
        first = getattr(self, "_rate_from", None)
        if first is None or step < first[0]:
            self._rate_from = first = (step, now)
        rate = (step - first[0]) / (now - first[1]) if now > first[1] and step > first[0] else 0.0
        eta = f" · ETA {(total - step) / rate:.0f} s" if rate > 0 else ""
        return f"training: step {step} / {total} · {rate:.1f} steps/s{eta} (Stop keeps what is trained)"

    def _redraw_losses(self) -> None:
        if not self.history:
            for c in self.curves.values():
                c.setData([], [])
            self.acc_curve.setData([], [])
            return
        steps = np.array([h["step"] for h in self.history], dtype=float)
        for term, curve in self.curves.items():
            vals = np.array([abs(h.get(term, np.nan)) for h in self.history], dtype=float)
            ok = np.isfinite(vals) & (vals > 0)
            curve.setData(steps[ok], vals[ok])
        self.acc_curve.setData(steps, np.array([h.get("acc", np.nan) for h in self.history], dtype=float))

    def _on_trained(self, result) -> None:
        flows = result["flows"]
        self._redraw_losses()
        file = self._autosave(flows)
        self.set_flows(flows, file, keep_history=True)  # traces the new flows
        how = "stopped at" if result["stopped"] else "trained"
        acc = self.history[-1].get("acc") if self.history else None
        self.status.setText(f"{how} step {flows.step}" + (f", classifier accuracy {acc:.2f}" if acc is not None else "")
                            + (f"; kept in {file}" if file else ""))

    def _autosave(self, flows) -> Path | None:
        """Trained flows are written to the data folder, so sessions can refer to them and nothing is lost."""
        from latentlab.core.flows import save_flows

        entry = self.state.current
        if entry is None:
            return None
        folder = data_dir() / "flows"
        path = folder / f"{entry.checkpoint.sha256[:12]}-{time.strftime('%Y%m%d-%H%M%S')}.flows.safetensors"
        try:
            return save_flows(flows, path)
        except (OSError, ValueError) as exc:
            self.state.message.emit("warning", f"could not keep the trained flows: {exc}")
            return None

    # --- files ---------------------------------------------------------------------------------------------------
    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load flows", str(Path.cwd()),
                                              "Flows (*.safetensors *.pt *.pth);;latentlab flows (*.safetensors);;"
                                              "PDETraversal potentials (*.pt *.pth);;All (*)")
        if path:
            self.load(Path(path))

    def load(self, path: Path, allow_mismatch: bool = False) -> bool:
        from latentlab.core.flows import load_flows

        entry = self.state.current
        if entry is None:
            return False
        if Path(path).suffix.lower() in (".pt", ".pth"):
            return self._import_pdetraversal(Path(path))
        try:
            flows = load_flows(path, checkpoint_sha256=entry.checkpoint.sha256, latent_dim=entry.latent_dim,
                               allow_mismatch=allow_mismatch)
        except (ValueError, OSError) as exc:
            self.state.message.emit("error", f"could not load flows: {exc}")
            return False
        self.set_flows(flows, Path(path))  # traces them
        return True

    def _import_pdetraversal(self, path: Path) -> bool:
        """Potentials PDETraversal trained (its support_sets.pt), read without running the file; Save keeps them."""
        from latentlab.core.flows.pdetraversal import import_pdetraversal

        entry = self.state.current
        assert entry is not None
        try:
            flows, notes = import_pdetraversal(path, entry.model, sha256=entry.checkpoint.sha256)
        except (LatentlabError, ValueError, OSError) as exc:
            self.state.message.emit("error", f"could not import PDETraversal potentials: {exc}")
            return False
        self.set_flows(flows, None)
        for note in notes:
            self.state.message.emit("info", f"{path.name}: {note}")
        return True

    def save_dialog(self) -> None:
        if self.flows is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save flows", str(Path.cwd() / "model.flows.safetensors"),
                                              "Flows (*.safetensors)")
        if path:
            self.save(Path(path))

    def save(self, path: Path) -> Path | None:
        from latentlab.core.flows import save_flows

        try:
            out = save_flows(self.flows, path)
        except (OSError, ValueError) as exc:
            self.state.message.emit("error", f"could not save flows: {exc}")
            return None
        self.state.extras(self.state.current).flows_file = Path(out)
        self.state.message.emit("info", f"flows saved to {out}")
        return Path(out)

    # --- playing -------------------------------------------------------------------------------------------------
    def _lift(self):
        """For a w flow on a StyleGAN's W+: (its start in w, w path -> W+ path); else (the latent, None)."""
        from latentlab.core.style_edit import layer_mean, lift_path, lifts_flow

        view = self.state.current.model if self.state.current is not None else None
        if view is None or self.flows is None or not lifts_flow(view, self.flows.latent_dim):
            return self.state.z.copy(), None
        a, b = self.layer_from.value(), max(self.layer_to.value(), self.layer_from.value() + 1)
        start = self.state.z.copy()
        return layer_mean(start, view.num_ws, a, b), lambda path: lift_path(start, path, view.num_ws, a, b)

    def _sync_layers(self) -> None:
        """Show the layer range when a w flow plays on W+, over every layer at first."""
        from latentlab.core.style_edit import lifts_flow

        view = self.state.current.model if self.state.current is not None else None
        on = view is not None and self.flows is not None and lifts_flow(view, self.flows.latent_dim)
        for w in (self.layer_from, self.layer_to):
            w.setVisible(on)
        if on and self.layer_to.maximum() != view.num_ws:
            self.layer_from.setRange(0, view.num_ws - 1)
            self.layer_to.setRange(1, view.num_ws)
            self.layer_from.setValue(0)
            self.layer_to.setValue(view.num_ws)

    def trace(self) -> None:
        """Compute the paths from the current latent (in the background)."""
        if self.flows is None or self.state.current is None or self.trainer.busy:
            return
        self.play_button.setChecked(False)
        self.start, self._lifting = self._lift()
        steps = self.path_steps.value()
        self.tracer.start(_paths_job, self.flows, self.start, self.k.value(), steps, label="tracing the flow")
        self.striper.start(_strip_job, self.state.current.model, self.flows, self.start, self.k.value(),
                           min(steps, STRIP_STEPS), self._lifting, label="flow vs linear strip")

    def _on_paths(self, result) -> None:
        back, fwd, every = result
        self.path = np.concatenate([back.latents[::-1], fwd.latents[1:]])
        lift = getattr(self, "_lifting", None)
        if lift is not None:  # a w flow on layers a..b of W+: the path the preview plays is in W+
            self.path = lift(self.path)
        self.potential = np.concatenate([back.potential[::-1], fwd.potential[1:]])
        sizes = np.concatenate([back.step_sizes[::-1], [0.0], fwd.step_sizes])
        self.step_sizes = sizes
        n = len(self.path)
        centre = (n - 1) // 2
        self.scrub.blockSignals(True)
        self.scrub.setRange(0, n - 1)
        self.scrub.setValue(centre)
        self.scrub.blockSignals(False)
        t = np.arange(n) - centre
        self.u_curve.setData(t, self.potential)
        self.step_curve.setData(t, self.step_sizes)
        self.now_line.setValue(0)
        self.position.setText("t = 0 (start)")
        if self.latent_map is not None:
            self.latent_map.show_paths([every.latents[i] if lift is None else lift(every.latents[i])
                                        for i in range(len(every))])
            for i, item in enumerate(self.latent_map.path_items):
                item.setPen(pg.mkPen(PATH_COLOURS[i % len(PATH_COLOURS)], width=3.5 if i == self.k.value() else 1.2))

    def _scrubbed(self, i: int) -> None:
        if self.path is None:
            return
        centre = (len(self.path) - 1) // 2
        self.now_line.setValue(i - centre)
        self.position.setText(f"t = {i - centre:+d}" + (" (start)" if i == centre else ""))
        self.state.set_latent(self.path[i], SOURCE, commit=False)

    def step(self, delta: int) -> None:
        if self.path is None:
            return
        i = int(np.clip(self.scrub.value() + delta, 0, len(self.path) - 1))
        self.scrub.setValue(i)
        self.state.commit()

    def play(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        self.play_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if on else QStyle.StandardPixmap.SP_MediaPlay))
        if on and self.path is None:
            self.play_button.setChecked(False)
            return
        if on:
            self.timer.start(int(1000 / self.fps.value()))
        else:
            self.timer.stop()
            self.state.commit()

    def _tick(self) -> None:
        if self.path is None:
            return
        delta = -1 if self.reverse.isChecked() else 1
        i = self.scrub.value() + delta
        if i < 0 or i >= len(self.path):
            # Bounce at the ends so a long play keeps showing the traversal.
            self.reverse.setChecked(not self.reverse.isChecked())
            i = self.scrub.value() - delta
        self.scrub.setValue(int(np.clip(i, 0, len(self.path) - 1)))

    def export_source(self, frames: int):
        """For the export dialog: the current two-sided flow path resampled to ``frames``."""
        from latentlab.core.export.plan import resample_path

        if self.path is None:
            raise ValueError("no flow path yet: train or load flows, then press 'From here'")
        return resample_path(self.path, frames, f"flow k={self.k.value()}")

    def shutdown(self) -> bool:
        self.timer.stop()
        return all(j.shutdown() for j in (self.trainer, self.tracer, self.striper))
