"""YannDubs/disentangling-vae results: a folder holding ``model.pt`` (a plain state_dict of the Burgess
encoder/decoder) and ``specs.json`` (the training arguments: ``latent_dim``, ``img_size``, ``model_type``,
``dataset``, ...), as its ``utils/modelIO.save_model`` writes them; training snapshots are ``model-<epoch>.pt``
beside them.

The weights are mapped onto our ``burgess_vae`` network (``zoo/vae_layouts.py``), sized from the tensors.
specs.json is text anyone may have written: it is read with a size and nesting bound (``safe_json``), its
fields are type-checked, and what it claims is compared with the tensors, never trusted over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError
from latentlab.core.formats.layouts import Layout, LayoutPlugin, Match
from latentlab.core.input_files import read_bytes
from latentlab.core.limits import MAX_LATENT_DIM
from latentlab.core.safe_json import JSONFieldError, expect, field, loads_bounded
from latentlab.core.text import printable

MODEL_FILE = "model.pt"
SPECS_FILE = "specs.json"
MAX_SPECS_BYTES = 256 * 1024  # the real ones are under 1 KB
MAX_SPECS_DEPTH = 8
_DATASETS = {"dsprites": "dsprites"}  # its dataset names that latentlab has (a replica with the same factors)


def read_specs(path: Path) -> dict[str, Any]:
    """The specs.json at ``path``, parsed within bounds; every problem is one CheckpointError naming it."""
    data = read_bytes(path, "a specs.json file", max_bytes=MAX_SPECS_BYTES, error=CheckpointError)
    specs = loads_bounded(data, "specs.json", max_depth=MAX_SPECS_DEPTH, max_bytes=MAX_SPECS_BYTES,
                          allow_nan=False, error=lambda reason: CheckpointError(path, reason))
    if not isinstance(specs, dict):
        raise CheckpointError(path, "specs.json is not a JSON object")
    try:
        out: dict[str, Any] = {
            "latent_dim": field(specs, "latent_dim", "int", "specs.json", lo=1, hi=MAX_LATENT_DIM, optional=True,
                                default=None),
            "model_type": field(specs, "model_type", "string", "specs.json", hi=64, optional=True, default=None),
            "dataset": field(specs, "dataset", "string", "specs.json", hi=64, optional=True, default=None),
        }
        size = field(specs, "img_size", "list", "specs.json", lo=3, hi=3, optional=True, default=None)
        if size is not None:
            for i, v in enumerate(size):
                expect(v, "int", f"specs.json.img_size[{i}]", lo=1, hi=4096)
            out["img_size"] = tuple(size)
    except JSONFieldError as exc:
        raise CheckpointError(path, str(exc)) from None
    return out


class DisVAEPlugin(LayoutPlugin):
    name = "disentangling-vae"
    names = ("disentangling-vae", "disvae", "burgess_vae")
    code_base = "YannDubs/disentangling-vae"
    folder_files = (MODEL_FILE,)  # what open_checkpoint opens when given a results folder
    layouts = (Layout("burgess_vae", "Burgess", ("encoder.conv1.weight", "encoder.mu_logvar_gen.weight",
                                                 "decoder.lin1.weight", "decoder.convT3.weight"),
                      ("encoder", "decoder")),)

    def finish(self, model, found: Match, src: Source, notes: list[str]) -> dict[str, Any]:
        specs_path = src.path.parent / SPECS_FILE
        if not specs_path.exists() and not specs_path.is_symlink():
            notes.append(f"no {SPECS_FILE} beside it: latent size and image size read from the weights")
            return {}
        specs = read_specs(specs_path)
        kind = specs.get("model_type")
        if kind is not None and kind.lower() != "burgess":
            raise CheckpointError(specs_path, f"model_type is {printable(kind)!r}; the weights are the Burgess "
                                              "encoder/decoder, the one model disentangling-vae defines")
        info = model.info
        claimed = specs.get("latent_dim")
        if claimed is not None and claimed != info.latent_dim:
            raise CheckpointError(specs_path, f"latent_dim is {claimed} but the weights have {info.latent_dim} "
                                              "latents; is it the specs.json of another model?")
        size = specs.get("img_size")
        if size is not None and tuple(size) != tuple(info.image_shape):
            raise CheckpointError(specs_path, f"img_size is {list(size)} but the weights make images of "
                                              f"{list(info.image_shape)}; is it the specs.json of another model?")
        dataset = specs.get("dataset")
        ours = _DATASETS.get(dataset.lower()) if dataset else None
        if ours is not None:
            model.info = type(info)(info.name, info.latent_dim, info.image_shape, prior=info.prior, dataset=ours)
            notes.append(f"trained on {dataset}: metrics use latentlab's {ours} replica (the same factors)")
        elif dataset:
            notes.append(f"trained on {printable(dataset)}, a dataset latentlab does not have")
        return {"specs": {k: list(v) if isinstance(v, tuple) else v for k, v in specs.items() if v is not None}}
