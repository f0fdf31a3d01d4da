"""Decoded frames kept by their exact latent, so a latent seen before is shown without decoding it again.

A batch-1 decode is a pure function of the latent for a given model on a given device, so its frame can be
reused for exactly the same latent bytes on that device (the cache keys every frame by a ``space`` string,
the device). That happens more often than it sounds: slider positions are discrete (a drag back over the
same stretch revisits them), undo/redo and bookmarks return to earlier latents, and a quantized model's
latents take few distinct values (the preview prefetches the codebook neighbours of the dimension being
dragged). Frames decoded as part of a batch are not interchangeable with batch-1 decodes (batched
convolutions may round differently, one grey level here and there), so only batch-1 frames belong here.
Memory is bounded by bytes, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 64 * 2**20


def _owner(img: np.ndarray) -> np.ndarray:
    """The array whose memory ``img`` lies in: a view keeps all of it alive."""
    while isinstance(img.base, np.ndarray):
        img = img.base
    return img


class FrameCache:
    """``latent (D,) float32 -> uint8 image``, least recently used evicted beyond ``max_bytes``.

    Memory is counted by what is held: frames that are views of one array share its memory, which is counted
    once, while any of them is kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._owners: dict[int, tuple[np.ndarray, int]] = {}  # id -> (owning array, frames kept in it)
        self.nbytes = 0
        self.hits = 0

    @staticmethod
    def key(z: np.ndarray, space: str = "") -> bytes:
        return space.encode() + b"|" + np.ascontiguousarray(z, dtype=np.float32).tobytes()

    def __len__(self) -> int:
        return len(self._frames)

    def holds(self, z: np.ndarray, space: str = "") -> bool:
        return self.key(z, space) in self._frames

    def get(self, z: np.ndarray, space: str = "") -> np.ndarray | None:
        k = self.key(z, space)
        img = self._frames.get(k)
        if img is not None:
            self._frames.move_to_end(k)
            self.hits += 1
        return img

    def put(self, z: np.ndarray, image: np.ndarray, space: str = "") -> None:
        """Keep ``image`` (not copied; made read-only) as the batch-1 frame of ``z`` decoded in ``space``."""
        if _owner(image).nbytes > self.max_bytes:
            return
        image.flags.writeable = False  # shared with every view that shows it
        k = self.key(z, space)
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

    def clear(self) -> None:
        self._frames.clear()
        self._owners.clear()
        self.nbytes = 0
