"""The name a model is shown by when all we have is its file's path (files without a model card's name)."""

from __future__ import annotations

import os
import re
from pathlib import PurePath

# Names training code gives every run's file alike: Lightning's last.ckpt / last-v1.ckpt and
# epoch=9-step=1000.ckpt, disentangling-vae's model.pt and model-10.pt, checkpoint.pth, ...
_GENERIC_FILE = re.compile(r"^(?:(?:last|model|checkpoint)(?:-v?\d+)?|epoch=[^.]*)$", re.IGNORECASE)
# Folders that hold the files of a run rather than name it.
_GENERIC_FOLDER = re.compile(r"^(?:checkpoints?|ckpts?|weights|models?|saved_models|snapshots?)$", re.IGNORECASE)
_VERSION_FOLDER = re.compile(r"^version_\d+$")  # Lightning's TensorBoard logger: logs/<name>/version_<n>/


def display_name(path: str | os.PathLike) -> str:
    """``runs/betavae-dsprites/last.ckpt`` -> "betavae-dsprites (last)"; a distinctive file name stays its stem.

    Files named like every other run's (``last.*``, ``model.*``, ``checkpoint.*``, ``epoch=*.ckpt``) are named
    after the nearest folder that names the run: folders such as ``checkpoints/`` are passed over, and a
    Lightning ``version_N`` folder is shown with the run's name above it ("BetaTCVAE/version_0 (last)").
    A ``model`` file is simply its folder's model: disentangling-vae's ``results/btcvae_dsprites/model.pt``
    is "btcvae_dsprites".
    """
    p = PurePath(path)
    base = p.name.split(".", 1)[0] if not p.name.startswith("epoch=") else p.name.removesuffix(".ckpt")
    if not _GENERIC_FILE.match(base):
        return p.stem
    # A bare "last.ckpt" is named after the folder it is in: the working folder, for a relative path.
    parent = PurePath(os.path.abspath(path)).parent
    folders = [f for f in reversed(parent.parts) if f != parent.anchor]
    while folders and _GENERIC_FOLDER.match(folders[0]):
        folders.pop(0)
    if not folders:
        return p.stem
    run = folders[0]
    if _VERSION_FOLDER.match(run) and len(folders) > 1 and not _GENERIC_FOLDER.match(folders[1]):
        run = f"{folders[1]}/{run}"
    return run if base.lower() == "model" else f"{run} ({base})"
