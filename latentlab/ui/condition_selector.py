"""The condition of a conditioned decoder (z, c), shown beside the latent sliders when the model has one.

A button that names what is switched on and opens a list of the model's classes or attributes: toggles for
independent attributes (a CelebA-attribute conditional VAE), one choice at a time for classes. The menu stays
open while toggling, so several attributes are set in one go. The condition lives in the app model
(``AppModel.set_condition``); this widget only shows it and writes the user's toggles back.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from latentlab.app import AppModel
from latentlab.ui.binding import connect_while_alive
from latentlab.ui.safe_text import plain_rich, shown


class _StayOpenMenu(QMenu):
    def mouseReleaseEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()  # toggled without closing the menu
            return
        super().mouseReleaseEvent(ev)


class ConditionSelector(QToolButton):
    def __init__(self, state: AppModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.list_menu = _StayOpenMenu(self)
        self.setMenu(self.list_menu)
        self.wanted = False  # shown for a conditioned model (isVisible also depends on the parent)
        connect_while_alive(state.currentModelChanged, self, lambda *_: self.rebuild())
        connect_while_alive(state.conditionChanged, self, lambda entry: entry is state.current and self.sync())
        self.rebuild()

    def rebuild(self) -> None:
        self.list_menu.clear()
        entry = self.state.current
        self.wanted = entry is not None and entry.conditioned
        self.setVisible(self.wanted)
        if not self.wanted:
            return
        for i, name in enumerate(entry.model.condition_names):  # type: ignore[union-attr]
            action = self.list_menu.addAction(shown(name, 200).replace("&", "&&"))
            action.setCheckable(True)
            action.toggled.connect(lambda on, i=i: self._toggle(i, on))
        self.sync()

    def _toggle(self, index: int, on: bool) -> None:
        entry = self.state.current
        if entry is None or not self.state.toggle_condition(entry, index, on):
            self.sync()  # refused (the one class of a one-hot condition): show what holds

    def sync(self) -> None:
        entry = self.state.current
        c = entry.condition() if entry is not None else None
        if c is None:
            return
        names = entry.model.condition_names  # type: ignore[union-attr]
        for action, value in zip(self.list_menu.actions(), c, strict=False):
            with QSignalBlocker(action):
                action.setChecked(bool(value >= 0.5))
        on = [shown(names[i], 40) for i in range(len(c)) if c[i] >= 0.5]
        what = "class" if getattr(entry.model, "condition_exclusive", False) else "condition"
        text = ", ".join(on) if 0 < len(on) <= 2 else (f"{len(on)} of {len(c)} on" if on else "all off")
        self.setText(f"{what}: {text}".replace("&", "&&"))
        self.setToolTip(plain_rich(f"The condition c this model decodes (z, c) under: switch its classes or "
                                   f"attributes on and off.\nOn: {', '.join(on) or 'none'}"))
