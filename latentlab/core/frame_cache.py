"""Decoded frames kept by their exact latent, so a latent seen before is shown without decoding it again.

A decode is a pure function of the latent for a given model on a given device, so a frame can be reused for
exactly the same latent bytes. That happens more often than it sounds: slider positions are discrete (a drag
back over the same stretch revisits them), undo/redo and bookmarks return to earlier latents, a traversal
grid cell clicked was rendered as part of its row, and a quantized model's latents take few distinct values
(the preview prefetches the codebook neighbours of the dimension being dragged). The owner clears the cache
when the model or its device changes. Memory is bounded by bytes, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 64 * 2**20


def _owner(img: np.ndarray) -> np.ndarray:
    """The array whose memory ``img`` lies in: a frame of a batch keeps the whole batch alive."""
    while isinstance(img.base, np.ndarray):
        img = img.base
    return img


class FrameCache:
    """``latent (D,) float32 -> uint8 image``, least recently used evicted beyond ``max_bytes``.

    Memory is counted by what is held: frames of one batch (a grid row, say) share their batch's memory, which
    is counted once, while any of them is kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._owners: dict[int, tuple[np.ndarray, int]] = {}  # id -> (owning array, frames kept in it)
        self.nbytes = 0
        self.hits = 0

    @staticmethod
    def key(z: np.ndarray) -> bytes:
        return np.ascontiguousarray(z, dtype=np.float32).tobytes()

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, z: np.ndarray) -> bool:
        return self.key(z) in self._frames

    def get(self, z: np.ndarray) -> np.ndarray | None:
        k = self.key(z)
        img = self._frames.get(k)
        if img is not None:
            self._frames.move_to_end(k)
            self.hits += 1
        return img

    def put(self, z: np.ndarray, image: np.ndarray) -> None:
        """Keep ``image`` (not copied; made read-only) as the frame of ``z``."""
        if _owner(image).nbytes > self.max_bytes:
            return
        image.flags.writeable = False  # shared with every view that shows it
        k = self.key(z)
        old = self._frames.pop(k, None)
        if old is not None:
            self._release(old)
        self._frames[k] = image
        self._hold(image)
        while self.nbytes > self.max_bytes and len(self._frames) > 1:
            _, gone = self._frames.popitem(last=False)
            self._release(gone)

    def _hold(self, image: np.ndarray) -> None:
        owner = _owner(image)
        held = self._owners.get(id(owner))
        if held is None:
            self.nbytes += owner.nbytes
            self._owners[id(owner)] = (owner, 1)
        else:
            self._owners[id(owner)] = (owner, held[1] + 1)

    def _release(self, image: np.ndarray) -> None:
        owner = _owner(image)
        _, count = self._owners[id(owner)]
        if count == 1:
            del self._owners[id(owner)]
            self.nbytes -= owner.nbytes
        else:
            self._owners[id(owner)] = (owner, count - 1)

    def put_batch(self, zs: np.ndarray, images: np.ndarray) -> None:
        for z, img in zip(zs, images, strict=True):
            self.put(z, img)

    def clear(self) -> None:
        self._frames.clear()
        self._owners.clear()
        self.nbytes = 0
