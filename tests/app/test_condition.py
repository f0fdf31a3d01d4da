"""A conditioned decoder's condition in the app model: toggled, shown, refused when it does not fit, and kept
in sessions (a real PyTorch-VAE ConditionalVAE file, opened as the app opens it)."""

from __future__ import annotations

import numpy as np
import torch

from latentlab.app import AppModel, ModelEntry
from latentlab.app.sessions import Restore, capture
from latentlab.core.checkpoints import open_checkpoint
from latentlab.core.session import load_session, save_session
from latentlab.core.zoo.antixk import CELEBA_ATTRIBUTES
from tests.vae_fixtures import antixk_model, lightning_ckpt

SMILING = CELEBA_ATTRIBUTES.index("Smiling")
MALE = CELEBA_ATTRIBUTES.index("Male")


def _cvae_entry(tmp_path) -> ModelEntry:
    (tmp_path / "celeba-cvae").mkdir()
    path = lightning_ckpt(tmp_path / "celeba-cvae" / "last.ckpt", antixk_model("ConditionalVAE"))
    return ModelEntry(open_checkpoint(path))


def _image(entry: ModelEntry, z: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return entry.model.decode(torch.from_numpy(z)[None])


def test_toggling_attributes_redraws_the_same_latent(tmp_path):
    app = AppModel()
    entry = app.add_model(_cvae_entry(tmp_path))
    assert entry.conditioned and entry.name == "celeba-cvae (last)"
    assert np.array_equal(entry.condition(), np.zeros(40, np.float32))
    events = []
    app.conditionChanged.connect(lambda e: events.append(("condition", e)))
    app.latentChanged.connect(lambda source: events.append(("latent", source)))
    z = app.z.copy()
    before = _image(entry, z)
    assert app.toggle_condition(entry, SMILING, True) and app.toggle_condition(entry, MALE, True)
    assert events == [("condition", entry), ("latent", "condition")] * 2
    assert np.array_equal(app.z, z)  # the latent is untouched; the image is another
    c = entry.condition()
    assert c[SMILING] == 1 and c[MALE] == 1 and c.sum() == 2
    assert float((_image(entry, z) - before).abs().max()) > 1e-4
    app.toggle_condition(entry, MALE, False)
    assert entry.condition().sum() == 1


def test_a_one_hot_condition_moves_and_never_empties(tmp_path):
    app = AppModel()
    entry = app.add_model(_cvae_entry(tmp_path))
    entry.model.condition_exclusive = True  # as a class-conditional decoder is
    assert app.toggle_condition(entry, 3, True) and app.toggle_condition(entry, 5, True)
    c = entry.condition()
    assert c[5] == 1 and c.sum() == 1
    assert not app.toggle_condition(entry, 5, False)  # one class is always chosen
    assert entry.condition()[5] == 1


def test_a_condition_that_does_not_fit_is_refused_with_a_message(tmp_path):
    app = AppModel()
    entry = app.add_model(_cvae_entry(tmp_path))
    messages = []
    app.message.connect(lambda level, text: messages.append((level, text)))
    assert not app.set_condition(entry, np.ones(7))
    assert not app.set_condition(entry, np.full(40, np.nan))
    assert [m[0] for m in messages] == ["error", "error"] and "40 condition values" in messages[0][1]
    assert np.array_equal(entry.condition(), np.zeros(40, np.float32))


def test_sessions_keep_the_condition(tmp_path):
    app = AppModel()
    entry = app.add_model(_cvae_entry(tmp_path))
    app.toggle_condition(entry, SMILING, True)
    file = save_session(capture(app), tmp_path / "s.llab")
    session = load_session(file)
    again = AppModel()
    restore = Restore(again, session)
    ref = session.checkpoints[0]
    restore.expect(ref, entry.path)
    reopened = ModelEntry(open_checkpoint(entry.path))
    again.add_model(reopened, select=False)
    assert restore.model_opened(reopened) and not restore.problems
    assert np.array_equal(reopened.condition(), entry.condition())
    # A saved condition of the wrong size is reported and leaves the model as it opened.
    ref.view["condition"] = [1.0, 0.0]
    third = AppModel()
    restore = Restore(third, session)
    restore.expect(ref, entry.path)
    fresh = ModelEntry(open_checkpoint(entry.path))
    third.add_model(fresh, select=False)
    restore.model_opened(fresh)
    assert restore.problems and "condition" in restore.problems[0]
    assert fresh.condition().sum() == 0
