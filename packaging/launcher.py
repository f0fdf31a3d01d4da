"""Entry point of the PyInstaller bundle: the ``latentlab`` command line (``latentlab`` alone opens the app)."""

import multiprocessing
import sys

# joblib's worker processes (DCI fits factors in them) re-run this executable; freeze_support turns such a
# run into the worker it was started as instead of a second app.
multiprocessing.freeze_support()

from latentlab.cli import main  # noqa: E402

sys.exit(main())
