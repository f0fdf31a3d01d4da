"""A checkpoint series' concept-space path (``core.concept_paths``), as a window of read-out curves.

One line per ground-truth factor: how well it can be read out of each snapshot's latents, over the training
steps; the legend says the step each factor was learned at (half of its rise). Opened from the Compare panel's
series controls; the work runs there, off the GUI thread.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from latentlab.ui.safe_text import PlainLabel
from latentlab.ui.widgets import plot_widget

COLOURS = ("#e4572e", "#4c9be8", "#4caf7a", "#d8a53a", "#b07cc6", "#9aa3ad", "#ff8fab", "#7fdbda")


def _concepts_job(ctx, paths, steps, names, dataset_name, n, seed=0):
    """Open each snapshot (safe formats only: no trust is given here), encode the same images, read out."""
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.concept_paths import concept_path
    from latentlab.core.data import get_dataset

    ds = get_dataset(dataset_name)
    images, factors = ds.sample(n, np.random.default_rng(seed))
    models = []
    for i, p in enumerate(paths):
        ctx.check()
        ctx.progress(0.2 * i / len(paths), f"opening {names[i]}")
        models.append(open_checkpoint(p, device="cpu").model)
    return concept_path(models, steps, names, images, factors, list(ds.factor_names), ctx.sub(0.2, 1.0), seed)


class ConceptPathView(QDialog):
    def __init__(self, path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Concept path of the series")
        self.resize(640, 420)
        self.plot = plot_widget()
        self.plot.addLegend(offset=(-5, 5))
        self.plot.setLabel("bottom", "training step")
        self.plot.setLabel("left", "read-out accuracy of the factor from the latents")
        learned = path.learned_at()
        self.curves = []
        for k, factor in enumerate(path.factors):
            when = learned[factor]
            label = f"{factor} (learned at {when})" if when is not None else f"{factor} (not learned)"
            pen = pg.mkPen(COLOURS[k % len(COLOURS)], width=2)
            self.curves.append(self.plot.plot(path.steps, path.readout[:, k], pen=pen, symbol="o", symbolSize=5,
                                              symbolBrush=COLOURS[k % len(COLOURS)], name=label))
        order = sorted((s, f) for f, s in learned.items() if s is not None)
        self.summary = PlainLabel("learned, in order: " + (", ".join(f"{f} at {s}" for s, f in order) or "none"))
        lay = QVBoxLayout(self)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.summary)
