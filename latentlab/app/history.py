"""Undo/redo of committed latents (a drag commits once, on release)."""

from __future__ import annotations

import numpy as np


class LatentHistory:
    """Two stacks of latents; pushing a new step clears the redo stack."""

    def __init__(self, limit: int = 200):
        self.limit = limit
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []

    def push(self, previous: np.ndarray) -> None:
        if self._undo and np.array_equal(self._undo[-1], previous):
            return
        self._undo.append(previous.copy())
        del self._undo[: -self.limit]
        self._redo.clear()

    def undo(self, current: np.ndarray) -> np.ndarray | None:
        if not self._undo:
            return None
        self._redo.append(current.copy())
        return self._undo.pop()

    def redo(self, current: np.ndarray) -> np.ndarray | None:
        if not self._redo:
            return None
        self._undo.append(current.copy())
        return self._redo.pop()

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def untouched(self) -> bool:
        """Nothing was ever committed (the start latent may still be replaced by a better one)."""
        return not self._undo
