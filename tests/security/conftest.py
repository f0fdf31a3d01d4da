"""The app fixtures (a main window on no demo models) for the hostile cases that go through the GUI."""

from tests.ui.conftest import empty_models_dir, window  # noqa: F401
