"""The Flows dock: train with a live loss plot, stop and resume, play and scrub the flow in the preview."""

from __future__ import annotations

import numpy as np

from tests.ui.conftest import open_and_wait


def _train(qtbot, window, steps=6, k=3):
    panel = window.flows
    panel.k_count.setValue(k)
    panel.train_steps.setValue(steps)
    panel.start_training()
    qtbot.waitUntil(lambda: panel.flows is not None and not panel.trainer.busy, timeout=120000)
    return panel


def test_training_plots_losses_keeps_the_file_and_traces_paths(qtbot, window, tiny_ckpt):
    entry = open_and_wait(qtbot, window, tiny_ckpt)
    panel = _train(qtbot, window)
    assert panel.flows.step == 6 and panel.flows.n_potentials == 3
    assert len(panel.history) == 6
    assert len(panel.curves["pde"].getData()[0]) > 0
    assert panel.flows_file is not None and panel.flows_file.exists()
    assert entry.checkpoint.sha256[:12] in panel.flows_file.name
    qtbot.waitUntil(lambda: panel.path is not None, timeout=60000)
    assert panel.path.shape == (2 * 20 + 1, 4)
    assert np.allclose(panel.path[20], window.state.z)
    assert len(window.latent_map.path_items) == 3 or window.latent_map.embedding is None


def test_stop_keeps_what_was_trained_and_resume_continues(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    panel = window.flows
    panel.k_count.setValue(2)
    panel.train_steps.setValue(100000)
    panel.start_training()
    qtbot.waitUntil(lambda: len(panel.history) >= 2, timeout=120000)
    panel.trainer.stop_gracefully()
    qtbot.waitUntil(lambda: panel.flows is not None and not panel.trainer.busy, timeout=120000)
    stopped_at = panel.flows.step
    assert 2 <= stopped_at < 100000
    panel.train_steps.setValue(stopped_at + 3)
    assert panel.resume_button.isEnabled()
    panel.start_training(resume=True)
    qtbot.waitUntil(lambda: not panel.trainer.busy and panel.flows.step == stopped_at + 3, timeout=120000)


def test_scrubbing_and_playing_move_the_current_latent_along_the_path(qtbot, window, tiny_ckpt):
    open_and_wait(qtbot, window, tiny_ckpt)
    panel = _train(qtbot, window)
    qtbot.waitUntil(lambda: panel.path is not None, timeout=60000)
    panel.scrub.setValue(25)
    assert np.allclose(window.state.z, panel.path[25])
    panel.step(-1)
    assert np.allclose(window.state.z, panel.path[24])
    panel.fps.setValue(60)
    panel.play_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.scrub.value() >= 28, timeout=10000)
    panel.play_button.setChecked(False)
    assert np.allclose(window.state.z, panel.path[panel.scrub.value()])
    assert panel.u_curve.getData()[1].shape == (41,)


def test_flows_for_another_checkpoint_are_refused(qtbot, window, tiny_ckpt, tmp_path):
    from tests.helpers import tiny_checkpoint

    open_and_wait(qtbot, window, tiny_ckpt)
    panel = _train(qtbot, window, steps=3, k=2)
    saved = panel.save(tmp_path / "a.flows.safetensors")
    other = open_and_wait(qtbot, window, tiny_checkpoint(tmp_path / "other.safetensors", latent_dim=4, seed=9))
    assert window.state.current is other
    assert not panel.load(saved)
    assert window.banner.level == "error" and "flows" in window.banner.text


def test_pdetraversal_potentials_load_as_flows_and_play(qtbot, window, tiny_ckpt, tmp_path):
    import torch

    from tests.core.test_pdetraversal_import import ReferenceWavePDE

    entry = open_and_wait(qtbot, window, tiny_ckpt)
    torch.manual_seed(4)
    torch.save(ReferenceWavePDE(2, entry.latent_dim, True).state_dict(), tmp_path / "support_sets.pt")
    said = []
    window.state.message.connect(lambda level, text: said.append((level, text)))
    panel = window.flows
    assert panel.load(tmp_path / "support_sets.pt")
    flows = window.state.extras(entry).flows
    assert flows is not None and flows.n_potentials == 2
    assert any("classifier is new" in text for _, text in said)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert not panel.load(tmp_path / "junk.pt") and said[-1][0] == "error"
