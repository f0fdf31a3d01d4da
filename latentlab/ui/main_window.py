"""The explorer window: docks and menus only. Each panel lives in its own module."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from latentlab import __version__
from latentlab.app import AppModel
from latentlab.core.errors import LatentlabError
from latentlab.core.resources import demo_model_paths, demo_models_dir
from latentlab.ui.gc_guard import collect_on_gui_thread, freeze_startup_heap
from latentlab.ui.job_runner import JobRunner, shutdown_all
from latentlab.ui.models import ModelManager
from latentlab.ui.panels.bookmarks import BookmarksPanel
from latentlab.ui.panels.compare import ComparePanel
from latentlab.ui.panels.dataset_strip import DatasetStripPanel
from latentlab.ui.panels.directions import DirectionsPanel
from latentlab.ui.panels.export_dialog import ExportDialog
from latentlab.ui.panels.flows import FlowsPanel
from latentlab.ui.panels.generator import GeneratorPanel
from latentlab.ui.panels.grid import TraversalGridPanel
from latentlab.ui.panels.images import ImagesPanel, is_image_file
from latentlab.ui.panels.latent_map import LatentMapPanel
from latentlab.ui.panels.metrics import MetricsPanel
from latentlab.ui.panels.model_browser import ModelBrowserPanel
from latentlab.ui.panels.preview import PreviewPanel
from latentlab.ui.panels.probe import ProbePanel
from latentlab.ui.panels.sliders import LatentSlidersPanel
from latentlab.ui.panels.sweep import attach as attach_sweep
from latentlab.ui.render_bridge import RenderBridge
from latentlab.ui.safe_text import PlainLabel, shown
from latentlab.ui.session_io import SessionController
from latentlab.ui.widgets import JobStrip, MessageBanner, ScrollingPanel

log = logging.getLogger(__name__)

CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pt *.pth *.ckpt *.pkl *.bin *.tinymodel);;All files (*)"


def _encode_one(ctx, model, image: np.ndarray) -> np.ndarray:
    from latentlab.core.encode import encode_images

    mean, _, _ = encode_images(model, image, ctx=ctx)
    return mean[0]


LOADING_TEXT = "Loading PyTorch and models…"


class MainWindow(QMainWindow):
    """The explorer. Built without torch when ``device`` is None: the window shows a loading state until
    ``finish_startup(device)`` imports torch and starts the render service (``ui/app.py`` calls it on the next
    turn of the event loop, once the window is on screen). Files asked for meanwhile open after it."""

    startupFinished = Signal()

    def __init__(self, device: str | None = "cpu"):
        super().__init__()
        collect_on_gui_thread()  # also when a host (tests, an embedding script) made the QApplication
        self.setWindowTitle("latentlab")
        self.resize(1280, 800)  # a laptop screen; the window fits 1280 x 800 and 1366 x 768 with every panel
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.state = AppModel()
        self.started = False  # finish_startup has run: torch is loaded, the render service is up
        self._after_startup: list = []  # what was asked for while loading, run by finish_startup
        self.bridge = RenderBridge(self, start=False)
        self.models = ModelManager(self.state, self.bridge, self)
        self._render_tokens: set[int] = set()
        self._look_tokens: set[int] = set()  # layer views in the render service (token -entry.token)
        self.state.modelsChanged.connect(self._sync_render_models)
        self.encoder = JobRunner(self, "encode")

        self._build_central()
        self._build_panels()
        self._build_docks()
        self.device_label = PlainLabel()
        self.model_label = PlainLabel()
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menus()

        self._connect()
        self.sessions = SessionController(self, self.state)
        self._on_model(None)
        if device is None:
            self.device_label.setText("device: …")
            self.preview.canvas.set_overlay(LOADING_TEXT)
            self.statusBar().showMessage(LOADING_TEXT)
        else:
            self.finish_startup(device)

    def finish_startup(self, device: str) -> None:
        """Start-up's torch half: the render service starts on ``device``, then whatever was asked for while
        loading (files to open, a session) runs. Idempotent; nothing happens once the window was closed."""
        if self.started or getattr(self, "_closed", False):
            return
        from latentlab.core.device import available_devices

        self.bridge.start_service()
        self.state.device = device
        self.browser.set_devices(available_devices(), device)
        self._show_device(device)
        self.started = True
        if self.state.models:  # opened by a script or a test before the service was up
            self._sync_render_models()
            self._on_model(self.state.current)
        if self.statusBar().currentMessage() == LOADING_TEXT:
            self.statusBar().clearMessage()
        if self.state.current is None:
            self.preview.show_loading("")
        # Last: everything imported and built so far lives as long as the app; see gc_guard.
        freeze_startup_heap()
        pending, self._after_startup = self._after_startup, []
        for call in pending:
            call()
        self.startupFinished.emit()

    def when_started(self, call) -> None:
        """Run ``call`` now if start-up has finished, else right after ``finish_startup``."""
        if self.started:
            call()
        else:
            self._after_startup.append(call)

    def _build_central(self) -> None:
        """The message banner, the preview and the loading / analysis progress strips."""
        self.banner = MessageBanner()
        self.preview = PreviewPanel(self.state, self.bridge)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(self.preview, 1)
        lay.addWidget(JobStrip(self.models.loader))
        lay.addWidget(JobStrip(self.models.analyser))
        self.setCentralWidget(central)

    def _build_panels(self) -> None:
        """Every dock's panel, and what they feed one another (grid rows from directions, export paths)."""
        self.browser = ModelBrowserPanel(self.state, self.models)
        self.models.loadingChanged.connect(self.preview.show_loading)
        self.sliders = LatentSlidersPanel(self.state)
        self.grid = TraversalGridPanel(self.state, self.bridge)
        self.latent_map = LatentMapPanel(self.state)
        self.dataset = DatasetStripPanel(self.state)
        self.bookmarks = BookmarksPanel(self.state)
        self.compare = ComparePanel(self.state, self.bridge)
        self.directions = DirectionsPanel(self.state)
        self.grid.direction_source = self.directions.directions_for_grid
        self.grid.direction_span = lambda: float(self.directions.span.value())
        self.directions.openModel.connect(lambda path: self.open_paths([path]))
        self.metrics = MetricsPanel(self.state)
        self.flows = FlowsPanel(self.state, self.latent_map)
        self.images = ImagesPanel(self.state)
        self.generator = GeneratorPanel(self.state)
        self.probe = ProbePanel(self.state)
        self.probe.latentSelected.connect(self._focus_latent)
        self.metrics.latentSelected.connect(self._focus_latent)
        self.compare.metrics_source = self.metrics.figures
        # Panels that can feed a latent path to the export dialog register a name -> (frames -> latents, captions).
        self.export_sources: dict = {"Along the first ticked direction": self.directions.export_source,
                                     "Along the current flow path": self.flows.export_source}

    def _build_docks(self) -> None:
        """Docks in their areas and tab groups; the sweep dock."""
        self.docks: dict[str, QDockWidget] = {}
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self._dock("Models", self.browser, left)
        self._dock("Bookmarks", self.bookmarks, left)
        self._dock("Latent sliders", self.sliders, right)
        self._dock("Traversal grid", self.grid, bottom)
        self._dock("Latent map", self.latent_map, bottom)
        self._dock("Dataset", self.dataset, bottom)
        self._dock("Compare", self.compare, bottom)
        self._dock("Metrics", self.metrics, right)
        self._dock("Directions", self.directions, right)
        self._dock("Flows", self.flows, right)
        self._dock("Generator", self.generator, right)  # a StyleGAN's space, class, truncation, noise, mixing
        self.tabifyDockWidget(self.docks["Latent sliders"], self.docks["Generator"])
        self.tabifyDockWidget(self.docks["Latent sliders"], self.docks["Metrics"])
        self.tabifyDockWidget(self.docks["Latent sliders"], self.docks["Directions"])
        self.tabifyDockWidget(self.docks["Latent sliders"], self.docks["Flows"])
        self._dock("Probe", self.probe, right)  # which latent causes which change of the output
        self.tabifyDockWidget(self.docks["Latent sliders"], self.docks["Probe"])
        self.docks["Latent sliders"].raise_()
        self.tabifyDockWidget(self.docks["Latent map"], self.docks["Dataset"])
        self._dock("Images", self.images, bottom)
        self.tabifyDockWidget(self.docks["Traversal grid"], self.docks["Compare"])
        self.tabifyDockWidget(self.docks["Traversal grid"], self.docks["Images"])
        self.docks["Traversal grid"].raise_()
        self.docks["Latent map"].raise_()
        self._initial_dock_sizes()
        self.sweep = attach_sweep(self)

    def _connect(self) -> None:
        """The app model's events and the panels' requests to the window's handlers."""
        self.state.currentModelChanged.connect(self._on_model)
        self.state.styleChanged.connect(self._on_style)
        self.state.lookChanged.connect(lambda entry: self._sync_look())
        self.state.deviceChanged.connect(lambda _d: self._sync_look())
        self.state.deviceChanged.connect(self._show_device)
        self.state.deviceChanged.connect(lambda _d: self.bridge.forget_frames())
        self.state.message.connect(self.show_message)
        self.models.trustRequested.connect(self._ask_trust)
        self.browser.openRequested.connect(self.open_dialog)
        self.sliders.encodeRequested.connect(self.encode_random_sample)
        self.sliders.dimensionGrabbed.connect(self.preview.on_grabbed)
        self.dataset.encodeRequested.connect(self.encode_image)
        self.encoder.finished.connect(lambda z: self.state.set_latent(z, "encode"))
        self.encoder.failed.connect(lambda msg: self.show_message("error", f"encoding failed: {msg}"))

    # --- layout --------------------------------------------------------------------------------------------------
    def _initial_dock_sizes(self) -> None:
        """Shares of the window for a laptop screen: the preview keeps the middle, the panels the rest."""
        w, h = max(self.width(), 1024), max(self.height(), 700)
        self.resizeDocks([self.docks["Models"], self.docks["Latent sliders"]], [int(0.17 * w), int(0.36 * w)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Traversal grid"], self.docks["Latent map"]], [int(0.5 * w), int(0.5 * w)],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Traversal grid"]], [int(0.38 * h)], Qt.Orientation.Vertical)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(ev)
        if not getattr(self, "_sized", False) and self.isVisible():
            self._sized = True  # once, at the first real size: later the user's own arrangement stays
            self._initial_dock_sizes()

    def panel(self, title: str) -> QWidget:
        """The panel shown in dock ``title`` (inside the scroll area that keeps the window small)."""
        return self.docks[title].widget().widget()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        # A panel narrower than its controls scrolls inside its dock instead of widening the window: the
        # window fits a laptop screen (1280 x 800) whatever the panels hold.
        dock.setWidget(ScrollingPanel(widget))
        # A dock behind another tab still reports isVisible(); panels that render in the background listen
        # for the tab switch instead, so a hidden Compare or grid costs the live preview nothing.
        follow = getattr(widget, "set_on_screen", None)
        if follow is not None:
            dock.visibilityChanged.connect(follow)
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._action(f, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open, "Open a checkpoint")
        self._action(f, "Open &demo models", self.open_demo_models, None, "Open the shipped demo checkpoints")
        self._action(f, "Open &images…", self._open_images, QKeySequence("Ctrl+I"),
                     "Encode or invert your own images (files or a folder)")
        f.addSeparator()
        self._action(f, "Open &session…", lambda: self.when_started(self.sessions.open), QKeySequence("Ctrl+Shift+O"),
                     "Restore a saved .llab session")
        self._action(f, "&Save session", lambda: self.sessions.save(), QKeySequence.StandardKey.Save)
        self._action(f, "Save session &as…", lambda: self.sessions.save_as(), QKeySequence("Ctrl+Shift+S"))
        f.addSeparator()
        self._action(f, "&Export video or grid…", self.export_dialog, QKeySequence("Ctrl+E"),
                     "Traversal videos (MP4, GIF, PNG frames) and figure grids")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        e = bar.addMenu("&Edit")
        self.undo_action = self._action(e, "&Undo", self.state.undo, QKeySequence("Ctrl+Z"))
        self.redo_action = self._action(e, "&Redo", self.state.redo, QKeySequence("Ctrl+Shift+Z"))
        e.addSeparator()
        self._action(e, "Reset latent to &zero", self.state.reset_all, QKeySequence("0"))
        self._action(e, "&Random prior sample", self.sliders._random, QKeySequence("R"))
        self._action(e, "&Encode a dataset sample", self.encode_random_sample, QKeySequence("E"))
        self._action(e, "Add &bookmark", self.bookmarks.add_current, QKeySequence("Ctrl+B"))
        e.addSeparator()
        self._action(e, "Copy &frame", self.copy_frame, QKeySequence("Ctrl+Shift+C"), "The preview's image")
        self._action(e, "Copy latent as &NumPy", self.copy_latent, QKeySequence("Ctrl+Alt+C"),
                     "np.array([...]) of the current latent, exact")
        self._action(e, "Copy latent as e&xport command", self.copy_export_command, None,
                     "A `latentlab export` command line that starts from the current latent")
        e.addSeparator()
        self._action(e, "Command &palette…", self.command_palette, QKeySequence("Ctrl+K"),
                     "Find any command by typing (also Ctrl+Shift+P)").setShortcuts(
            [QKeySequence("Ctrl+K"), QKeySequence("Ctrl+Shift+P")])
        v = bar.addMenu("&View")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        v.addSeparator()
        self._action(v, "Zoom to &fit", lambda: self.preview.canvas.zoom_to(None), QKeySequence("F"))
        for k in (1, 2, 4, 8):
            self._action(v, f"Zoom {k}×", lambda _=False, k=k: self.preview.canvas.zoom_to(k), QKeySequence(f"Ctrl+{k}"))
        h = bar.addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", self._shortcuts)
        self._action(h, "&About latentlab", self._about)
        self.state.historyChanged.connect(self._sync_history)
        self._sync_history()

    def _sync_history(self) -> None:
        self.undo_action.setEnabled(self.state.history.can_undo)
        self.redo_action.setEnabled(self.state.history.can_redo)

    # --- models --------------------------------------------------------------------------------------------------
    def open_paths(self, paths, trust: bool = False) -> None:
        if not self.started:
            self.when_started(lambda: self.open_paths(paths, trust))
            return
        for i, p in enumerate(paths):
            self.models.open(Path(p), trust=trust, select=(i == 0))

    def open_demo_models(self) -> None:
        paths = demo_model_paths()
        if not paths:
            self.show_message("warning", f"no demo models found in {demo_models_dir()}")
        self.open_paths(paths)

    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open checkpoint", str(Path.cwd()), CHECKPOINT_FILTER)
        self.open_paths(paths)

    def _ask_trust(self, path: Path, refusal) -> None:
        from latentlab.core.text import printable

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setTextFormat(Qt.TextFormat.PlainText)  # names and reasons come from the file: never rich text
        box.setWindowTitle("Run code from this file?")
        box.setText(f"{printable(path.name)} contains code that runs when it is opened.")
        box.setInformativeText(
            "Opening it lets the file do anything your user account can do. Only continue if you trust "
            f"where it came from.\n\n{refusal.reason}\n\nSHA-256 of the file: {refusal.sha256}\n"
            "Only these exact bytes will be opened; if the file changes before it loads, it is refused.")
        trust = box.addButton("Trust and open", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is trust:
            self.models.open_trusted(path, refusal)
        else:
            self.show_message("info", f"{printable(path.name)} was not opened")

    def _sync_render_models(self) -> None:
        """The render service knows the open models; a closed one is forgotten (and its pending work dropped)."""
        if not self.bridge.running:
            return  # finish_startup syncs what opened before the service was up
        open_now = {e.token for e in self.state.models}
        for token in self._render_tokens - open_now:
            self.bridge.remove_model(token)
        for entry in self.state.models:
            if entry.token not in self._render_tokens:
                self.bridge.add_model(entry.model, entry.token)
        self._render_tokens = open_now

    def _on_model(self, entry) -> None:
        if self.bridge.running or entry is None:
            self.bridge.set_model(entry.model if entry else None, entry.token if entry else 0)
        self._sync_look()
        if entry is None:
            self.model_label.setText("no model")
            self.setWindowTitle("latentlab")
        else:
            self._show_model_label(entry)
            if self.state.style_of(entry) is not None and not getattr(self, "_generator_shown", False):
                self._generator_shown = True  # once: a StyleGAN user's first controls; later their own choice
                self.docks["Generator"].raise_()
            self.setWindowTitle(f"latentlab — {shown(entry.name, 200)}")
        # The new model's first frame.
        QTimer.singleShot(0, self.preview.request)

    def _on_style(self, entry) -> None:
        """A style generator decodes through a new view: the render service serves that from now on."""
        if not self.bridge.running:
            return
        if entry is self.state.current:
            self.bridge.set_model(entry.model, entry.token)
            self._show_model_label(entry)
            if self.state.look_of(entry) is not None or self.state.extras(entry).untransform:
                self._sync_look()
        else:
            self.bridge.add_model(entry.model, entry.token)

    def _sync_look(self) -> None:
        """The preview shows the current model's layer view when it has one: a model of its own in the render
        service (token -entry.token), built from the generator view shown now."""
        if not self.bridge.running:
            return
        from latentlab.core.layer_view import LayerLook

        entry = self.state.current
        look = self.state.look_of(entry) if entry is not None else None
        untransform = entry is not None and self.state.extras(entry).untransform
        wanted = look is not None or untransform
        for token in [t for t in self._look_tokens if entry is None or t != -entry.token or not wanted]:
            self.bridge.remove_model(token)
            self._look_tokens.discard(token)
        if entry is None or not wanted:
            self.preview.set_look_token(None)
            return
        try:
            model = LayerLook(entry.model, look) if look is not None else self._untransformed(entry)
        except LatentlabError as exc:
            self.show_message("error", f"could not show that layer: {exc}")
            self.preview.set_look_token(None)
            return
        self.bridge.add_model(model, -entry.token)
        self.bridge.forget_frames()  # frames of the previous look were kept under the same token
        self._look_tokens.add(-entry.token)
        self.preview.set_look_token(-entry.token)

    def _untransformed(self, entry):
        from latentlab.core.layer_view import Untransformed

        s = self.state.style_of(entry)
        return Untransformed(entry.model, s.translate, s.rotate)

    def _show_model_label(self, entry) -> None:
        space = getattr(entry.model, "latent_space", None)
        where = f" in {space.upper() if space == 'w+' else space}" if space else ""
        self.model_label.setText(f"{entry.name} · {entry.model.info.latent_dim} latents{where} · "
                                 f"{entry.checkpoint.format}")

    def _show_device(self, device: str) -> None:
        self.device_label.setText(f"device: {device}")

    # --- encoding ------------------------------------------------------------------------------------------------
    def encode_image(self, image: np.ndarray, description: str = "") -> None:
        entry = self.state.current
        if entry is None:
            return
        if not entry.encodes:
            self.show_message("warning", f"{entry.name} has no encoder: use inversion to find a latent for an image")
            return
        self.encoder.start(_encode_one, entry.model, image, label="encoding")
        if description:
            self.statusBar().showMessage(f"encoded: {description}", 5000)

    def encode_random_sample(self) -> None:
        entry = self.state.current
        if entry is None:
            return
        ds = entry.dataset
        if ds is None:
            self.show_message("warning", "this model names no dataset to sample from")
            return
        seed = self.sliders.seed.value()
        images, factors = ds.sample(1, seed)
        self.sliders.seed.setValue(seed + 1)
        self.encode_image(images, ds.describe(factors)[0])

    # --- messages, drops, shutdown ------------------------------------------------------------------------------------
    def show_message(self, level: str, text: str) -> None:
        log.log(logging.ERROR if level == "error" else logging.INFO, text)
        self.banner.show_message(level, text)
        self.statusBar().showMessage(shown(text), 8000)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        self.drop_paths(paths)
        ev.acceptProposedAction()

    def drop_paths(self, paths) -> None:
        """Dropped files (or files the desktop asks the running app to open): a .llab session is restored,
        images and folders go to the Images panel, anything else is opened as a checkpoint."""
        sessions = [p for p in paths if str(p).lower().endswith(".llab")]
        if sessions:
            self.when_started(lambda: self.sessions.open(Path(sessions[0])))
            for extra in sessions[1:]:
                self.show_message("warning", f"{Path(extra).name} not opened: one session at a time")
        paths = [p for p in paths if p not in sessions]
        pictures = [p for p in paths if is_image_file(p)]
        checkpoints = [p for p in paths if not is_image_file(p)]
        if checkpoints:
            self.open_paths(checkpoints)
        if pictures:
            self.docks["Images"].raise_()
            self.images.add_paths(pictures)

    def _open_images(self) -> None:
        self.docks["Images"].raise_()
        self.images.open_dialog()

    def _focus_latent(self, dim: int) -> None:
        self.docks["Latent sliders"].raise_()
        self.sliders.focus_dim(dim)

    def export_dialog(self) -> ExportDialog | None:
        if self.state.current is None:
            self.show_message("warning", "open a model to export from")
            return None
        dlg = ExportDialog(self)
        dlg.show()
        return dlg

    def shutdown(self) -> bool:
        """Stop every worker thread; True when all of them ended."""
        from latentlab.core.jobs import release_worker_processes

        ok = self.compare.shutdown()
        ok = self.metrics.runner.shutdown() and ok
        ok = self.directions.shutdown() and ok
        ok = self.flows.shutdown() and ok
        ok = self.images.shutdown() and ok
        ok = self.generator.shutdown() and ok
        ok = self.probe.shutdown() and ok
        ok = self.sliders.ranker.shutdown() and ok
        ok = self.models.shutdown() and ok
        ok = shutdown_all() and ok
        ok = self.bridge.stop() and ok
        release_worker_processes()
        return ok

    def closeEvent(self, ev) -> None:
        self._closed = True  # closed while loading: finish_startup must not start threads for a closed window
        self.sessions.end()  # a clean exit leaves no autosave behind
        self.shutdown()
        super().closeEvent(ev)

    def _shortcuts(self):
        from latentlab.ui.command_palette import ShortcutSheet

        sheet = ShortcutSheet(self)
        sheet.show()
        return sheet

    def command_palette(self):
        from latentlab.ui.command_palette import CommandPalette

        palette = CommandPalette(self)
        palette.show()
        palette.filter.setFocus()
        return palette

    # --- clipboard ------------------------------------------------------------------------------------------------
    def copy_frame(self) -> None:
        from latentlab.ui.clipboard import copy_image

        img = self.preview.shown_image()
        if img is None:
            self.show_message("warning", "no frame to copy yet")
            return
        copy_image(img)
        self.statusBar().showMessage("frame copied", 3000)

    def copy_latent(self) -> None:
        from latentlab.ui.clipboard import copy_text, latent_literal

        if self.state.current is not None:
            copy_text(latent_literal(self.state.z))
            self.statusBar().showMessage("latent copied as a NumPy array", 3000)

    def copy_export_command(self) -> None:
        from latentlab.ui.clipboard import copy_text, export_command

        entry = self.state.current
        if entry is not None:
            copy_text(export_command(entry.path, self.state.z, self.state.view.grid_dims))
            self.statusBar().showMessage("export command copied", 3000)

    def _about(self) -> None:
        QMessageBox.about(self, "About latentlab", f"latentlab {__version__}\nA laboratory for the latent spaces "
                          "of trained generative models.")
