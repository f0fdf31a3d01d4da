"""Editing a style generator in the app model: switching z / w / W+ keeps the picture, classes, truncation and
noise redraw the same latent, style mixing, bookmarks of other spaces, and all of it kept in sessions (a real
checkpoint file written and opened as the app opens it)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from latentlab.app import AppModel, ModelEntry
from latentlab.app.sessions import Restore, capture
from latentlab.core.checkpoints import open_checkpoint, save_checkpoint
from latentlab.core.session import load_session, save_session
from tests.stylegan_fixtures import tiny_sg2


def _entry(tmp_path, c_dim: int = 3) -> ModelEntry:
    path = save_checkpoint(tiny_sg2(c_dim=c_dim), tmp_path / "g.safetensors")
    return ModelEntry(open_checkpoint(path))


def _image(entry: ModelEntry, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return entry.model.decode(torch.from_numpy(np.asarray(z, np.float32))[None])[0].numpy()


def _app(tmp_path, c_dim: int = 3) -> tuple[AppModel, ModelEntry]:
    app = AppModel()
    entry = app.add_model(_entry(tmp_path, c_dim))
    app.random_sample(3)
    return app, entry


def test_switching_the_space_keeps_the_picture_and_resizes_the_latent(tmp_path):
    app, entry = _app(tmp_path)
    g = entry.model
    before = _image(entry, app.z)
    events = []
    app.currentModelChanged.connect(lambda e: events.append("model"))
    app.latentChanged.connect(lambda s: events.append(s))
    assert app.set_style(entry, space="w+")
    assert app.z.shape == (g.num_ws * g.w_dim,) and entry.latent_dim == g.num_ws * g.w_dim
    assert events == ["model", "style"]
    assert np.abs(_image(entry, app.z) - before).max() < 1e-5
    assert app.set_style(entry, space="w") and app.z.shape == (g.w_dim,)
    assert np.abs(_image(entry, app.z) - before).max() < 1e-5
    assert not app.history.can_undo  # a history of another size is no history of this latent


def test_back_to_z_is_the_z_it_left_with_a_note(tmp_path):
    app, entry = _app(tmp_path)
    z = app.z.copy()
    notes = []
    app.message.connect(lambda level, text: notes.append(text))
    app.set_style(entry, space="w")
    app.set_dim(0, 1.5, "slider:0", commit=True)
    app.set_style(entry, space="z")
    assert np.array_equal(app.z, z) and any("no way back to z" in n for n in notes)


def test_class_truncation_and_noise_redraw_the_same_latent(tmp_path):
    app, entry = _app(tmp_path)
    z = app.z.copy()
    images = [_image(entry, z)]
    events = []
    app.styleChanged.connect(lambda e: events.append("style"))
    for change in ({"class_index": 2}, {"class_blend": 1, "class_t": 0.5}, {"psi": 0.5, "cutoff": 2},
                   {"noise_mode": "random", "noise_seed": 7}, {"noise_strength": 0.0}):
        assert app.set_style(entry, **change)
        assert np.array_equal(app.z, z)
        images.append(_image(entry, z))
    assert events == ["style"] * 5
    for a, b in zip(images, images[1:], strict=False):
        assert np.abs(a - b).max() > 1e-6


def test_a_refused_setting_changes_nothing_and_says_why(tmp_path):
    app, entry = _app(tmp_path)
    model, z = entry.model, app.z.copy()
    errors = []
    app.message.connect(lambda level, text: errors.append((level, text)))
    assert not app.set_style(entry, class_index=9)
    assert not app.set_style(entry, psi=2.0)
    assert entry.model is model and np.array_equal(app.z, z)
    assert [lvl for lvl, _ in errors] == ["error", "error"] and "classes" in errors[0][1]


def test_style_mixing_takes_the_layers_of_the_second_latent(tmp_path):
    app, entry = _app(tmp_path)
    g = entry.model
    own = app.ws(entry, app.z)
    other = np.random.default_rng(5).standard_normal(g.z_dim).astype(np.float32)
    theirs = app.ws(entry, other)
    assert app.mix_from(other, 2, g.num_ws)
    assert entry.model.latent_space == "w+"
    ws = app.z.reshape(g.num_ws, g.w_dim)
    assert np.allclose(ws[:2], own[:2]) and np.allclose(ws[2:], theirs[2:])


def code(name: str, space: str, vector: np.ndarray) -> SimpleNamespace:
    """What core.latent_codes reads from a .npy/.npz/.pt file: a name, its space and a flat vector."""
    return SimpleNamespace(name=name, space=space, vector=vector)


def test_imported_codes_restore_in_their_own_space(tmp_path):
    app, entry = _app(tmp_path)
    g = entry.model
    ws = np.random.default_rng(1).standard_normal((g.num_ws, g.w_dim)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal(g.w_dim).astype(np.float32)
    assert app.add_bookmarks([code("projected", "w+", ws.reshape(-1)), code("e4e", "w", w)], "x.pt") == 2
    assert entry.model.latent_space == "z"
    app.restore_bookmark(app.bookmarks[0])  # no way from W+ to z: the view goes to W+
    assert entry.model.latent_space == "w+" and np.array_equal(app.z, ws.reshape(-1))
    app.restore_bookmark(app.bookmarks[1])  # w fits W+: repeated on every layer
    assert np.allclose(app.z.reshape(g.num_ws, g.w_dim), w[None])


def test_the_style_and_space_are_kept_in_the_session(tmp_path):
    app, entry = _app(tmp_path)
    app.set_style(entry, class_index=1, psi=0.6, cutoff=3, noise_mode="none")
    app.set_style(entry, space="w+")
    app.set_dim(5, 2.0, "slider:5", commit=True)
    app.add_bookmark("mine")
    z = app.z.copy()
    save_session(capture(app), tmp_path / "s.llab")

    fresh = AppModel()
    session = load_session(tmp_path / "s.llab")
    restore = Restore(fresh, session)
    restore.expect(session.checkpoints[0], tmp_path / "g.safetensors")
    again = fresh.add_model(_entry(tmp_path))
    restore.model_opened(again)
    assert restore.problems == []
    assert fresh.style_of(again) == app.style_of(entry)
    assert again.model.latent_space == "w+" and np.array_equal(fresh.z, z)
    assert fresh.bookmarks[0].space == "w+"
    assert np.abs(_image(again, fresh.z) - _image(entry, z)).max() < 1e-6


def test_a_hostile_style_in_a_session_is_a_problem_not_a_crash(tmp_path):
    app, entry = _app(tmp_path)
    save_session(capture(app), tmp_path / "s.llab")
    session = load_session(tmp_path / "s.llab")
    session.checkpoints[0].view["style"] = {"space": "w+", "psi": "lots"}
    fresh = AppModel()
    restore = Restore(fresh, session)
    restore.expect(session.checkpoints[0], tmp_path / "g.safetensors")
    again = fresh.add_model(_entry(tmp_path))
    restore.model_opened(again)
    assert len(restore.problems) == 1 and "psi" in restore.problems[0]
    assert again.model.latent_space == "z"


def test_models_that_are_not_style_generators_have_no_style(tmp_path):
    from tests.helpers import tiny_checkpoint

    app = AppModel()
    entry = app.add_model(ModelEntry(open_checkpoint(tiny_checkpoint(tmp_path / "v.safetensors"))))
    errors = []
    app.message.connect(lambda level, text: errors.append(text))
    assert app.style_of(entry) is None and not app.set_style(entry, space="w")
    assert "not a style-based generator" in errors[0]
