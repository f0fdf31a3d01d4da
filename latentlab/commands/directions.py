"""``latentlab directions``: find attribute directions, write them to a file, print how they move the factors."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    count_int,
    device_arg,
    echo,
    finite_float,
    int_arg,
    json_arg,
    print_json,
    raise_usage,
    seed_arg,
    steps_int,
    trust_arg,
    trust_of,
)
from latentlab.core import limits
from latentlab.core.directions.io import save_directions
from latentlab.core.text import printable

EPILOG = """\
methods:
  sefa          closed-form: eigenvectors of W^T W of the first decoder layer (--k, --orthogonal)
  householder   Householder projector (Song et al. 2023): the first decoder layer as a rank-k orthogonal
                projector; closed form (= SeFa's top k) or, with --finetune-steps N, fine-tuned in place
                by distillation from the original; the fine-tuned generator is written to --save-model
                and the directions (and their evaluation) belong to it
  pca           GANSpace-style PCA of prior samples through the first decoder layer (--space prior),
                or PCA of encoded dataset latents (--space encoded); --k, --n
  jacobian      directions of largest image change at a latent (--at, default the origin); --k
  interfacegan  normal of a linear classifier separating latents by a factor (--factor, --classifier,
                --protect for conditional manipulation) or by CSV labels (--labels)
  gradctrl      gradient fields of small latent classifiers, masking dimensions salient for the
                other factors (--factor, --protect, --top-k)
  adatrans      a learned nonlinear path per binary attribute (after AdaTrans): a small network gives
                each step from the latent and the target, keeping the other factors' classifiers and
                the prior's density (--factor, --protect, --steps)

label CSV (--labels): a header 'index,label' then one row per dataset sample: its flat index in the
dataset (C-ordered over the factor grid, last factor fastest) and any label text; '#' starts a comment.

The evaluation re-encodes images moved by -alpha and +alpha along each direction and reads the factors
back; each entry is the systematic change of that factor, as a fraction of its range (ordinal factors)
or of probability mass (categorical ones).
"""


def register(sub: Any) -> None:
    from latentlab.core.directions.find import METHODS, PCA_SPACES
    from latentlab.core.directions.labels import LABEL_MODES
    from latentlab.core.directions.supervised import CLASSIFIERS

    p = sub.add_parser("directions", help="find attribute directions and evaluate them",
                       description="Find latent directions with one method, save them, and print how each moves "
                                   "the ground-truth factors.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="checkpoint")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--dataset", help="dataset with ground-truth factors (default: the model's)")
    p.add_argument("--factor", action="append", metavar="NAME",
                   help="factor to find directions for (repeat, or comma-separate; default: every factor)")
    p.add_argument("--n", type=int_arg(2, limits.MAX_SAMPLES), help="samples to encode or draw (default: 2000 supervised, 5000 pca)")
    p.add_argument("--k", type=count_int, help="number of unsupervised directions")
    p.add_argument("--orthogonal", action="store_true", help="orthonormalise the set (Householder QR, in order)")
    p.add_argument("--protect", nargs="+", action="extend", default=[], metavar="FACTOR",
                   help="interfacegan: stay orthogonal to these factors' directions; gradctrl: mask their salient "
                        "dimensions (default for gradctrl: every other factor)")
    p.add_argument("--labels", metavar="CSV", help="labels from a CSV file instead of the dataset's factors")
    p.add_argument("--attribute", help="name of the CSV labels' attribute (default: the file name)")
    p.add_argument("--classifier", choices=CLASSIFIERS, default="logistic", help="interfacegan boundary (default logistic)")
    p.add_argument("--mode", choices=LABEL_MODES, default="auto",
                   help="factor labels: binary (above the median/--threshold), classes (one-vs-rest), auto")
    p.add_argument("--threshold", type=finite_float(-1e6, 1e6), help="binarise the factor at this value instead of its median")
    p.add_argument("--space", choices=PCA_SPACES, default="prior", help="pca: prior (GANSpace) or encoded")
    p.add_argument("--at", metavar="Z0,Z1,...", help="jacobian: the latent to linearise at (default: the origin)")
    p.add_argument("--top-k", type=int_arg(0, limits.MAX_LATENT_DIM), help="gradctrl: dimensions masked per other attribute (default D/10)")
    p.add_argument("--steps", type=steps_int, default=400, help="gradctrl / adatrans: training steps")
    p.add_argument("--finetune-steps", type=int_arg(0, limits.MAX_STEPS), default=0,
                   help="householder: fine-tuning steps with the projector in place (default 0: closed form)")
    p.add_argument("--save-model", metavar="OUT.safetensors",
                   help="householder with --finetune-steps: where to write the fine-tuned generator")
    seed_arg(p)
    arch_arg(p, "architecture, for plain state_dict checkpoints")
    p.add_argument("--no-eval", dest="evaluate", action="store_false", help="skip the evaluation")
    p.add_argument("--eval-n", type=int_arg(2, limits.MAX_SAMPLES), default=200, help="samples the evaluation moves (default 200)")
    p.add_argument("--alpha", type=finite_float(0.0, 1000.0, lo_open=True), default=2.0, help="evaluation step: latents move by -alpha and +alpha")
    p.add_argument("--out", required=True, help="direction file to write (.safetensors)")
    p.add_argument("--append", action="store_true",
                   help="add the new directions to --out if it exists (it must belong to the same checkpoint)")
    trust_arg(p)
    device_arg(p)
    json_arg(p)
    p.set_defaults(func=cmd_directions)


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        values = [math.nan]
    if not values or len(values) > limits.MAX_LATENT_DIM or not all(math.isfinite(v) for v in values):
        raise_usage(f"--at expects comma-separated numbers, all finite, got {printable(text, 80)!r}")
    return values


def cmd_directions(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.directions import FindOptions, find_directions
    from latentlab.core.encode import NoEncoderError
    from latentlab.core.jobs import JobContext, TextProgress

    src, out = Path(args.file), Path(args.out)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise_usage("--out would overwrite the checkpoint; choose another file")
    if out.suffix != ".safetensors":
        raise_usage(f"--out must be a .safetensors file, got {out.name!r}")
    factors = [f.strip() for item in (args.factor or []) for f in item.split(",") if f.strip()]
    options = FindOptions(
        method=args.method, dataset=args.dataset, factors=factors, n=args.n, k=args.k, orthogonal=args.orthogonal,
        protect=list(args.protect), labels_csv=args.labels, attribute=args.attribute, classifier=args.classifier,
        mode=args.mode, threshold=args.threshold, space=args.space, at=_floats(args.at) if args.at else None,
        top_k=args.top_k, steps=args.steps, finetune_steps=args.finetune_steps, save_model=args.save_model,
        seed=args.seed,
    )
    _check_save_model(args, src, out)
    ck = open_checkpoint(src, arch=args.arch, trust=trust_of(args), device=args.device)
    model = _in_w_for_closed_form(ck.model, args.method)
    bar = TextProgress(label=f"directions {args.method}")
    try:
        found = find_directions(model, options, JobContext(progress=bar), ck.sha256, ck.info.name)
        bar.done()
        if found.source_sha256 != ck.sha256 and args.save_model:  # fine-tuned: the directions are the new model's
            ck = open_checkpoint(args.save_model, device=args.device)
            model = ck.model
            echo(f"wrote the fine-tuned generator {args.save_model}", file=sys.stderr)
        kept = _appended(out, found, ck.sha256) if args.append and out.exists() else found
        save_directions(kept, out)
        dataset_name = args.dataset or model.info.dataset
        evaluation = _evaluated(args, model, found, dataset_name) if args.evaluate and dataset_name else None
    except NoEncoderError as exc:
        sys.stderr.write("\n")
        raise ValueError(str(exc)) from None
    except BaseException:
        sys.stderr.write("\n")  # end the progress line so the error message starts on its own
        raise
    if args.json:
        print_json({"file": str(src), "sha256": ck.sha256, "out": str(out), "method": args.method,
                    "directions": [{k: v for k, v in d.to_dict().items() if k not in ("vector", "field")}
                                   for d in found],
                    "cosine": found.cosine_matrix().tolist() if all(d.vector is not None for d in found) else None,
                    "evaluation": evaluation.to_dict() if evaluation is not None else None})
        return 0
    added = f"; {len(kept)} in the file" if kept is not found else ""
    echo(f"wrote {out} ({len(found)} direction{'s' * (len(found) != 1)}, method {args.method}{added})")
    if evaluation is not None:
        echo(f"\nfactor change along each direction (-{args.alpha:g} -> +{args.alpha:g}; readout: {evaluation.readout}, "
              f"n={evaluation.n}); fraction of each factor's range, or of probability mass for categorical factors")
        echo(format_matrix(evaluation.direction_names, evaluation.factor_names, evaluation.matrix,
                            extra=("dominant", evaluation.dominant), extra2=("purity", evaluation.purity)))
        echo("\ncosine similarity between directions")
        echo(format_matrix(evaluation.direction_names, evaluation.direction_names, evaluation.cosine))
    elif args.evaluate and not dataset_name:
        echo("(no evaluation: the model names no dataset; pass --dataset to evaluate)", file=sys.stderr)
    return 0


def _evaluated(args: argparse.Namespace, model: Any, found: Any, dataset_name: str) -> Any:
    """The direction x factor evaluation of what was found (None when nothing was)."""
    from latentlab.core.data import get_dataset
    from latentlab.core.directions import evaluate_directions
    from latentlab.core.jobs import JobContext, TextProgress

    if not len(found):
        return None
    ebar = TextProgress(label="evaluate")
    evaluation = evaluate_directions(model, found, get_dataset(dataset_name), n=args.eval_n, alpha=args.alpha,
                                     seed=args.seed, ctx=JobContext(progress=ebar))
    ebar.done()
    return evaluation


def _in_w_for_closed_form(model: Any, method: str) -> Any:
    """SeFa and the Householder projector read a style generator's affines, which are linear in W only: such a
    generator is viewed in W for them (and its directions say so), as the paper's StyleGAN experiments are."""
    from latentlab.core.style_edit import is_style_generator, settings_of, view_of

    if method not in ("sefa", "householder") or not is_style_generator(model) or model.latent_space == "w":
        return model
    echo(f"{method} on a style generator works in W: finding w directions (use them with the latent space w)",
         file=sys.stderr)
    return view_of(model, settings_of(model).replace(space="w"))


def _check_save_model(args: argparse.Namespace, src: Path, out: Path) -> None:
    if args.save_model is None:
        return
    if args.method != "householder" or not args.finetune_steps:
        raise_usage("--save-model goes with --method householder --finetune-steps N")
    from latentlab.core.directions.find import check_tuned_model_path

    try:
        check_tuned_model_path(args.save_model, keep=(src, out))
    except ValueError as exc:
        raise_usage(f"--save-model {exc}")


def _appended(out: Path, found: Any, sha256: str) -> Any:
    """The directions already in ``out`` followed by ``found``; only for the same checkpoint."""
    from latentlab.core.directions import load_directions

    existing = load_directions(out)
    if existing.latent_dim != found.latent_dim or (existing.source_sha256 and existing.source_sha256 != sha256):
        raise_usage(f"--append: {out} holds directions of another checkpoint "
                    f"({existing.source_name or existing.latent_dim}); write to a new file")
    existing.extend(found)
    return existing


def format_matrix(rows: list[str], cols: list[str], values: Any, extra: tuple[str, list[str]] | None = None,
                  extra2: tuple[str, Any] | None = None) -> str:
    """A plain-text table with row and column labels (labels from files escaped to one line each)."""
    rows, cols = [printable(r, 80) for r in rows], [printable(c, 80) for c in cols]
    if extra:
        extra = (extra[0], [printable(x, 80) for x in extra[1]])
    w0 = max([len(r) for r in rows] + [9])
    widths = [max(len(c), 6) for c in cols]
    head = " " * w0 + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))
    if extra:
        head += "  " + extra[0]
    if extra2:
        head += "  " + extra2[0]
    lines = [head]
    for i, r in enumerate(rows):
        line = r.ljust(w0) + "  " + "  ".join(f"{float(values[i][j]):{w}.3f}" for j, w in enumerate(widths))
        if extra:
            line += "  " + extra[1][i].ljust(len(extra[0]))
        if extra2:
            line += "  " + f"{float(extra2[1][i]):.2f}"
        lines.append(line)
    return "\n".join(lines)
