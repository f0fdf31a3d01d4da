"""Entry point of the PyInstaller bundle: the ``latentlab`` command line (``latentlab`` alone opens the app)."""

import multiprocessing
import sys

# joblib's worker processes (DCI fits factors in them) re-run this executable; freeze_support turns such a
# run into the worker it was started as instead of a second app.
multiprocessing.freeze_support()

import os  # noqa: E402

if os.environ.get("LATENTLAB_LAYOUT_PROBE"):  # a child trying a saved window layout (latentlab/ui/layout_probe.py)
    from latentlab.ui.layout_probe import main as probe

    probe()

from latentlab.cli import main  # noqa: E402

sys.exit(main())
