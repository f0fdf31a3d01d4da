"""The window is built before torch is imported: what the first second of start-up may not load.

Each check runs in a fresh interpreter (this one has torch loaded already), builds the main window the way
``latentlab gui`` does (``MainWindow(device=None)``) and reports which heavy libraries got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("torch", "sklearn", "scipy")

BUILD = """
import json, sys
from latentlab.ui.app import apply_style_sheet, make_app
app = make_app(style_sheet=False)
import latentlab.ui.main_window as mw
imported = {name: name in sys.modules for name in HEAVY}
window = mw.MainWindow(device=None)
apply_style_sheet(app)
window.show()
app.processEvents()
built = {name: name in sys.modules for name in HEAVY}
report = {"imported": imported, "built": built, "overlay": window.preview.canvas.overlay.toPlainText(),
          "status": window.statusBar().currentMessage(), "started": window.started}
window.close()
print(json.dumps(report))
"""


def run_fresh(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_the_main_window_imports_no_torch_sklearn_or_scipy():
    report = run_fresh(BUILD)
    assert report["imported"] == {name: False for name in HEAVY}, "importing the main window module"
    assert report["built"] == {name: False for name in HEAVY}, "building and showing the main window"
    assert not report["started"]
    assert report["overlay"] == report["status"] == "Loading PyTorch and models…"


def test_the_app_model_and_sessions_import_no_torch():
    report = run_fresh("import json, sys\nimport latentlab.app, latentlab.app.sessions\n"
                       "print(json.dumps({n: n in sys.modules for n in HEAVY}))")
    assert report == {name: False for name in HEAVY}


def test_the_torch_free_copies_of_names_match_the_modules_that_use_them():
    """core/choices.py and the metric catalogue repeat what torch-bound modules accept: they must agree."""
    from latentlab.core import choices
    from latentlab.core.data import BUILTIN
    from latentlab.core.flows import LOSS_TERMS, PDES
    from latentlab.core.invert import LOSSES
    from latentlab.core.metrics import METRICS
    from latentlab.core.metrics.catalogue import ABOUT
    from latentlab.core.probe import BUILTIN as PROBES
    from latentlab.core.style_edit import EDIT_SPACES
    from latentlab.core.zoo.style_api import NOISE_MODES, SPACES

    assert choices.BUILTIN_DATASETS == BUILTIN
    assert (choices.PDES, choices.LOSS_TERMS, choices.INVERSION_LOSSES) == (PDES, LOSS_TERMS, LOSSES)
    assert choices.PROBE_PROPERTIES == tuple(PROBES)
    assert (choices.SPACES, choices.NOISE_MODES, choices.EDIT_SPACES) == (SPACES, NOISE_MODES, EDIT_SPACES)
    assert list(ABOUT) == list(METRICS)
    assert all(METRICS[n].title == a.title and METRICS[n].keys == a.keys for n, a in ABOUT.items())


FIRST_FRAME = """
import json, sys, tempfile
from pathlib import Path
from PySide6.QtCore import QTimer
from latentlab.ui.app import make_app
from tests.helpers import tiny_checkpoint
app = make_app()
from latentlab.ui.main_window import MainWindow
ckpt = tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny.safetensors", latent_dim=4)
window = MainWindow(device=None)
window.show()
window.open_paths([ckpt])
QTimer.singleShot(0, lambda: window.finish_startup("cpu"))
report = {}
def poll():
    res = window.preview.last_result
    if res is not None and res.image is not None:
        report.update({name: name in sys.modules for name in HEAVY}, shape=list(res.image.shape))
        window.close()
        app.quit()
    else:
        QTimer.singleShot(5, poll)
QTimer.singleShot(0, poll)
QTimer.singleShot(120000, app.quit)
app.exec()
print(json.dumps(report))
"""


def test_the_first_frame_comes_before_scikit_learn_and_scipy_are_imported():
    """Showing a model's stored metrics needs only the metric catalogue: the metrics' libraries load on Compute."""
    report = run_fresh(FIRST_FRAME)
    assert report.get("shape"), "no frame was shown"
    assert report["torch"] and not report["sklearn"] and not report["scipy"]
