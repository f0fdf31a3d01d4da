"""The Generator panel of a style-based generator (StyleGAN2 / SWAGAN / StyleGAN3), as StyleGAN users edit.

The latent space the sliders move (z, w or W+), the class of a conditional model (and a blend towards a second
class), truncation psi with its layer cutoff, noise (const / random from a seed / off, and its strength),
StyleGAN3's input transform (translate and rotate the Fourier features, "untransform" to go back), and style
mixing: the styles of a layer range taken from a second latent (a seed or a bookmark), the mixing-grid
figure of the StyleGAN paper, and "look inside": a synthesis layer's feature maps or spectrum in the preview
(``core.layer_view``, decoded by the render service like any model). Every control writes ``AppModel.set_style`` / ``mix_from``; the panel only shows
what the app model holds (``styleChanged``). Controls that would rebuild the generator's view on every pixel
of a drag (psi, blend, transform) apply when the handle is released or the number is entered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latentlab.app import AppModel
from latentlab.core.style_settings import StyleSettings, layer_presets
from latentlab.ui.binding import connect_while_alive
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel, shown

SPACE_LABELS = {"z": "z · prior", "w": "w · mapped", "w+": "W+ · per layer", "s": "S · style channels"}
SPACE_HELP = ("z: the generator's input, a normal prior sample. w: the mapping network's output, where edits are "
              "more linear. W+: one w for every synthesis layer, so coarse (pose), middle and fine (colour) "
              "layers can be edited apart; the sliders then show one layer at a time. S (StyleSpace, Wu et al. 2021): "
              "each layer's style channels after its affine map, the most disentangled handles; single channels "
              "often change one attribute. Rank a layer's channels by their effect from the sliders.")


def _form(box: QGroupBox) -> QFormLayout:
    """A form that fits a narrow dock: fields grow, and a row too wide puts its field under its label."""
    form = QFormLayout(box)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setContentsMargins(4, 2, 4, 2)
    return form


def _spin(lo: float, hi: float, step: float, decimals: int = 2, suffix: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setDecimals(decimals)
    s.setKeyboardTracking(False)  # a typed number applies when entered, not per keystroke
    if suffix:
        s.setSuffix(suffix)
    return s


class GeneratorPanel(QWidget):
    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.runner = JobRunner(self, name="mixing grid")
        self.note = PlainLabel("Open a StyleGAN2, SWAGAN or StyleGAN3 generator to edit its space, class, "
                               "truncation, noise and styles here.")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.note)
        for box in (self._space_box(), self._class_box(), self._truncation_box(), self._noise_box(),
                    self._transform_box(), self._mixing_box(), self._look_box()):
            lay.addWidget(box)
        lay.addStretch(1)
        for combo in self.findChildren(QComboBox):  # long layer names must not widen a narrow dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        self.runner.finished.connect(lambda path: state.message.emit("info", f"mixing grid written to {path}"))
        self.runner.failed.connect(lambda msg: state.message.emit("error", f"mixing grid failed: {msg}"))
        connect_while_alive(state.currentModelChanged, self, lambda *_: self.sync())
        connect_while_alive(state.styleChanged, self, lambda entry: entry is state.current and self.sync())
        connect_while_alive(state.lookChanged, self, lambda entry: entry is state.current and self.sync())
        connect_while_alive(state.bookmarksChanged, self, lambda *_: self._fill_sources())
        connect_while_alive(state.currentModelChanged, self, lambda *_: self._fill_sources())
        self.sync()
        self._fill_sources()

    # --- building ------------------------------------------------------------------------------------------------
    def _space_box(self) -> QGroupBox:
        self.space_box = QGroupBox("Latent space")
        self.space = QComboBox()
        for key, label in SPACE_LABELS.items():
            self.space.addItem(label, key)
        self.space.setToolTip(SPACE_HELP)
        self.space.activated.connect(lambda i: self._set(space=self.space.itemData(i)))
        form = _form(self.space_box)
        form.addRow("edit in", self.space)
        return self.space_box

    def _class_box(self) -> QGroupBox:
        self.class_box = QGroupBox("Class")
        self.class_combo, self.blend_combo = QComboBox(), QComboBox()
        self.class_combo.setToolTip("The class this conditional generator draws")
        self.blend_combo.setToolTip("Interpolate the class label towards a second class")
        self.blend = _spin(0.0, 1.0, 0.1)
        self.blend.setToolTip("0: the first class only, 1: the second only; between: a blend of the two labels")
        self.class_combo.activated.connect(lambda i: self._set(class_index=i))
        self.blend_combo.activated.connect(lambda i: self._set(class_blend=None if i == 0 else i - 1))
        self.blend.valueChanged.connect(lambda v: self._set(class_t=float(v)))
        form = _form(self.class_box)
        form.addRow("class", self.class_combo)
        row = QHBoxLayout()
        row.addWidget(self.blend_combo, 1)
        row.addWidget(self.blend)
        form.addRow("blend with", row)
        return self.class_box

    def _truncation_box(self) -> QGroupBox:
        self.trunc_box = QGroupBox("Truncation")
        self.psi = _spin(0.0, 1.0, 0.05)
        self.psi.setToolTip("ψ: pull w towards the average w (1: no truncation; 0.7 is the usual choice)")
        self.cutoff = QSpinBox()
        self.cutoff.setSpecialValueText("all layers")
        self.cutoff.setToolTip("Truncate only the first layers (coarse structure); 'all layers' truncates every one")
        self.cutoff.setKeyboardTracking(False)
        self.psi.valueChanged.connect(lambda v: self._set(psi=float(v)))
        self.cutoff.valueChanged.connect(lambda v: self._set(cutoff=None if v == 0 else int(v)))
        form = _form(self.trunc_box)
        form.addRow("ψ", self.psi)
        form.addRow("first layers", self.cutoff)
        return self.trunc_box

    def _noise_box(self) -> QGroupBox:
        self.noise_box = QGroupBox("Noise")
        self.noise_mode = QComboBox()
        for mode, label in (("const", "const (stored)"), ("random", "random (seed)"), ("none", "off")):
            self.noise_mode.addItem(label, mode)
        self.noise_mode.activated.connect(lambda i: self._set(noise_mode=self.noise_mode.itemData(i)))
        self.noise_layer = QComboBox()
        self.noise_layer.setToolTip("Whose noise strength the number sets: every layer's, or one layer's on top")
        self.noise_layer.activated.connect(lambda _i: self.sync())
        self.noise_strength = _spin(0.0, 10.0, 0.1)
        self.noise_strength.setToolTip("Multiplies the learned noise strength (of every layer, or of the one picked)")
        self.noise_strength.valueChanged.connect(self._set_noise_strength)
        self.noise_seed = QSpinBox()
        self.noise_seed.setRange(0, 2**31 - 1)
        self.noise_seed.setKeyboardTracking(False)
        self.noise_seed.valueChanged.connect(lambda v: self._set(noise_seed=int(v)))
        form = _form(self.noise_box)
        form.addRow("mode", self.noise_mode)
        row = QHBoxLayout()
        row.addWidget(self.noise_layer, 1)
        row.addWidget(self.noise_strength)
        form.addRow("strength", row)
        form.addRow("seed", self.noise_seed)
        return self.noise_box

    def _transform_box(self) -> QGroupBox:
        self.transform_box = QGroupBox("Input transform (StyleGAN3)")
        self.tx, self.ty = _spin(-1.0, 1.0, 0.02, 3), _spin(-1.0, 1.0, 0.02, 3)
        self.rot = _spin(-180.0, 180.0, 5.0, 1, "°")
        for w in (self.tx, self.ty, self.rot):
            w.setToolTip("Translate / rotate the Fourier features the synthesis starts from: an equivariant "
                         "generator moves the image the same way")
            w.valueChanged.connect(lambda _v: self._set_transform())
        self.reset_transform = QPushButton("Reset")
        self.reset_transform.setToolTip("Back to the stored transform")
        self.reset_transform.clicked.connect(lambda: self._set(translate=(0.0, 0.0), rotate=0.0))
        self.untransform = QCheckBox("untransform")
        self.untransform.setToolTip("Warp the output back by the inverse transform, as NVIDIA's visualizer does: an "
                                    "equivariant generator's picture then stays put while you move the input")
        self.untransform.toggled.connect(self._set_untransform)
        form = _form(self.transform_box)
        row = QHBoxLayout()
        row.addWidget(self.tx)
        row.addWidget(self.ty)
        form.addRow("translate x, y", row)
        form.addRow("rotate", self.rot)
        row2 = QHBoxLayout()
        row2.addWidget(self.untransform, 1)
        row2.addWidget(self.reset_transform)
        form.addRow(row2)
        return self.transform_box

    def _mixing_box(self) -> QGroupBox:
        self.mix_box = QGroupBox("Style mixing")
        self.mix_source = QComboBox()
        self.mix_source.setToolTip("The second latent: a prior sample from the seed, or one of this model's bookmarks")
        self.mix_source.activated.connect(lambda _i: self.mix_seed.setEnabled(self.mix_source.currentData() is None))
        self.mix_seed = QSpinBox()
        self.mix_seed.setRange(0, 2**31 - 1)
        self.mix_seed.setToolTip("The second latent: a prior sample drawn from this seed")
        self.preset = QComboBox()
        self.preset.setToolTip("GANSpace's ranges: coarse layers set pose and shape, middle ones features, fine "
                               "ones colour and texture")
        self.preset.activated.connect(self._apply_preset)
        self.layer_from, self.layer_to = QSpinBox(), QSpinBox()
        self.layer_from.setToolTip("First layer taken from the second latent")
        self.layer_to.setToolTip("Layer after the last one taken (exclusive, as in Python)")
        self.mix_button = QPushButton("Mix")
        self.mix_button.setToolTip("Take these layers' styles from the second latent (the view switches to W+)")
        self.mix_button.clicked.connect(self.mix)
        self.rows_edit, self.cols_edit = QLineEdit("1-4"), QLineEdit("5-9")
        self.rows_edit.setToolTip("Seeds down the left (their coarse structure is kept); e.g. 1, 2, 5-7")
        self.cols_edit.setToolTip("Seeds across the top (they give the chosen layers' styles)")
        self.blend_edit = QLineEdit("1:0.5, 2:0.5")
        self.blend_edit.setToolTip("Seeds and weights, SEED:WEIGHT, ...: the latent becomes the weighted mean of "
                                   "their ws (in w, or W+ from z), as NVIDIA's visualizer blends seeds")
        self.blend_button = QPushButton("Blend")
        self.blend_button.clicked.connect(self.blend_seeds)
        self.blend_edit.returnPressed.connect(self.blend_seeds)
        self.grid_button = QPushButton("Mixing grid…")
        self.grid_button.setToolTip("Write the style-mixing figure (row seeds × column seeds) as a PNG")
        self.grid_button.clicked.connect(self.grid_dialog)
        form = _form(self.mix_box)
        source = QHBoxLayout()
        source.addWidget(self.mix_source, 1)
        source.addWidget(self.mix_seed)
        form.addRow("from", source)
        layers = QHBoxLayout()
        layers.addWidget(self.preset, 1)
        layers.addWidget(self.layer_from)
        layers.addWidget(QLabel("to"))
        layers.addWidget(self.layer_to)
        form.addRow("layers", layers)
        form.addRow(self.mix_button)
        blend = QHBoxLayout()
        blend.addWidget(self.blend_edit, 1)
        blend.addWidget(self.blend_button)
        form.addRow("blend seeds", blend)
        form.addRow("grid rows", self.rows_edit)
        form.addRow("grid columns", self.cols_edit)
        form.addRow(self.grid_button)
        return self.mix_box

    def _look_box(self) -> QGroupBox:
        self.look_box = QGroupBox("Look inside")
        self.look_box.setCheckable(True)
        self.look_box.setChecked(False)
        self.look_box.setToolTip("Show a synthesis layer's feature maps (or their spectrum) in the preview instead "
                                 "of the image, as NVIDIA's visualizer does")
        self.look_layer = QComboBox()
        self.look_channel = QSpinBox()
        self.look_channel.setKeyboardTracking(False)
        self.look_channels = QComboBox()
        self.look_channels.addItem("3 channels as RGB", 3)
        self.look_channels.addItem("1 channel, grey", 1)
        self.look_normalise = QCheckBox("normalise")
        self.look_normalise.setChecked(True)
        self.look_normalise.setToolTip("Divide by the shown channels' RMS, so every layer is visible")
        self.look_gain = _spin(-60.0, 60.0, 3.0, 1, " dB")
        self.look_fft = QCheckBox("spectrum (FFT)")
        self.look_fft.setToolTip("The centred log power spectrum of all channels: aliasing shows off the centre")
        self.look_range = _spin(5.0, 150.0, 5.0, 0, " dB")
        self.look_range.setValue(50.0)
        self.look_range.setToolTip("How far below the spectrum's peak is black")
        for w in (self.look_layer, self.look_channels):
            w.activated.connect(lambda _i: self._set_look())
        for w in (self.look_channel, self.look_gain, self.look_range):
            w.valueChanged.connect(lambda _v: self._set_look())
        for w in (self.look_normalise, self.look_fft):
            w.toggled.connect(lambda _on: self._set_look())
        self.look_box.toggled.connect(lambda _on: self._set_look())
        form = _form(self.look_box)
        form.addRow("layer", self.look_layer)
        row = QHBoxLayout()
        row.addWidget(self.look_channel)
        row.addWidget(self.look_channels, 1)
        form.addRow("from channel", row)
        flags = QHBoxLayout()
        flags.addWidget(self.look_normalise)
        flags.addWidget(self.look_gain)
        form.addRow("", flags)
        spec = QHBoxLayout()
        spec.addWidget(self.look_fft)
        spec.addWidget(self.look_range)
        form.addRow("", spec)
        return self.look_box

    def _set_look(self) -> None:
        from latentlab.core.layer_view import LookSettings

        entry = self.state.current
        if entry is None or self.state.style_base(entry) is None:
            return
        if not self.look_box.isChecked() or self.look_layer.currentData() is None:
            self.state.set_look(entry, None)
            return
        look = LookSettings(self.look_layer.currentData(), channel=int(self.look_channel.value()),
                            channels=int(self.look_channels.currentData()), normalise=self.look_normalise.isChecked(),
                            gain_db=float(self.look_gain.value()), fft=self.look_fft.isChecked(),
                            fft_range_db=float(self.look_range.value()))
        if not self.state.set_look(entry, look):
            self.sync()

    def _sync_look(self, entry, model) -> None:
        look = self.state.look_of(entry)
        widgets = (self.look_box, self.look_layer, self.look_channel, self.look_channels, self.look_normalise,
                   self.look_gain, self.look_fft, self.look_range)
        blockers = [QSignalBlocker(w) for w in widgets]
        names = [layer.name for layer in model.layers]
        if [self.look_layer.itemData(i) for i in range(self.look_layer.count())] != names:
            self.look_layer.clear()
            for layer in model.layers:
                self.look_layer.addItem(f"{layer.name}  ({layer.resolution} px, {layer.channels} ch)", layer.name)
            self.look_layer.setCurrentIndex(len(names) // 2)
        self.look_box.setChecked(look is not None)
        if look is not None:
            self.look_layer.setCurrentIndex(names.index(look.layer))
            self.look_channel.setValue(look.channel)
            self.look_channels.setCurrentIndex(0 if look.channels == 3 else 1)
            self.look_normalise.setChecked(look.normalise)
            self.look_gain.setValue(look.gain_db)
            self.look_fft.setChecked(look.fft)
            self.look_range.setValue(look.fft_range_db)
        layer = model.layers[max(0, self.look_layer.currentIndex())]
        self.look_channel.setRange(0, max(0, layer.channels - 1))
        del blockers

    # --- showing the app model's settings -------------------------------------------------------------------------
    def sync(self) -> None:
        entry = self.state.current
        s = self.state.style_of(entry) if entry is not None else None
        self.note.setVisible(s is None)
        for box in (self.space_box, self.trunc_box, self.noise_box, self.mix_box, self.look_box):
            box.setVisible(s is not None)
        if s is None or entry is None:
            self.class_box.setVisible(False)
            self.transform_box.setVisible(False)
            return
        model = entry.model
        self._sync_values(s, model)
        self._sync_look(entry, model)
        self.class_box.setVisible(bool(model.c_dim))
        self.transform_box.setVisible(hasattr(model, "set_input_transform"))
        self.noise_box.setEnabled(bool(model.noise_layers))
        self.noise_box.setToolTip("" if model.noise_layers else "StyleGAN3 has no noise inputs")
        self.mix_button.setEnabled(s.space != "s")
        self.blend_button.setEnabled(s.space != "s")
        self.mix_button.setToolTip("Take these layers' styles from the second latent (the view switches to W+)"
                                   if s.space != "s" else "Style mixing swaps ws: switch the space to W+ first")
        self.psi.setEnabled(s.space == "z")
        self.cutoff.setEnabled(s.space == "z")
        self.trunc_box.setToolTip("" if s.space == "z" else "Truncation acts in the mapping, from z: in w and W+ "
                                  "the latent already is the (truncated) w")

    def _sync_values(self, s: StyleSettings, model) -> None:
        widgets = (self.space, self.class_combo, self.blend_combo, self.blend, self.psi, self.cutoff, self.noise_mode,
                   self.noise_strength, self.noise_seed, self.tx, self.ty, self.rot, self.layer_from, self.layer_to,
                   self.untransform)
        blockers = [QSignalBlocker(w) for w in widgets]
        self.space.setCurrentIndex(list(SPACE_LABELS).index(s.space))
        if self.class_combo.count() != model.c_dim:
            self.class_combo.clear()
            self.blend_combo.clear()
            self.blend_combo.addItem("(none)")
            for i in range(model.c_dim):
                self.class_combo.addItem(f"class {i}")
                self.blend_combo.addItem(f"class {i}")
        self.class_combo.setCurrentIndex(s.class_index)
        self.blend_combo.setCurrentIndex(0 if s.class_blend is None else s.class_blend + 1)
        self.blend.setValue(s.class_t)
        self.blend.setEnabled(s.class_blend is not None)
        self.psi.setValue(s.psi)
        self.cutoff.setRange(0, model.num_ws)
        self.cutoff.setValue(s.cutoff or 0)
        self.noise_mode.setCurrentIndex(["const", "random", "none"].index(s.noise_mode))
        self._sync_noise_layers(s, model)
        self.noise_seed.setValue(s.noise_seed)
        self.noise_seed.setEnabled(s.noise_mode == "random")
        self.untransform.setChecked(self.state.extras(self.state.current).untransform if self.state.current else False)
        self.tx.setValue(s.translate[0])
        self.ty.setValue(s.translate[1])
        self.rot.setValue(s.rotate * 360.0)
        self._sync_presets(model.num_ws)
        del blockers

    def _sync_noise_layers(self, s: StyleSettings, model) -> None:
        names = [None, *model.noise_layers]
        if [self.noise_layer.itemData(i) for i in range(self.noise_layer.count())] != names:
            with QSignalBlocker(self.noise_layer):
                self.noise_layer.clear()
                self.noise_layer.addItem("all layers", None)
                for name in model.noise_layers:
                    self.noise_layer.addItem(name, name)
        layer = self.noise_layer.currentData()
        with QSignalBlocker(self.noise_strength):
            self.noise_strength.setValue(s.noise_strength if layer is None else s.layer_noise(layer))

    def _sync_presets(self, num_ws: int) -> None:
        presets = layer_presets(num_ws)
        if self.preset.count() != len(presets) or self.layer_to.maximum() != num_ws:
            self.preset.clear()
            for name, (a, b) in presets.items():
                self.preset.addItem(f"{name} ({a}–{b - 1})", (a, b))
            self.layer_from.setRange(0, num_ws - 1)
            self.layer_to.setRange(1, num_ws)
            self.preset.setCurrentIndex(3)  # fine: the classic "colour from another seed"
            self._apply_preset(3)

    # --- writing the user's choices ---------------------------------------------------------------------------------
    def _set(self, **changes) -> None:
        entry = self.state.current
        if entry is not None and not self.state.set_style(entry, **changes):
            self.sync()  # refused: show what holds

    def _set_noise_strength(self, value: float) -> None:
        entry = self.state.current
        s = self.state.style_of(entry) if entry is not None else None
        layer = self.noise_layer.currentData()
        if s is None or entry is None:
            return
        if layer is None:
            self._set(noise_strength=float(value))
        elif not self.state.set_style(entry, noise_layers=s.with_layer_noise(layer, float(value)).noise_layers):
            self.sync()

    def blend_seeds(self) -> bool:
        from latentlab.core.export.mixing import parse_weighted_seeds

        try:
            weights = parse_weighted_seeds(self.blend_edit.text())
        except ValueError as exc:
            self.state.message.emit("error", f"blend: {exc}")
            return False
        return self.state.blend(weights)

    def _set_untransform(self, on: bool) -> None:
        entry = self.state.current
        if entry is not None and not self.state.set_untransform(entry, on):
            self.sync()

    def _set_transform(self) -> None:
        self._set(translate=(float(self.tx.value()), float(self.ty.value())), rotate=float(self.rot.value()) / 360.0)

    def _apply_preset(self, index: int) -> None:
        a, b = self.preset.itemData(index) or (0, 1)
        with QSignalBlocker(self.layer_from), QSignalBlocker(self.layer_to):
            self.layer_from.setValue(a)
            self.layer_to.setValue(b)

    def layer_range(self) -> tuple[int, int]:
        return int(self.layer_from.value()), int(self.layer_to.value())

    def second_latent(self, seed: int) -> np.ndarray:
        """A prior sample of the view's space drawn from ``seed`` (what 'from seed' means in every space)."""
        import torch

        entry = self.state.current
        assert entry is not None
        return entry.model.sample_prior(1, torch.Generator().manual_seed(int(seed)))[0].detach().cpu().numpy()

    def _fill_sources(self) -> None:
        """'seed' and the current model's bookmarks, in the 'from' box of style mixing."""
        keep = self.mix_source.currentData()
        with QSignalBlocker(self.mix_source):
            self.mix_source.clear()
            self.mix_source.addItem("seed", None)
            for bm in self.state.bookmarks_for_current():
                self.mix_source.addItem(f"bookmark: {shown(bm.name, 40)}", bm)
            index = next((i for i in range(self.mix_source.count()) if self.mix_source.itemData(i) is keep), 0)
            self.mix_source.setCurrentIndex(index)
        self.mix_seed.setEnabled(self.mix_source.currentData() is None)

    def mix(self) -> bool:
        if self.state.current is None:
            return False
        a, b = self.layer_range()
        if b <= a:
            self.state.message.emit("error", f"the layer range {a} to {b} is empty: 'to' is exclusive")
            return False
        bm = self.mix_source.currentData()
        if bm is not None:
            return self.state.mix_from(bm.z, a, b, source_space=bm.space)
        return self.state.mix_from(self.second_latent(self.mix_seed.value()), a, b)

    def grid_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Write the mixing grid", "mixing-grid.png", "PNG image (*.png)")
        if path:
            self.export_grid(Path(path))

    def export_grid(self, path: Path) -> bool:
        """Write the mixing grid of the row and column seeds (z samples) to ``path`` off the GUI thread."""
        from latentlab.core.export.mixing import parse_seeds

        entry = self.state.current
        base = self.state.style_base(entry) if entry is not None else None
        if entry is None or base is None:
            return False
        try:
            rows, cols = parse_seeds(self.rows_edit.text()), parse_seeds(self.cols_edit.text())
        except ValueError as exc:
            self.state.message.emit("error", f"mixing grid: {exc}")
            return False
        from latentlab.core.export.mixing import write_mixing_grid

        a, b = self.layer_range()
        view = entry.model
        self.runner.start(lambda ctx: write_mixing_grid(view, rows, cols, a, b, path, ctx=ctx),
                          label=f"mixing grid {len(rows)}×{len(cols)}")
        return True

    def shutdown(self) -> bool:
        return self.runner.shutdown()
