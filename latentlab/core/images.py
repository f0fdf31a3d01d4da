"""Real images in: files, folders and in-memory pictures turned into a model's input.

A model wants (C, H, W) floats in [0, 1] with its own channel count and size. Pictures are read with
Pillow (EXIF rotation applied, alpha composited onto black, the background of the factor datasets),
converted to grey or RGB, and fitted to the model's size: ``crop`` keeps the aspect ratio and crops the
centre (the default), ``pad`` keeps the whole picture and pads with black, ``stretch`` ignores the ratio.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core.errors import BadInput
from latentlab.core.input_files import check_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FITS = ("crop", "pad", "stretch")


class ImageFileError(BadInput):
    """An image could not be read; the message names the file."""


def collect_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted by name, not recursive)."""
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found = sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in IMAGE_SUFFIXES
                           and not c.name.startswith("."))
            if not found:
                raise ImageFileError(f"{p}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            out.extend(found)
        elif p.exists():
            check_regular(p, "an image file", error=ImageFileError)  # a pipe or a device would hang the read
            out.append(p)
        else:
            raise ImageFileError(f"{p}: no such file or folder")
    if not out:
        raise ImageFileError("no images given")
    return out


def _to_pil(picture: Any):
    from PIL import Image

    if isinstance(picture, Image.Image):
        return picture
    arr = np.asarray(picture)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)  # C, H, W -> H, W, C
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise ImageFileError(f"an image array must be (H, W), (H, W, C) or (C, H, W), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr.astype(np.uint8))


def to_model_input(picture: Any, image_shape: Sequence[int], fit: str = "crop") -> np.ndarray:
    """A PIL image or an array (uint8 0..255 or float 0..1) -> (C, H, W) float32 in [0, 1] for the model."""
    from PIL import Image, ImageOps

    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    c, h, w = (int(s) for s in image_shape)
    img = _to_pil(picture)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba)
    img = img.convert("L" if c == 1 else "RGB")
    resample = Image.Resampling.LANCZOS
    if fit == "crop":
        img = ImageOps.fit(img, (w, h), method=resample)
    elif fit == "pad":
        img = ImageOps.pad(img, (w, h), method=resample, color=0)
    else:
        img = img.resize((w, h), resample=resample)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


def load_image(path: str | os.PathLike, image_shape: Sequence[int], fit: str = "crop") -> np.ndarray:
    """One image file -> (C, H, W) float32 in [0, 1] fitted to ``image_shape``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_dir():  # a folder gets its own message below
        check_regular(p, "an image file", error=ImageFileError)
    try:
        with Image.open(p) as img:
            img.load()
            return to_model_input(ImageOps.exif_transpose(img), image_shape, fit)
    except FileNotFoundError:
        raise ImageFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageFileError(f"{p}: is a folder; pass the folder to read all images in it") from None
    except UnidentifiedImageError:
        raise ImageFileError(f"{p}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageFileError(f"{p}: refused, the image is implausibly large ({exc})") from None
    except (OSError, SyntaxError) as exc:  # truncated or corrupt image data
        raise ImageFileError(f"{p}: corrupt or truncated image ({exc})") from None


def load_images(paths: Iterable[str | os.PathLike], image_shape: Sequence[int], fit: str = "crop"
                ) -> tuple[np.ndarray, list[str]]:
    """Files and folders -> ((n, C, H, W) float32 in [0, 1], the file paths in the same order)."""
    files = collect_images(paths)
    arrays = [load_image(f, image_shape, fit) for f in files]
    return np.stack(arrays), [str(f) for f in files]
