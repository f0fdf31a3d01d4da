"""One entry point for every finder: what the CLI and the "find directions" dialog call from a worker."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import numpy as np

from latentlab.core import limits
from latentlab.core.data import FactorDataset, get_dataset
from latentlab.core.directions.base import Direction, DirectionSet, orthogonalised
from latentlab.core.directions.labels import LabeledLatents, csv_labels, factor_index, factor_labels, tagged_labels
from latentlab.core.errors import BadInput
from latentlab.core.jobs import JobContext, ensure_context
from latentlab.core.limits import check_float, check_int, check_seed
from latentlab.core.model import LatentModel, device_of

METHODS = ("sefa", "householder", "pca", "jacobian", "interfacegan", "gradctrl", "adatrans")
PCA_SPACES = ("prior", "encoded")


@dataclass
class FindOptions:
    """What to find. Unused fields are ignored by methods they do not concern."""

    method: str
    dataset: str | None = None  # name or file; default: the model's training dataset
    factors: list[str] = dc_field(default_factory=list)  # supervised/gradctrl targets (default: every factor)
    n: int | None = None  # samples to encode / draw (default per method)
    k: int | None = None  # number of unsupervised directions (default: all / 10)
    orthogonal: bool = False
    protect: list[str] = dc_field(default_factory=list)  # factors to stay orthogonal to / to mask (gradctrl)
    labels_csv: str | None = None
    tagged: list[tuple[Any, Any]] | None = None  # (latent, label) pairs tagged in the app
    attribute: str | None = None  # name for CSV / tagged labels
    classifier: str = "logistic"  # interfacegan: logistic | svm | mean
    mode: str = "auto"  # labels from factors: auto | binary | classes
    threshold: float | None = None
    space: str = "prior"  # pca: prior (GANSpace, first decoder layer) | encoded (PCA of encoded latents)
    at: list[float] | None = None  # jacobian: the latent to linearise at (default: the origin)
    top_k: int | None = None  # gradctrl: dimensions masked per other attribute
    steps: int = 400  # gradctrl: classifier training steps
    finetune_steps: int = 0  # householder: distillation steps with the projector in place (0: closed form)
    save_model: str | None = None  # householder: where the fine-tuned generator is written (needed to fine-tune)
    seed: int = 0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.space not in PCA_SPACES:
            raise ValueError(f"pca space must be one of {', '.join(PCA_SPACES)}, got {self.space!r}")
        if self.n is not None:
            check_int(self.n, "n (samples)", 2, limits.MAX_SAMPLES)
        if self.k is not None:
            check_int(self.k, "k (directions)", 1, limits.MAX_COUNT)
        if self.top_k is not None:
            check_int(self.top_k, "top_k", 0, limits.MAX_LATENT_DIM)
        check_int(self.steps, "steps", 1, limits.MAX_STEPS)
        check_int(self.finetune_steps, "fine-tuning steps", 0, limits.MAX_STEPS)
        if self.method == "householder" and self.finetune_steps and not self.save_model:
            raise ValueError("fine-tuned Householder directions belong to the fine-tuned generator: "
                             "give a file to save it to (--save-model)")
        check_seed(self.seed)
        if self.threshold is not None:
            check_float(self.threshold, "threshold")
        if self.at is not None:
            if len(self.at) > limits.MAX_LATENT_DIM:
                raise BadInput(f"at: {len(self.at)} values is more than any latent has")
            for i, v in enumerate(self.at):
                check_float(v, f"at[{i}]")
        if self.method in ("gradctrl", "adatrans") and self.orthogonal:
            raise ValueError("gradient fields have no single vector to orthogonalise; drop --orthogonal")
        if self.labels_csv and self.tagged:
            raise ValueError("give labels from a CSV or tagged samples, not both")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tagged"] = None if self.tagged is None else len(self.tagged)
        return d


def resolve_dataset(model: LatentModel, name: str | None, needed_for: str) -> FactorDataset:
    name = name or model.info.dataset
    if not name:
        raise ValueError(f"{needed_for} needs a dataset with ground-truth factors; the model names none (use --dataset)")
    return get_dataset(name)


def find_directions(model: LatentModel, options: FindOptions, ctx: JobContext | None = None,
                    source_sha256: str | None = None, source_name: str | None = None) -> DirectionSet:
    """Run ``options.method`` on ``model`` (on its device) and return the directions with their provenance."""
    ctx = ensure_context(ctx)
    options.validate()
    o, m = options, options.method
    dirs: list[Direction]
    if m == "sefa":
        from latentlab.core.directions.unsupervised import sefa

        dirs = sefa(model, o.k, o.orthogonal, o.seed, ctx)
    elif m == "householder":
        dirs, source_sha256, source_name = _householder(model, o, ctx, source_sha256, source_name)
    elif m == "jacobian":
        from latentlab.core.directions.unsupervised import jacobian_directions

        dirs = jacobian_directions(model, None if o.at is None else np.asarray(o.at, np.float32), o.k, o.seed, ctx)
        dirs = orthogonalised(dirs) if o.orthogonal else dirs
    elif m == "pca":
        from latentlab.core.directions.unsupervised import encoded_pca, ganspace

        k = o.k or min(10, model.info.latent_dim)
        if o.space == "encoded":
            ds = resolve_dataset(model, o.dataset, "PCA of encoded latents")
            dirs = encoded_pca(model, ds, k, o.n or 5000, o.seed, ctx)
        else:
            dirs = ganspace(model, k, o.n or 5000, o.orthogonal, o.seed, ctx)
    else:
        dirs = _supervised(model, o, ctx)
    space = getattr(model, "latent_space", None)
    if space is not None:  # a style generator's view: directions say which of its spaces they move
        for d in dirs:
            d.params.setdefault("space", space)
    meta = {"method": m, "options": o.to_dict()}
    return DirectionSet(model.info.latent_dim, dirs, source_sha256, source_name, meta)


def check_tuned_model_path(path: str | os.PathLike, keep: Iterable[str | os.PathLike] = ()) -> Path:
    """Where a fine-tuned generator may be written: a .safetensors file that is none of ``keep`` (the checkpoint
    it was tuned from, the direction file being written). ValueError says why not."""
    target = Path(path).expanduser()
    if target.suffix != ".safetensors":
        raise ValueError(f"must be a .safetensors file, got {target.name!r}")
    if target.exists() and any(Path(k).exists() and target.resolve() == Path(k).resolve() for k in keep):
        raise ValueError("would overwrite the checkpoint or the direction file; choose another file")
    return target


def _householder(model: LatentModel, o: FindOptions, ctx: JobContext, sha: str | None,
                 name: str | None) -> tuple[list[Direction], str | None, str | None]:
    """Householder projector directions; fine-tuned ones come with their generator, saved to ``o.save_model``
    (the directions then name that file as their source, so they open with it and not with the original)."""
    from latentlab.core.directions.householder import householder

    result = householder(model, o.k, o.finetune_steps, seed=o.seed, ctx=ctx)
    if result.fine_tuned is None:
        return result.directions, sha, name
    from dataclasses import replace

    from latentlab.core.checkpoints.card import make_card
    from latentlab.core.checkpoints.hashing import file_sha256
    from latentlab.core.checkpoints.native import save_checkpoint

    tuned = result.fine_tuned
    new_name = f"{model.info.name} · Householder k={len(result.directions)}"
    tuned.info = replace(model.info, name=new_name)  # type: ignore[assignment]
    assert o.save_model is not None  # validate() asks for it when fine-tuning
    path = save_checkpoint(tuned, o.save_model, make_card(tuned, householder={
        "source_sha256": sha, "source_name": name, "k": len(result.directions),
        "finetune_steps": o.finetune_steps, "final_loss": result.losses[-1]}))
    return result.directions, file_sha256(path), new_name


def _supervised(model: LatentModel, o: FindOptions, ctx: JobContext) -> list[Direction]:
    needs_dataset = not o.tagged or o.protect or o.labels_csv
    ds = resolve_dataset(model, o.dataset, f"{o.method} with factor or CSV labels") if needs_dataset else None
    encoded: tuple[np.ndarray, np.ndarray] | None = None
    if ds is not None:  # fail on a typo before minutes of encoding, not after
        for name in [*o.factors, *o.protect]:
            factor_index(ds, name)
    user_labels = bool(o.labels_csv or o.tagged)
    if ds is not None and (not user_labels or o.protect):
        from latentlab.core.encode import encode_dataset

        enc = encode_dataset(model, ds, o.n or 2000, seed=o.seed, ctx=ctx.sub(0.0, 0.4))
        encoded = (enc.mean, enc.factors)
    fit = ctx.sub(0.4, 1.0)
    targets: list[LabeledLatents]
    if o.labels_csv:
        assert ds is not None  # needs_dataset: resolve_dataset gave one or raised
        targets = [csv_labels(model, ds, o.labels_csv, o.attribute, ctx.sub(0.0, 0.4))]
    elif o.tagged:
        targets = [tagged_labels(o.tagged, o.attribute or "tag")]
    else:
        assert ds is not None and encoded is not None
        names = o.factors or list(ds.factor_names)
        if o.threshold is not None and len(names) > 1:
            raise ValueError("a threshold applies to one factor at a time; name a single factor with it")
        targets = [factor_labels(*encoded, ds, f, o.mode, o.threshold) for f in names]
    if o.method == "interfacegan":
        from latentlab.core.directions.supervised import factor_directions, supervised_directions

        protected: list[Direction] = []
        if o.protect:
            assert ds is not None and encoded is not None
            protected = factor_directions(model, ds, o.protect, classifier=o.classifier, seed=o.seed, encoded=encoded)
        out: list[Direction] = []
        for i, t in enumerate(targets):
            guard = [d for d in protected if d.params.get("attribute") != t.attribute]
            out += supervised_directions(t, o.classifier, guard, seed=o.seed,
                                         ctx=fit.sub(i / len(targets), (i + 1) / len(targets)))
        return orthogonalised(out) if o.orthogonal else out
    if o.method == "adatrans":
        return _adatrans(model, ds, encoded, targets, o, fit, user_labels)
    from latentlab.core.directions.gradctrl import gradctrl_directions

    out = []
    for i, t in enumerate(targets):
        others = _mask_attributes(ds, encoded, t.attribute, o.protect, every_other=not user_labels)
        out += gradctrl_directions(t, others, o.top_k, steps=o.steps, seed=o.seed, device=device_of(model),
                                   ctx=fit.sub(i / len(targets), (i + 1) / len(targets)))
    return out


def _adatrans(model: Any, ds: FactorDataset | None, encoded: tuple[np.ndarray, np.ndarray] | None,
              targets: list[LabeledLatents], o: FindOptions, fit: JobContext, user_labels: bool) -> list[Direction]:
    """Learned nonlinear paths (AdaTrans): binary targets, the other attributes kept, the prior's density held."""
    from latentlab.core.directions.adatrans import adatrans_directions

    out: list[Direction] = []
    normal = model.info.prior == "normal"
    for i, t in enumerate(targets):
        if len(t.classes) != 2 and encoded is not None and ds is not None:
            t = factor_labels(*encoded, ds, t.attribute, "binary", o.threshold)
        others = _mask_attributes(ds, encoded, t.attribute, o.protect, every_other=not user_labels)
        out += adatrans_directions(t, others, steps=o.steps, seed=o.seed, density=normal,
                                   ctx=fit.sub(i / len(targets), (i + 1) / len(targets)))
    return out


def _mask_attributes(ds: FactorDataset | None, encoded: tuple[np.ndarray, np.ndarray] | None, target: str,
                     protect: Sequence[str], every_other: bool) -> list[LabeledLatents]:
    """Attributes whose salient dimensions a GradCtrl field masks: --protect, else (for a factor target)
    every other factor of the dataset."""
    if ds is None or encoded is None:
        return []
    names = list(protect) if protect else ([f for f in ds.factor_names if f != target] if every_other else [])
    return [factor_labels(*encoded, ds, f, "auto") for f in names if f != target]
