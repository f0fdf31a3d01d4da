"""The "find directions" dialog: one form for every finder, run in the background with progress and Cancel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from latentlab.core.choices import BUILTIN_DATASETS
from latentlab.ui.job_runner import JobRunner
from latentlab.ui.safe_text import PlainLabel, shown
from latentlab.ui.widgets import JobStrip

if TYPE_CHECKING:
    from latentlab.core.directions import FindOptions

METHOD_HELP = {
    "interfacegan": "Supervised: the normal of a linear boundary (logistic regression or linear SVM) that separates "
                    "encoded latents by a factor or your labels (InterFaceGAN), or the difference of class means.",
    "gradctrl": "Gradient-based (GradCtrl): a small classifier per attribute; the direction at each latent is its "
                "gradient towards the target, with the dimensions salient for other attributes masked.",
    "adatrans": "Learned nonlinear path (after AdaTrans): a small network predicts each step of the edit from the "
                "latent and the target class, keeping the other attributes and the prior's density; a slider "
                "follows it step by step.",
    "sefa": "Unsupervised, closed form (SeFa): eigenvectors of W^T W of the decoder's first layer, the directions it "
            "amplifies most.",
    "householder": "Unsupervised (Householder projector, Song et al. 2023): the first layer as a rank-k orthogonal "
                   "projector with one gain. Closed form (SeFa's top k), or fine-tuned by distillation and saved "
                   "as a new model that opens with its directions.",
    "pca": "Unsupervised: PCA of prior samples pushed through the decoder's first layer (GANSpace), or of encoded "
           "latents.",
    "jacobian": "Local: the right singular vectors of the decoder's Jacobian at the current latent, ordered by how "
                "much the image changes.",
}


class FindDirectionsDialog(QDialog):
    found = Signal(object)  # DirectionSet
    modelWritten = Signal(object)  # Path: a fine-tuned generator, its directions saved beside it

    def __init__(self, parent, entry, current_z, tagged: list, method: str = "interfacegan"):
        super().__init__(parent)
        self.entry = entry
        self.current_z = current_z
        self.tagged = tagged
        self.setWindowTitle(f"Find directions — {shown(entry.name, 200)}")
        self.setMinimumWidth(560)
        self._build_method(entry, method)
        self._build_factor_lists()
        csv_row = self._build_labels(tagged)
        self._build_sampling()
        form = self._form(csv_row)
        self.runner = JobRunner(self, "find")
        buttons = self._buttons()
        self._assemble(form, buttons)
        self._connect()
        self._fill_factors(self.dataset.currentText())
        self._sync()

    def _build_method(self, entry, method: str) -> None:
        """The finder, its help text, and the dataset (the model's own first)."""
        self.method = QComboBox()
        for m in METHOD_HELP:
            self.method.addItem(m, m)
        self.method.setCurrentIndex(list(METHOD_HELP).index(method))
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: #9aa3ad;")
        # Room for the longest method's help: a wrapped label's height is not recomputed as its text changes.
        self.help.setMinimumHeight(5 * self.help.fontMetrics().lineSpacing())
        self.dataset = QComboBox()
        names = list(BUILTIN_DATASETS)
        if entry.model.info.dataset in names:
            names.remove(entry.model.info.dataset)
            names.insert(0, entry.model.info.dataset)
        self.dataset.addItems(names)

    def _build_factor_lists(self) -> None:
        """The factors to find directions for, and those to stay orthogonal to."""
        self.factors = QListWidget()
        self.factors.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.factors.setMaximumHeight(100)
        self.factors.setToolTip("Factors to find directions for (none selected: every factor)")
        self.protect = QListWidget()
        self.protect.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.protect.setMaximumHeight(80)
        self.protect.setToolTip("Conditional manipulation: stay orthogonal to these factors' directions "
                                "(GradCtrl: mask the dimensions salient for them)")

    def _build_labels(self, tagged: list) -> QHBoxLayout:
        """The supervised finders' classifier and labels (factors, a CSV file, tagged samples); the CSV row."""
        self.classifier = QComboBox()
        self.classifier.addItems(["logistic", "svm", "mean"])
        self.classifier.setToolTip("logistic regression or linear SVM boundary normal, or difference of class means")
        self.labels = QComboBox()
        self.labels.addItem("ground-truth factors", "factors")
        self.labels.addItem("a CSV file (sample index, label)", "csv")
        if tagged:
            self.labels.addItem(f"my {len(tagged)} tagged samples", "tagged")
        self.csv = QLineEdit()
        self.csv.setPlaceholderText("labels.csv")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        csv_row = QHBoxLayout()
        csv_row.addWidget(self.csv, 1)
        csv_row.addWidget(browse)
        return csv_row

    def _build_sampling(self) -> None:
        """PCA space, how many directions, samples, orthogonalisation, Jacobian point, seed."""
        self.space = QComboBox()
        self.space.addItem("prior samples through the first decoder layer (GANSpace)", "prior")
        self.space.addItem("encoded dataset latents", "encoded")
        self.k = QSpinBox()
        self.k.setRange(0, 512)
        self.k.setSpecialValueText("default")
        self.n = QSpinBox()
        self.n.setRange(0, 100000)
        self.n.setSingleStep(500)
        self.n.setSpecialValueText("default")
        self.orthogonal = QCheckBox("orthogonalise (orthonormal set)")
        self.at_current = QCheckBox("at the current latent")
        self.at_current.setChecked(True)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.finetune = QSpinBox()
        self.finetune.setRange(0, 100000)
        self.finetune.setSingleStep(100)
        self.finetune.setSpecialValueText("closed form")
        self.finetune.setToolTip("Householder: distillation steps with the projector in place (0: closed form)")
        self.save_model = QLineEdit()
        self.save_model.setPlaceholderText("where the fine-tuned generator is written")

    def _form(self, csv_row: QHBoxLayout) -> QFormLayout:
        """Every finder's options in one labelled form."""
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("", self.help)
        form.addRow("Dataset", self.dataset)
        form.addRow("Labels", self.labels)
        form.addRow("CSV", csv_row)
        form.addRow("Factors", self.factors)
        form.addRow("Protect", self.protect)
        form.addRow("Classifier", self.classifier)
        form.addRow("PCA of", self.space)
        form.addRow("How many (k)", self.k)
        form.addRow("Samples (n)", self.n)
        form.addRow("", self.orthogonal)
        form.addRow("Jacobian", self.at_current)
        form.addRow("Fine-tune (steps)", self.finetune)
        form.addRow("Save tuned model", self.save_model)
        form.addRow("Seed", self.seed)
        return form

    def _buttons(self) -> QHBoxLayout:
        """The status line beside Find (the default button) and Close."""
        self.status = PlainLabel("")
        self.status.setWordWrap(True)
        self.run_button = QPushButton("Find")
        self.run_button.setDefault(True)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(close)
        return buttons

    def _assemble(self, form: QFormLayout, buttons: QHBoxLayout) -> None:
        """The form, the progress strip, the buttons."""
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(JobStrip(self.runner))
        lay.addLayout(buttons)

    def _connect(self) -> None:
        """Method and labels show their options, the dataset its factors; Find and the runner's outcomes."""
        self.method.currentIndexChanged.connect(self._sync)
        self.labels.currentIndexChanged.connect(self._sync)
        self.finetune.valueChanged.connect(self._sync)
        self.dataset.currentTextChanged.connect(self._fill_factors)
        self.run_button.clicked.connect(self.run)
        self.runner.finished.connect(self._done)
        self.runner.failed.connect(lambda m: self.status.setText(f"⚠ {m}"))
        self.runner.cancelled.connect(lambda: self.status.setText("cancelled"))
        self.runner.busyChanged.connect(lambda b: self.run_button.setEnabled(not b))

    def _fill_factors(self, name: str) -> None:
        from latentlab.core.data import get_dataset

        self.factors.clear()
        self.protect.clear()
        try:
            names = get_dataset(name).factor_names
        except ValueError:
            names = ()
        self.factors.addItems(list(names))
        self.protect.addItems(list(names))

    def _sync(self) -> None:
        m = self.method.currentData()
        self.help.setText(METHOD_HELP[m])
        supervised = m in ("interfacegan", "gradctrl", "adatrans")
        labels = self.labels.currentData()
        self.labels.setEnabled(supervised)
        self.csv.setEnabled(supervised and labels == "csv")
        self.factors.setEnabled(supervised and labels == "factors")
        self.protect.setEnabled(supervised)
        self.classifier.setEnabled(m == "interfacegan")
        self.space.setEnabled(m == "pca")
        self.orthogonal.setEnabled(m not in ("gradctrl", "adatrans"))
        self.at_current.setEnabled(m == "jacobian")
        self.finetune.setEnabled(m == "householder")
        tuning = m == "householder" and self.finetune.value() > 0
        self.save_model.setEnabled(tuning)
        if tuning and not self.save_model.text().strip():
            self.save_model.setText(str(self._default_save_path()))
        needs_data = supervised or (m == "pca" and self.space.currentData() == "encoded")
        self.dataset.setEnabled(needs_data)
        if needs_data and not self.entry.encodes and not (supervised and labels == "tagged"):
            self.status.setText("note: this model has no encoder; labels are read back through a factor predictor "
                                "or need tagged samples")

    def _default_save_path(self) -> Path:
        """Beside the checkpoint, named for what it is; never an existing file."""
        src = Path(self.entry.checkpoint.path).resolve()
        stem = f"{src.name.removesuffix('.safetensors').rsplit('.', 1)[0]}.householder"
        path, i = src.with_name(f"{stem}.safetensors"), 2
        while path.exists():
            path, i = src.with_name(f"{stem}-{i}.safetensors"), i + 1
        return path

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Label CSV", str(Path.cwd()), "CSV (*.csv);;All files (*)")
        if path:
            self.csv.setText(path)

    def options(self) -> FindOptions:
        from latentlab.core.directions import FindOptions

        m = self.method.currentData()
        labels = self.labels.currentData()
        opts = FindOptions(
            method=m,
            dataset=self.dataset.currentText() or None,
            factors=[i.text() for i in self.factors.selectedItems()] if labels == "factors" else [],
            n=self.n.value() or None,
            k=self.k.value() or None,
            orthogonal=self.orthogonal.isChecked() and m not in ("gradctrl", "adatrans"),
            protect=[i.text() for i in self.protect.selectedItems()],
            labels_csv=self.csv.text().strip() or None if labels == "csv" else None,
            tagged=list(self.tagged) if labels == "tagged" else None,
            attribute="tag" if labels == "tagged" else None,
            classifier=self.classifier.currentText(),
            space=self.space.currentData(),
            at=[float(v) for v in self.current_z] if m == "jacobian" and self.at_current.isChecked() else None,
            finetune_steps=self.finetune.value() if m == "householder" else 0,
            save_model=self._save_path(m),
            seed=self.seed.value(),
        )
        opts.validate()
        return opts

    def _save_path(self, method: str) -> str | None:
        if method != "householder" or not self.finetune.value():
            return None
        text = self.save_model.text().strip()
        if not text:
            return None
        from latentlab.core.directions.find import check_tuned_model_path

        try:
            return str(check_tuned_model_path(text, keep=(self.entry.checkpoint.path,)))
        except ValueError as exc:
            raise ValueError(f"the fine-tuned model {exc}") from None

    def run(self) -> None:
        from latentlab.core.directions import find_directions

        try:
            opts = self.options()
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        entry = self.entry
        self.status.setText(f"finding {opts.method} directions…")
        self.runner.start(lambda ctx: find_directions(entry.model, opts, ctx, entry.checkpoint.sha256, entry.name),
                          label=f"{opts.method} directions")

    def _done(self, dirset) -> None:
        if dirset.source_sha256 == self.entry.checkpoint.sha256 or not self.finetune.value():
            self.status.setText(f"found {len(dirset)} direction(s)")
            self.found.emit(dirset)
            return
        # Fine-tuned: the directions belong to the new generator. Saved as its sidecar, they open with it.
        from latentlab.core.directions import save_directions
        from latentlab.core.sidecars import directions_sidecar

        model_path = Path(self.save_model.text().strip()).expanduser()
        sidecar = directions_sidecar(model_path)
        try:
            save_directions(dirset, sidecar)
        except OSError as exc:
            self.status.setText(f"⚠ the fine-tuned model is in {model_path.name}, its directions could not be "
                                f"saved: {exc.strerror or exc}")
            return
        self.status.setText(f"wrote {model_path.name} and its {len(dirset)} directions; opening it")
        self.modelWritten.emit(model_path)

    def reject(self) -> None:
        self.runner.cancel()
        super().reject()

    def keyPressEvent(self, ev) -> None:
        if ev.key() == Qt.Key.Key_Escape and self.runner.busy:
            self.runner.cancel()
            return
        super().keyPressEvent(ev)
