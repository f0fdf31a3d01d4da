"""The Metrics dock: computes in the background, shows cards and heatmaps, reuses stored figures."""

from __future__ import annotations

import numpy as np

from tests.ui.conftest import open_and_wait


def test_compute_fills_cards_and_heatmaps_and_is_stored(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.metrics
    panel.n.setValue(300)
    panel.dataset.setCurrentText("dsprites")
    assert panel.params()["factorvae"] == {"sampling": "auto"}, "fresh votes (the reference protocol) by default"
    panel.sampling.setCurrentIndex(panel.sampling.findData("pool"))  # the fresh votes would encode all of dSprites
    panel.compute()
    qtbot.waitUntil(lambda: not panel.runner.busy and "done" in panel.status.text(), timeout=300000)
    mig = panel.results["mig"]
    assert mig.ok and 0.0 <= mig.values["mig"] <= 1.0
    assert panel.cards["mig"].value.text() == f"{mig.values['mig']:.3f}"
    assert "Mutual Information Gap" in panel.cards["mig"].toolTip()
    assert "not the reference protocol" in panel.cards["factorvae"].toolTip()
    assert panel.mi_map.matrix.shape == (4, 5)
    assert panel.dci_map.matrix.shape == (4, 5)
    assert panel.kl_bars.values is not None and len(panel.kl_bars.values) == 4
    # The factor-free geometry figures are computed with the suite and shown on their card, each with its label.
    geo = panel.results["geometry"]
    assert geo.ok and set(geo.values) == {"vne", "vne_normalized", "dse", "lid_mean", "lid_geomean"}
    lines = panel.cards["geometry"].value.text().split("\n")
    assert [line.rsplit("\u00a0", 1)[0].replace("\u00a0", " ") for line in lines] == [
        "VNE", "VNE/log d", "DSE", "LID mean", "LID geo"]
    assert lines[0].endswith(f"{geo.values['vne']:.3f}")
    # Stored: reloading shows every figure at once, without computing.
    panel.load_stored()
    assert set(panel.results) == set(panel.cards)
    assert all("from the results store" not in r.notes for r in panel.results.values())
    assert panel.results["mig"].values == mig.values
    figures = panel.figures(entry.checkpoint.sha256)
    assert figures["MIG"] == mig.values["mig"]


def test_heatmap_row_click_selects_that_latents_slider(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.metrics
    from latentlab.core.metrics.base import MetricResult

    res = MetricResult(metric="mig", values={"mig": 0.5}, arrays={"mi": np.ones((2, 5))}, latents=[1, 3],
                       latent_names=["z1", "z3"], factor_names=["a", "b", "c", "d", "e"])
    panel._on_result(res)
    selected = []
    panel.latentSelected.connect(selected.append)
    panel.mi_map.rowClicked.emit(1)
    assert selected == [3]


def test_generators_cannot_compute_metrics(qtbot, window):
    from tests.ui.conftest import make_checkpoint_entry
    from tests.ui.test_explorer import SlowModel

    window.state.add_model(make_checkpoint_entry(SlowModel(), "gen"))
    assert not window.metrics.compute_button.isEnabled()
    assert "no encoder" in window.metrics.status.text()


def test_an_undefined_figure_reads_n_a(qtbot, window):
    from latentlab.core.metrics.base import MetricResult

    panel = window.metrics
    panel._on_result(MetricResult(metric="geometry", values={"vne": 0.0, "vne_normalized": float("nan"), "dse": 0.1,
                                                             "lid_mean": 1.1, "lid_geomean": 1.0},
                                  notes=["VNE: one latent, whose entropy is 0; normalised by log d = 0 it is undefined"]))
    card = panel.cards["geometry"]
    assert "VNE/log\u00a0d\u00a0n/a" in card.value.text().split("\n")
    assert "one latent" in card.toolTip()
