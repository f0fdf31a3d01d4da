"""The Sweep view: a folder of checkpoints read from the store, evaluated in the background, sorted, drawn as a
rank-correlation heatmap and violins per hyper-parameter; a row opens in the explorer or joins Compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from latentlab.core.checkpoint import make_card, save_checkpoint
from latentlab.core.store import ResultStore
from tests.helpers import tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture
def sweep_folder(tmp_path) -> Path:
    """Six tiny checkpoints: two betas x three seeds, with the cards training writes."""
    root = tmp_path / "runs"
    root.mkdir()
    for beta in (1.0, 4.0):
        for seed in range(3):
            model = tiny_model(latent_dim=3, seed=seed + int(10 * beta))
            config = {"arch": "beta_vae", "dataset": "dsprites", "objective": {"beta": beta}, "seed": seed,
                      "latent_dim": 3, "steps": 10}
            training = {"objective": "beta_vae", "objective_hparams": {"beta": beta}, "seed": seed, "step": 10}
            save_checkpoint(model, root / f"b{beta:g}-s{seed}.safetensors", make_card(model, training=training,
                                                                                      config=config))
    (root / "b1-s0.series").mkdir()  # a run's snapshots are not rows of the sweep
    save_checkpoint(tiny_model(latent_dim=3), root / "b1-s0.series" / "step-0000005.safetensors",
                    make_card(tiny_model(latent_dim=3)))
    return root


def _evaluated(qtbot, panel, folder: Path) -> None:
    panel.metrics.setText("mig,modularity")
    panel.n.setValue(100)
    panel.open_folder(folder)
    qtbot.waitUntil(lambda: not panel.runner.busy and panel.table.rowCount() == 6, timeout=60000)
    assert panel.table.item(0, 3).text() == "—"  # nothing in the store yet
    with qtbot.waitSignal(panel.runner.finished, timeout=300000):
        panel.evaluate_button.click()


def test_open_evaluate_sort_and_plots(qtbot, window, sweep_folder):
    panel = window.sweep
    assert window.panel("Sweep") is panel
    _evaluated(qtbot, panel, sweep_folder)
    headers = [panel.table.horizontalHeaderItem(i).text() for i in range(panel.table.columnCount())]
    assert headers == ["checkpoint", "objective", "hyper-parameters", "mig.mig", "modularity.modularity",
                       "modularity.explicitness", "modularity.explicitness_train"]
    mig = [float(panel.table.item(r, 3).text()) for r in range(6)]
    assert all(0.0 <= v <= 1.0 for v in mig)
    panel.table.sortItems(3, Qt.SortOrder.DescendingOrder)
    shown = [float(panel.table.item(r, 3).text()) for r in range(6)]
    assert shown == sorted(shown, reverse=True)
    # Each figure's rank correlation with itself is 1; the matrix is symmetric; MIG against modularity is theirs.
    m = panel.heatmap.matrix
    assert panel.heatmap.row_labels == ["MIG", "Mod", "Expl"]  # fits on training points are left out
    assert np.allclose(np.diag(m)[:2], 1.0) and np.allclose(m, m.T, equal_nan=True)
    from scipy.stats import spearmanr

    modularity = [float(panel.table.item(r, 4).text()) for r in range(6)]
    assert m[0, 1] == pytest.approx(spearmanr(shown, modularity)[0], abs=0.05)  # table rounds to 3 decimals
    assert panel.heatmap.bar.getAxis("right").labelText == "Spearman ρ"
    panel.metric_box.setCurrentText("mig.mig")
    panel.hparam_box.setCurrentText("beta")
    assert [v for v, _ in panel.violins.groups] == [1.0, 4.0]
    assert sorted(np.concatenate([ys for _, ys in panel.violins.groups]).round(3).tolist()) == sorted(
        np.round(mig, 3).tolist())
    # Stored: the store's rows include the same six checkpoints, with the names the folder gave them.
    shas = {r.sha256 for r in panel.data.rows}
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        panel.store_button.click()
    ours = [r for r in panel.data.rows if r.sha256 in shas]
    assert len(ours) == 6 and all("tiny-beta_vae" in r.label and r.file is None for r in ours)
    assert sorted(r.values["mig.mig"] for r in ours) == pytest.approx(sorted(mig), abs=1e-3)
    panel.table.selectRow(0)
    assert not panel.compare_button.isEnabled()  # no file is known for a row of the store


def test_a_row_opens_in_the_explorer_and_joins_compare(qtbot, window, sweep_folder):
    panel = window.sweep
    panel.metrics.setText("mig")
    panel.open_folder(sweep_folder)
    qtbot.waitUntil(lambda: not panel.runner.busy and panel.table.rowCount() == 6, timeout=60000)
    first = panel.row_at(0).file
    with qtbot.waitSignal(panel.openRequested, timeout=5000) as sig:
        panel.table.cellDoubleClicked.emit(0, 0)
    assert sig.args == [first]
    qtbot.waitUntil(lambda: window.state.current is not None
                    and Path(window.state.current.checkpoint.path) == Path(first), timeout=30000)
    panel.table.selectRow(1)
    second = panel.row_at(1).file
    assert panel.compare_button.isEnabled()
    panel.compare_button.click()
    qtbot.waitUntil(lambda: any(Path(e.checkpoint.path) == Path(second) for e in window.compare.followers()),
                    timeout=30000)
    assert Path(window.state.current.checkpoint.path) == Path(first)  # the explorer keeps its model


def test_cancel_stops_the_evaluation(qtbot, window, sweep_folder):
    panel = window.sweep
    panel.metrics.setText("dci")
    panel.n.setValue(2000)
    panel.open_folder(sweep_folder)
    qtbot.waitUntil(lambda: not panel.runner.busy and panel.table.rowCount() == 6, timeout=60000)
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.runner.busy, timeout=5000)
    with qtbot.waitSignal(panel.runner.cancelled, timeout=5000):
        panel.runner.cancel()
    assert "cancelled" in panel.status.text()
    assert panel.runner.wait(120)  # the job thread ends (at the next task boundary)
    assert len(ResultStore().find(kind="metric", name="dci")) < 6  # the sweep did not run to its end
