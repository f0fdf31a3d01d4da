"""The Qt-free application model: what a view relies on when it binds to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentlab.app import AppModel, ModelEntry
from latentlab.core.checkpoints import Checkpoint
from latentlab.core.errors import BadInput
from tests.helpers import tiny_model


def entry(name: str, d: int = 4, arch: str = "beta_vae", seed: int = 0) -> ModelEntry:
    model = tiny_model(arch, latent_dim=d, seed=seed)
    return ModelEntry(Checkpoint(Path(f"/virtual/{name}.safetensors"), name * 8, "test", {}, model))


def test_the_model_imports_and_runs_with_qt_absent():
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        class BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "superqt", "PyQt5", "PyQt6", "qtpy"):
                    raise ImportError(f"{name} is not installed (blocked by the test)")
                return None
        sys.meta_path.insert(0, BlockQt())
        import importlib, pkgutil
        import latentlab.app as app
        for m in pkgutil.walk_packages(app.__path__, "latentlab.app."):
            importlib.import_module(m.name)
        model = app.AppModel()
        model.set_range(4.0)
        assert model.range_std == 4.0
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_each_model_keeps_its_latent_and_locks_when_another_is_explored():
    app = AppModel()
    a, b = entry("a"), entry("b", d=3)
    app.add_model(a)
    app.set_latent(np.array([1, 2, 3, 4], np.float32), "test")
    app.set_locked(2, True)
    app.add_model(b)
    assert app.current is b and app.z.shape == (3,) and not app.locked
    app.select_model(a)
    assert np.array_equal(app.z, [1, 2, 3, 4]) and app.locked == {2}
    app.set_latent(np.zeros(4, np.float32), "test")
    assert app.z[2] == 3  # a locked dimension keeps its value


def test_events_name_their_source_and_fire_once_per_change():
    app = AppModel()
    a = entry("a")
    app.add_model(a)
    seen = []
    app.latentChanged.connect(seen.append)
    app.set_dim(1, 0.5, "slider")
    app.set_dim(1, 0.5, "slider")  # no change, no event
    app.undo()
    assert seen == ["slider"]  # nothing committed yet, so nothing to undo
    app.commit()
    app.undo()
    assert seen == ["slider", "undo"] and app.z[1] == 0


def test_removing_one_of_two_bookmarks_with_the_same_name_and_latent():
    app = AppModel()
    app.add_model(entry("a"))
    first = app.add_bookmark("same")
    second = app.add_bookmark("same")
    app.remove_bookmark(second)
    assert len(app.bookmarks) == 1 and app.bookmarks[0] is first


def test_bookmark_of_another_open_model_switches_to_it():
    app = AppModel()
    a, b = entry("a"), entry("b", d=3)
    app.add_model(a)
    app.set_latent(np.full(4, 0.25, np.float32), "test")
    bm = app.add_bookmark("here")
    app.add_model(b)
    app.restore_bookmark(bm)
    assert app.current is a and np.allclose(app.z, 0.25)


def test_directions_and_flows_are_kept_per_model():
    app = AppModel()
    a, b = entry("a"), entry("b")
    app.add_model(a)
    app.add_model(b)
    changed = []
    app.flowsChanged.connect(changed.append)
    app.set_flows(a, "flows-of-a", Path("/x/a.flows.safetensors"), k=2)
    app.set_directions(b, "dirs-of-b")
    assert app.extras(a).flows == "flows-of-a" and app.extras(a).flow_k == 2
    assert app.extras(b).directions == "dirs-of-b" and app.extras(a).directions is None
    assert changed == [a]


def test_compare_set_keeps_order_limit_and_forgets_closed_models():
    app = AppModel()
    es = [entry(str(i)) for i in range(6)]
    for e in es:
        app.add_model(e, select=False)
    for e in es:
        app.set_compared(e, True)
    assert app.compare == es[:4]
    app.remove_model(es[1])
    assert app.compare == [es[0], es[2], es[3]]


def test_one_value_codebook_still_has_a_slider_range():
    app = AppModel()
    q = entry("q", arch="qlae")
    app.add_model(q)
    lo, hi = app.bounds()
    assert np.all(hi > lo)


def test_settings_refuse_nonsense_from_sessions():
    app = AppModel()
    refused = app.view.update({"range_std": "wide", "grid_steps": 1000, "map_method": "UMAP", "colour": 1,
                               "show_passive": "yes"})
    assert app.view.grid_steps == 9 and app.view.range_std == 3.0 and app.view.map_method == "PCA"
    assert not app.view.show_passive and refused == ["range_std", "grid_steps", "show_passive", "map_method"]
    with pytest.raises(BadInput):
        app.view.checked("range_std", float("nan"))
    seen = []
    app.rangeChanged.connect(seen.append)
    app.set_range(5)
    assert seen == [5.0] and app.range_std == 5.0


def test_a_failing_view_does_not_keep_the_others_from_their_update(monkeypatch):
    import sys

    app = AppModel()
    app.add_model(entry("a"))
    reported, later = [], []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: reported.append(exc[0]))

    def broken(source):
        raise RuntimeError("a view crashed")

    app.latentChanged.connect(broken)
    app.latentChanged.connect(later.append)
    app.set_dim(0, 1.0, "slider")
    assert reported == [RuntimeError] and later == ["slider"] and app.z[0] == 1.0
