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


class FrameCache:
    """``latent (D,) float32 -> uint8 image``, least recently used evicted beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[bytes, np.ndarray] = OrderedDict()
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
        if image.nbytes > self.max_bytes:
            return
        image.flags.writeable = False  # shared with every view that shows it
        k = self.key(z)
        old = self._frames.pop(k, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._frames[k] = image
        self.nbytes += image.nbytes
        while self.nbytes > self.max_bytes:
            _, gone = self._frames.popitem(last=False)
            self.nbytes -= gone.nbytes

    def put_batch(self, zs: np.ndarray, images: np.ndarray) -> None:
        for z, img in zip(zs, images, strict=True):
            self.put(z, img)

    def clear(self) -> None:
        self._frames.clear()
        self.nbytes = 0
