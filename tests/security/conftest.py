"""The app fixtures of tests/ui, for the hostile-file tests that drive the app."""

from tests.ui.conftest import empty_models_dir, window  # noqa: F401
