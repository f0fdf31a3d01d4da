"""The application model: everything a user sets up in the app, as plain Python with psygnal events.

No Qt here (an import-linter contract enforces it): scripts, tests, sessions and the CLI drive it directly,
and the views in ``latentlab.ui`` only bind to its events and write back through its methods.

- ``explorer.AppModel``: open models, the current model and latent, history, locks, bookmarks, per-model
  directions and flows (``entries.ModelExtras``), the compare set, view and export settings;
- ``settings``: the evented ``ViewSettings`` and ``ExportSettings``;
- ``sessions``: an AppModel to a session file and back, for every open model.
"""

from __future__ import annotations

from latentlab.app.bookmarks import Bookmark
from latentlab.app.entries import ModelEntry, ModelExtras
from latentlab.app.explorer import MAX_COMPARE, AppModel
from latentlab.app.history import LatentHistory
from latentlab.app.settings import ExportSettings, ViewSettings

__all__ = ["AppModel", "Bookmark", "ExportSettings", "LatentHistory", "MAX_COMPARE", "ModelEntry", "ModelExtras",
           "ViewSettings"]
