"""``latentlab encode`` (real images -> latents) and ``latentlab convert`` (any checkpoint -> .safetensors)."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentlab.commands.common import (
    arch_arg,
    count_int,
    device_arg,
    echo,
    finite_float,
    json_arg,
    learning_rate,
    print_json,
    raise_usage,
    seed_arg,
    steps_int,
    trust_arg,
    trust_of,
)
from latentlab.core.text import printable


def cmd_encode(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import open_checkpoint
    from latentlab.core.encode import NoEncoderError
    from latentlab.core.image_latents import encode_files
    from latentlab.core.invert import InversionConfig
    from latentlab.core.jobs import JobContext, TextProgress
    from latentlab.core.model import Encodes

    if not args.out.endswith(".npz"):
        raise_usage(f"--out must name a .npz file, got {args.out!r}")
    ck = open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device=args.device)
    model = ck.model
    if args.space or args.truncation is not None:
        from latentlab.core.style_edit import is_style_generator, settings_of, view_of

        if not is_style_generator(model):
            raise_usage("--space and --truncation apply to style generators (StyleGAN2, SWAGAN, StyleGAN3) only")
        settings = settings_of(model).replace(space=args.space or model.latent_space)
        model = view_of(model, settings if args.truncation is None else settings.replace(psi=args.truncation))
    if not args.invert and not isinstance(model, Encodes):
        raise_usage(f"{args.file}: {model.info.name} has no encoder (it is a generator only); add --invert to find "
                    "latents by optimisation")
    config = InversionConfig(steps=args.steps, lr=args.lr, loss=args.loss, restarts=args.restarts, seed=args.seed,
                             preview_every=0)
    bar = TextProgress(label="invert" if args.invert else "encode")
    try:
        result = encode_files(model, args.images, method="invert" if args.invert else "encoder", config=config,
                              fit=args.fit, ctx=JobContext(progress=bar))
    except NoEncoderError as exc:
        raise_usage(str(exc))
    bar.done()
    result.save(args.out, include_reconstructions=args.save_reconstructions, model_sha256=ck.sha256,
                model_file=str(args.file))
    if args.json:
        print_json({"out": args.out, "model_sha256": ck.sha256, **result.to_dict()})
    else:
        for name, err in zip(result.files, result.errors, strict=True):
            echo(f"{printable(name)}: reconstruction MSE {err:.5f}")
        echo(f"wrote {args.out} ({len(result.files)} latents of size {result.latents.shape[1]}, {result.method})")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from latentlab.core.checkpoint import make_card, open_checkpoint, read_card, save_checkpoint
    from latentlab.core.zoo import NETWORKS

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise_usage(f"--out must name a .safetensors file, got {args.out!r}")
    if out.exists() and out.resolve() == Path(args.file).resolve():
        raise_usage("--out must differ from the input file")
    ck = open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device="cpu")
    model = ck.model
    if getattr(model, "architecture", None) not in NETWORKS:
        raise_usage(f"{args.file}: a {type(model).__name__} cannot be stored as a latentlab checkpoint (only "
                    "networks latentlab can rebuild from weights: " + ", ".join(sorted(NETWORKS)) + ")")
    card = dict(ck.card) if ck.card.get("format") == "latentlab-checkpoint" else {}
    card = {**make_card(model), **{k: v for k, v in card.items() if k in ("source", "notes", "training", "recipe")}}
    card["converted_from"] = {"file": Path(args.file).name, "sha256": ck.sha256, "format": ck.format}
    save_checkpoint(model, out, card)
    check = open_checkpoint(out)  # prove the file reopens without trust before saying it worked
    if args.json:
        print_json({"out": str(out), "sha256": check.sha256, "card": read_card(out)})
    else:
        echo(f"wrote {out} ({printable(check.info.name)}: {check.model.info.latent_dim} latents, image "
              f"{'x'.join(map(str, check.info.image_shape))}); it opens without --trust")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from latentlab.core.images import FITS
    from latentlab.core.invert import LOSSES

    p = sub.add_parser(
        "encode", help="real images -> latents (.npz): the encoder, or --invert for GANs",
        description="Encode image files or folders with a model's encoder, or find their latents by inversion "
        "(--invert, needed for GANs). Writes a .npz with latents, files and reconstruction errors.",
    )
    p.add_argument("file", help="checkpoint")
    p.add_argument("images", nargs="+", help="image files or folders of images")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--invert", action="store_true", help="optimise latents instead of using an encoder")
    p.add_argument("--steps", type=steps_int, default=300, help="inversion steps (default 300)")
    p.add_argument("--lr", type=learning_rate, default=0.05, help="inversion learning rate (default 0.05)")
    p.add_argument("--loss", choices=LOSSES, default="pixel+lap", help="inversion loss (default pixel+lap)")
    p.add_argument("--restarts", type=count_int, default=16, help="prior samples tried per image (default 16)")
    seed_arg(p)
    p.add_argument("--space", choices=("z", "w", "w+"),
                   help="style generators: the latent space to invert into (w+: one w per layer, the closest fit)")
    p.add_argument("--truncation", type=finite_float(0.0, 1.0), help="style generators: truncation psi in [0, 1]")
    p.add_argument("--fit", choices=FITS, default="crop", help="how pictures are fitted to the model's size")
    p.add_argument("--save-reconstructions", action="store_true", help="also store the reconstructions")
    arch_arg(p, "architecture, for files that do not say (see latentlab info)")
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser(
        "convert", help="save any checkpoint latentlab opens as a safe .safetensors file",
        description="Open a checkpoint (a Lightning .ckpt, a StyleGAN2 .pt, an NVIDIA .pkl with --trust, ...) "
        "and write it once as a .safetensors checkpoint with a model card, which opens without trust.",
    )
    p.add_argument("file", help="checkpoint to convert")
    p.add_argument("--out", required=True, help="output .safetensors")
    arch_arg(p, "architecture or loader name, when the file is ambiguous")
    trust_arg(p)
    json_arg(p)
    device_arg(p)
    p.set_defaults(func=cmd_convert)
