"""The app model's side of editing a style generator: its space, class, truncation, noise and transform.

A StyleGAN2 / SWAGAN / StyleGAN3 entry keeps the generator as it was opened (``ModelExtras.style_base``) and
shows a view of it (``core.style_edit.view_of``) made from its ``StyleSettings``. Changing the settings swaps
the entry's model for a new view: every view of the app then decodes through it. A change of the latent space
changes the latent's size, so it is announced as a new current model (sliders, map and grid rebuild) with the
latent carried over (``convert_latent``); any other change keeps the latent and is announced by
``styleChanged`` followed by ``latentChanged("style")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from latentlab.core.errors import LatentlabError
from latentlab.core.style_settings import StyleSettings

if TYPE_CHECKING:
    from types import ModuleType

    from latentlab.app.entries import ModelEntry, ModelExtras


def _se() -> ModuleType:
    """``core.style_edit``, imported on first use: it pulls torch, and the window is built before torch loads."""
    from latentlab.core import style_edit

    return style_edit


class StyleEditing:
    """Mixed into ``AppModel`` (which supplies the attributes declared below)."""

    if TYPE_CHECKING:
        current: ModelEntry | None
        z: np.ndarray
        _committed: np.ndarray
        styleChanged: Any  # psygnal SignalInstance
        lookChanged: Any  # psygnal SignalInstance
        currentModelChanged: Any  # psygnal SignalInstance
        latentChanged: Any  # psygnal SignalInstance
        historyChanged: Any  # psygnal SignalInstance
        locksChanged: Any  # psygnal SignalInstance
        message: Any  # psygnal SignalInstance
        history: Any

        def extras(self, entry: ModelEntry) -> ModelExtras: ...
        def latent_of(self, entry: ModelEntry) -> np.ndarray | None: ...
        def set_latent(self, z: np.ndarray, source: str, commit: bool = True, respect_locks: bool = True) -> None: ...

    def style_base(self, entry: ModelEntry) -> Any | None:
        """The generator as opened (None: the model is not a style generator)."""
        ex = self.extras(entry)
        if ex.style_base is None and _se().is_style_generator(entry.model):
            ex.style_base, ex.style = entry.model, _se().settings_of(entry.model)
        return ex.style_base

    def style_of(self, entry: ModelEntry) -> StyleSettings | None:
        return self.extras(entry).style if self.style_base(entry) is not None else None

    def set_style(self, entry: ModelEntry, **changes: Any) -> bool:
        """Decode ``entry`` with its settings changed by ``changes``; False (and a message) when refused."""
        base = self.style_base(entry)
        if base is None:
            self.message.emit("error", f"{entry.name} is not a style-based generator (StyleGAN2/3, SWAGAN)")
            return False
        ex = self.extras(entry)
        try:
            settings = ex.style.replace(**changes).checked(base)
            view = _se().view_of(base, settings)
        except (LatentlabError, TypeError, ValueError) as exc:
            self.message.emit("error", f"could not apply that setting: {exc}")
            return False
        if settings == ex.style and view.latent_space == getattr(entry.model, "latent_space", None):
            return True
        self._swap_view(entry, view, settings)
        return True

    def _swap_view(self, entry: ModelEntry, view: Any, settings: StyleSettings) -> None:
        old: Any = entry.model
        ex = self.extras(entry)
        latent = self.latent_of(entry)
        if old.latent_space == "z" and latent is not None and latent.size == old.z_dim:
            ex.last_z = latent.copy()
        note = None
        if latent is not None and latent.size:
            ex.last_latents[old.latent_space] = latent.copy()
            latent, note = _se().convert_latent(old, view, latent, ex.last_z, ex.last_latents)
        entry.checkpoint.model = view
        ex.style = settings
        space_changed = old.latent_space != view.latent_space
        if entry is not self.current:
            ex.latent = latent
            self.styleChanged.emit(entry)
            return
        if latent is not None:
            self.z = latent.astype(np.float32)
            self._committed = self.z.copy()
        self.styleChanged.emit(entry)
        if space_changed:
            ex.locked.clear()
            self.history.clear()
            self.currentModelChanged.emit(entry)
            self.historyChanged.emit()
            self.locksChanged.emit()
        self.latentChanged.emit("style")
        if note:
            self.message.emit("info", note)

    # --- looking inside: one synthesis layer instead of the RGB output ------------------------------------------------
    def look_of(self, entry: ModelEntry) -> Any | None:
        """The layer the preview shows instead of the image (``core.layer_view.LookSettings``), or None."""
        return self.extras(entry).look

    def set_look(self, entry: ModelEntry, look: Any | None) -> bool:
        """Show ``look`` (a LookSettings) in the preview instead of the RGB output; None: the image again."""
        if look is not None:
            if self.style_base(entry) is None:
                self.message.emit("error", f"{entry.name} has no synthesis layers to look inside")
                return False
            try:
                look = look.checked(entry.model)
            except LatentlabError as exc:
                self.message.emit("error", f"could not show that layer: {exc}")
                return False
        self.extras(entry).look = look
        self.lookChanged.emit(entry)
        return True

    def set_untransform(self, entry: ModelEntry, on: bool) -> bool:
        """StyleGAN3: show the output warped back by the inverse of its input transform (an equivariance check)."""
        if on and not hasattr(self.style_base(entry), "set_input_transform"):
            self.message.emit("error", "only StyleGAN3 generators have an input transform to undo")
            return False
        self.extras(entry).untransform = bool(on)
        self.lookChanged.emit(entry)
        return True

    # --- W+: style mixing ------------------------------------------------------------------------------------------
    def ws(self, entry: ModelEntry, latent: np.ndarray) -> np.ndarray:
        """(num_ws, w_dim): the ws ``entry``'s view decodes ``latent`` (of its space) with."""
        return _se().ws_of(entry.model, latent)

    def mix_from(self, source: np.ndarray, start: int, stop: int, source_space: str | None = None) -> bool:
        """Style mixing: the current generator's layers ``start``..``stop`` take their ws from ``source`` (a latent
        of ``source_space``, default the view's space). The view switches to W+, where the result lives."""
        entry = self.current
        if entry is None or self.style_base(entry) is None:
            self.message.emit("error", "style mixing needs a style-based generator (StyleGAN2/3, SWAGAN)")
            return False
        if getattr(entry.model, "latent_space", None) == "s":
            self.message.emit("error", "style mixing swaps ws: switch the latent space from S to W+ first")
            return False
        try:
            model: Any = entry.model
            src_view = model if source_space in (None, model.latent_space) else \
                _se().view_of(self.style_base(entry), self.extras(entry).style.replace(space=source_space))
            mixed = _se().mix_styles(self.ws(entry, self.z), _se().ws_of(src_view, source), start, stop)
        except (LatentlabError, ValueError, RuntimeError) as exc:
            self.message.emit("error", f"could not mix styles: {exc}")
            return False
        if model.latent_space != "w+" and not self.set_style(entry, space="w+"):
            return False
        self.set_latent(mixed.reshape(-1), "mix", respect_locks=False)
        return True

    def blend(self, weights: list[tuple[int, float]]) -> bool:
        """The current generator at the weighted blend of these seeds' ws (in w, or in W+ from z and W+)."""
        entry = self.current
        if entry is None or self.style_base(entry) is None:
            self.message.emit("error", "blending seeds needs a style-based generator (StyleGAN2/3, SWAGAN)")
            return False
        try:
            ws = _se().blend_seeds(entry.model, weights)
        except LatentlabError as exc:
            self.message.emit("error", f"could not blend the seeds: {exc}")
            return False
        space = getattr(entry.model, "latent_space", None)
        if space == "z" and not self.set_style(entry, space="w+"):  # no z gives the blend: it lives in W
            return False
        latent = ws.mean(axis=0) if space == "w" else ws.reshape(-1)
        self.set_latent(latent, "blend", respect_locks=False)
        return True

    def latent_in_space(self, entry: ModelEntry, latent: np.ndarray, space: str | None) -> np.ndarray | None:
        """A latent of ``space`` (a bookmark's) as a latent of ``entry``'s current view; None if it cannot be."""
        view: Any = entry.model
        if space is None or space == getattr(view, "latent_space", None) or self.style_base(entry) is None:
            return latent
        if not _se().exact_conversion(space, view.latent_space):
            return None  # no exact way there (w back to z, S back to w): the caller switches the space instead
        source = _se().view_of(self.style_base(entry), self.extras(entry).style.replace(space=space))
        return _se().convert_latent(source, view, latent)[0]
