"""``latentlab flows``: train potential-flow traversals, draw their paths as image strips, evaluate them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from latentlab.commands.common import (
    arch_arg,
    count_int,
    device_arg,
    echo,
    finite_float,
    hidden_int,
    int_arg,
    json_arg,
    learning_rate,
    positive_int,
    print_json,
    raise_usage,
    seed_arg,
    steps_int,
    style_args,
    styled,
    threads_arg,
    trust_arg,
    trust_of,
)
from latentlab.core import limits
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.text import printable


def register(sub: Any) -> None:
    p = sub.add_parser("flows", help="potential-flow latent traversals: train, traverse, evaluate",
                       description="Potential flows (Song, Keller, Sebe, Welling, ICML 2023): K potentials whose "
                       "gradient flows traverse a trained model's latent space, constrained by a PDE.")
    fs = p.add_subparsers(dest="flows_command", metavar="ACTION", required=True)
    _train_parser(fs)
    _traverse_parser(fs)
    _evaluate_parser(fs)
    _import_parser(fs)
    _info_parser(fs)


def _train_parser(fs: Any) -> None:
    """``latentlab flows train``."""
    from latentlab.core.flows.pde import LAPLACIAN_METHODS, PDES

    t = fs.add_parser("train", help="train K potentials on a checkpoint (resumable)",
                      description="Train K PDE-constrained potentials on FILE (kept frozen) and save them to "
                      "--out. Ctrl-C saves the steps done so far; continue with --resume OUT --steps TOTAL.")
    t.add_argument("file", help="model checkpoint")
    t.add_argument("--k", type=count_int, default=8, help="number of potentials (default 8)")
    t.add_argument("--steps", type=steps_int, default=1000, help="total optimisation steps (default 1000)")
    t.add_argument("--pde", choices=PDES, default="wave", help="the PDE the potentials obey (default: wave)")
    t.add_argument("--weights", action="append", metavar="TERM=W[,TERM=W]",
                   help="loss weights for pde, ic, jvp, cls (default all 1), e.g. --weights jvp=2,pde=10")
    t.add_argument("--batch-size", type=int_arg(2, limits.MAX_BATCH), default=32)
    t.add_argument("--horizon", type=int_arg(2, limits.MAX_TRAJECTORY), default=10, help="steps rolled out per training path (default 10)")
    t.add_argument("--eta", type=finite_float(0.0, 1000.0, lo_open=True), default=1.0, help="step size z <- z + eta grad u (default 1)")
    t.add_argument("--lr", type=learning_rate, default=1e-4, help="Adam learning rate (default 1e-4, the paper's)")
    t.add_argument("--laplacian", choices=LAPLACIAN_METHODS, default="auto",
                   help="exact trace, Hutchinson estimate, or auto (exact up to 16 latents)")
    t.add_argument("--probes", type=count_int, default=4, help="Rademacher probes for the Hutchinson estimate")
    t.add_argument("--hidden", type=hidden_int, default=64, help="width of each potential's MLP")
    seed_arg(t)
    t.add_argument("--resume", metavar="FLOWS", help="continue training these flows up to --steps")
    t.add_argument("--force", action="store_true", help="resume flows made for another checkpoint anyway")
    threads_arg(t)
    arch_arg(t, "architecture, for plain state_dict files")
    t.add_argument("--out", required=True, help="output flows file (.safetensors)")
    trust_arg(t)
    device_arg(t)
    json_arg(t)
    t.set_defaults(func=cmd_train)


def _traverse_parser(fs: Any) -> None:
    """``latentlab flows traverse``."""
    v = fs.add_parser("traverse", help="write a PNG strip of a flow path (optionally beside the straight line)",
                      description="Integrate potential k from a start latent and write the decoded path as a PNG "
                      "strip (rows: the flow path; with --linear also the straight line between its end points).")
    v.add_argument("file", help="model checkpoint")
    v.add_argument("flows", help="flows file")
    v.add_argument("--k", default="0", help="which potential (0-based), or 'all' for one row per potential")
    v.add_argument("--steps", type=positive_int(limits.MAX_TRAJECTORY), default=20)
    v.add_argument("--start", default="prior", help="prior (a prior sample, --seed), zero, or sample:IDX (dataset "
                   "image IDX, encoded)")
    v.add_argument("--dataset", help="dataset for --start sample:IDX (default: the model's)")
    v.add_argument("--backward", action="store_true", help="flow backwards (against the gradient)")
    v.add_argument("--both", action="store_true", help="backward and forward in one row, the start in the middle")
    v.add_argument("--linear", action="store_true", help="add the straight line between the same end points")
    v.add_argument("--eta", type=finite_float(0.0, 1000.0, lo_open=True), help="step size (default: the one trained with)")
    seed_arg(v)
    v.add_argument("--save-path", metavar="NPY",
                   help="also save the latent path as .npy: (T, D) for one row, (rows, T, D) for several")
    v.add_argument("--force", action="store_true", help="use flows made for another checkpoint anyway")
    arch_arg(v, "architecture, for plain state_dict files")
    v.add_argument("--out", required=True, help="output PNG")
    trust_arg(v)
    device_arg(v)
    json_arg(v)
    v.set_defaults(func=cmd_traverse)


def _evaluate_parser(fs: Any) -> None:
    """``latentlab flows evaluate``."""
    from latentlab.core.flows.evaluate import BASELINES

    e = fs.add_parser("evaluate", help="distinctness and per-factor changes of the paths, beside linear baselines",
                      description="Rows: each potential and the linear baselines (PCA, SeFa, supervised normals); "
                      "columns: how much each ground-truth factor changes along the paths (read back through the "
                      "encoder); plus distinctness (held-out accuracy of a fresh classifier naming the path).")
    e.add_argument("file", help="model checkpoint (must have an encoder)")
    e.add_argument("flows", help="flows file")
    e.add_argument("--dataset", help="dataset with ground-truth factors (default: the model's)")
    e.add_argument("--steps", type=positive_int(limits.MAX_TRAJECTORY), help="path length in steps (default: the training horizon)")
    e.add_argument("--n-starts", type=int_arg(2, limits.MAX_SAMPLES), default=128, help="dataset starting points for the factor changes")
    e.add_argument("--n-fit", type=int_arg(2, limits.MAX_SAMPLES), default=2000, help="encoded samples the factor readouts are fitted on")
    e.add_argument("--baselines", default=",".join(BASELINES), help=f"comma list of {', '.join(BASELINES)} or none")
    e.add_argument("--no-distinct", action="store_true", help="skip the (slower) distinctness classifiers")
    e.add_argument("--classifier-steps", type=steps_int, default=300)
    seed_arg(e)
    e.add_argument("--force", action="store_true", help="use flows made for another checkpoint anyway")
    threads_arg(e)
    arch_arg(e, "architecture, for plain state_dict files")
    trust_arg(e)
    device_arg(e)
    json_arg(e)
    e.set_defaults(func=cmd_evaluate)


def _import_parser(fs: Any) -> None:
    """``latentlab flows import``."""
    m = fs.add_parser("import", help="PDETraversal potentials (support_sets.pt / checkpoint.pt) as a flows file",
                      description="Read the potentials PDETraversal (the paper's code) trained, without running "
                      "anything in the file, and write them as latentlab flows for FILE (in the latent space they "
                      "move: --space w for a StyleGAN trained with shift_in_w_space).")
    m.add_argument("potentials", help="PDETraversal's support_sets.pt or models/checkpoint.pt")
    m.add_argument("--model", dest="file", required=True, help="the checkpoint the potentials were trained on")
    m.add_argument("--out", required=True, help="the flows file to write (.safetensors)")
    bound = m.add_mutually_exclusive_group()
    bound.add_argument("--bounded", dest="bounded", action="store_true", default=None,
                       help="the potentials end in tanh (PDETraversal's default)")
    bound.add_argument("--unbounded", dest="bounded", action="store_false",
                       help="no final tanh (PDETraversal's StyleGAN2 experiments); default: from args.json")
    m.add_argument("--eta", type=finite_float(0.0, 100.0, lo_open=True), default=1.0,
                   help="traversal step size (PDETraversal trains with 1, its traversal scripts use 0.2)")
    style_args(m)
    arch_arg(m, "architecture, for plain state_dict files")
    trust_arg(m)
    json_arg(m)
    m.set_defaults(func=cmd_import, device="cpu")


def _info_parser(fs: Any) -> None:
    """``latentlab flows info``."""
    i = fs.add_parser("info", help="print a flows file's card (checkpoint, hyper-parameters, last losses)")
    i.add_argument("flows", help="flows file")
    json_arg(i)
    i.set_defaults(func=cmd_info)


def _weights(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise_usage(f"--weights expects TERM=VALUE, got {part!r}")
            key, val = part.split("=", 1)
            try:
                out[key.strip()] = finite_float(0.0, 1e6)(val)
            except argparse.ArgumentTypeError as exc:
                raise_usage(f"--weights {printable(key.strip(), 40)}: {exc}")
    return out


def _open(args: argparse.Namespace):
    from latentlab.core.checkpoint import open_checkpoint

    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    return open_checkpoint(args.file, arch=args.arch, trust=trust_of(args), device=args.device)


def cmd_import(args: argparse.Namespace) -> int:
    from latentlab.core.export.outputs import refuse_inputs
    from latentlab.core.flows import save_flows
    from latentlab.core.flows.pdetraversal import import_pdetraversal

    out = Path(args.out)
    refuse_inputs(out, [args.file, args.potentials])
    ck = _open(args)
    model = styled(ck.model, args)
    flows, notes = import_pdetraversal(args.potentials, model, sha256=ck.sha256, bounded=args.bounded, eta=args.eta)
    save_flows(flows, out, include_optimizer=False)
    if args.json:
        print_json({"out": str(out), "notes": notes, **flows.summary()})
    else:
        for note in notes:
            echo(f"note: {note}")
        echo(f"wrote {out}: {flows.n_potentials} potentials over {flows.latent_dim} latents of {model.info.name}")
    return 0


def _load(args: argparse.Namespace, ck):
    from latentlab.core.flows import load_flows
    from latentlab.core.model import device_of

    return load_flows(args.flows, checkpoint_sha256=ck.sha256, latent_dim=ck.info.latent_dim,
                      allow_mismatch=args.force, device=device_of(ck.model))


class _StopOnInterrupt:
    """The first Ctrl-C asks training to stop after the current step (so what is saved is consistent);
    a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnInterrupt:
        import signal
        import threading

        # Only the main thread may set handlers, and a SIGINT the shell ignores (a background job) stays ignored.
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def cmd_train(args: argparse.Namespace) -> int:
    from latentlab.core.flows import FlowConfig, save_flows, train
    from latentlab.core.jobs import JobCancelled, JobContext, TextProgress

    if args.steps < 1 or args.k < 1:
        raise_usage("--steps and --k must be at least 1")
    config = FlowConfig(n_potentials=args.k, steps=args.steps, batch_size=args.batch_size, horizon=args.horizon,
                        eta=args.eta, pde=args.pde, laplacian=args.laplacian, probes=args.probes,
                        weights=_weights(args.weights), lr=args.lr, hidden=args.hidden, seed=args.seed,
                        device=args.device)
    ck = _open(args)
    bar = TextProgress(label="flows")
    stop = _StopOnInterrupt()
    try:
        with stop:
            flows = train(ck.model, config, JobContext(progress=bar, should_stop=stop), checkpoint_sha256=ck.sha256,
                          checkpoint_file=ck.path, resume_from=args.resume, allow_mismatch=args.force)
    except JobCancelled as exc:
        partial = getattr(exc, "partial_flows", None)
        if partial is None or partial.step == 0:
            raise
        save_flows(partial, args.out)
        echo(f"\ninterrupted at step {partial.step}; saved to {args.out} "
              f"(continue with: latentlab flows train {args.file} --resume {args.out} --steps {args.steps} "
              f"--out {args.out})")
        return 130
    bar.done()
    path = save_flows(flows, args.out)
    if args.json:
        print_json({"file": str(path), **flows.summary()})
    else:
        last = flows.history[-1] if flows.history else {}
        echo(f"wrote {path}: {flows.n_potentials} {flows.config.pde} potentials, {flows.step} steps "
              f"in {flows.seconds:.0f} s")
        if last:
            echo("  last losses: " + "  ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step"))
    return 0


def _start_latent(args: argparse.Namespace, ck) -> Any:
    import numpy as np
    import torch

    model = ck.model
    d = model.info.latent_dim
    if args.start == "prior":
        return model.sample_prior(1, torch.Generator().manual_seed(args.seed))[0].float().cpu().numpy()
    if args.start == "zero":
        return np.zeros(d, dtype=np.float32)
    if args.start.startswith("sample:"):
        from latentlab.core.data import get_dataset
        from latentlab.core.encode import encode_images

        try:
            idx = int(args.start.split(":", 1)[1])
        except ValueError:
            raise_usage(f"--start sample:IDX needs an integer index, got {args.start!r}")
        name = args.dataset or model.info.dataset
        if not name:
            raise_usage("--start sample:IDX needs --dataset (the model does not name one)")
        ds = get_dataset(name)
        if not 0 <= idx < ds.num_samples:
            raise_usage(f"sample index {idx} out of range 0..{ds.num_samples - 1}")
        if tuple(ds.image_shape) != tuple(model.info.image_shape):
            raise_usage(f"dataset {ds.name} has images {ds.image_shape}, the model expects {model.info.image_shape}")
        return encode_images(model, ds.images_at(idx))[0][0]
    raise_usage(f"--start must be prior, zero or sample:IDX, got {args.start!r}")


def cmd_traverse(args: argparse.Namespace) -> int:
    import numpy as np

    from latentlab.core.flows import linear_path, render_strip, save_png, trajectory

    if args.steps < 1:
        raise_usage("--steps must be at least 1")
    if args.backward and args.both:
        raise_usage("--backward and --both exclude each other")
    ck = _open(args)
    flows = _load(args, ck)
    if args.k == "all":
        ks = list(range(flows.n_potentials))
    else:
        try:
            ks = [int(args.k)]
        except ValueError:
            raise_usage(f"--k must be an index or 'all', got {args.k!r}")
        if not 0 <= ks[0] < flows.n_potentials:
            raise_usage(f"--k {ks[0]} out of range: these flows have potentials 0..{flows.n_potentials - 1}")
    h, w = (int(s) for s in ck.info.image_shape[1:])
    strip = len(ks) * (2 if args.linear else 1) * (2 * args.steps + 1 if args.both else args.steps + 1) * h * w
    if strip > limits.MAX_PIXELS:
        raise_usage(f"a strip of {len(ks)} path(s) of {args.steps} steps would have {strip} pixels, more than "
                    f"{limits.MAX_PIXELS}; lower --steps or pick one --k")
    z0 = _start_latent(args, ck)
    rows, report = [], []
    for k in ks:
        if args.both:
            back = trajectory(flows, z0, k, args.steps, -1, args.eta)
            fwd = trajectory(flows, z0, k, args.steps, 1, args.eta)
            lat = np.concatenate([back.latents[::-1], fwd.latents[1:]])
            pot = np.concatenate([back.potential[::-1], fwd.potential[1:]])
            sizes = np.concatenate([back.step_sizes[::-1], fwd.step_sizes])
        else:
            tr = trajectory(flows, z0, k, args.steps, -1 if args.backward else 1, args.eta)
            lat, pot, sizes = tr.latents, tr.potential, tr.step_sizes
        rows.append(lat)
        if args.linear:
            rows.append(linear_path(lat[0], lat[-1], len(lat) - 1))
        report.append({"k": k, "potential": pot.tolist(), "step_sizes": sizes.tolist(),
                       "latent_distance": float(np.linalg.norm(lat[-1] - lat[0]))})
    img = render_strip(ck.model, rows)
    save_png(args.out, img)
    if args.save_path:
        import io

        from latentlab.core.paths import atomic_write_bytes

        buf = io.BytesIO()
        # One path is saved as (T, D), what `latentlab export --kind path` reads; several as (rows, T, D).
        np.save(buf, (rows[0] if len(rows) == 1 else np.stack(rows)).astype(np.float32))
        atomic_write_bytes(args.save_path, buf.getvalue())
    if args.json:
        print_json({"out": str(args.out), "start": np.asarray(z0).tolist(), "rows": report,
                    "image_shape": list(img.shape)})
    else:
        kinds = "flow and linear rows" if args.linear else "flow rows"
        echo(f"wrote {args.out}: {len(rows)} {kinds} x {len(rows[0])} frames")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from latentlab.core.data import get_dataset
    from latentlab.core.encode import require_encoder
    from latentlab.core.flows import evaluate_flows, format_table
    from latentlab.core.jobs import JobContext, TextProgress

    ck = _open(args)
    require_encoder(ck.model)
    name = args.dataset or ck.info.dataset
    if not name:
        raise_usage("the model does not name its dataset; give --dataset")
    ds = get_dataset(name)
    if tuple(ds.image_shape) != tuple(ck.info.image_shape):
        raise_usage(f"dataset {ds.name} has images {ds.image_shape}, the model expects {ck.info.image_shape}")
    flows = _load(args, ck)
    baselines = tuple(b for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
    bar = TextProgress(label="evaluate")
    ev = evaluate_flows(ck.model, flows, ds, steps=args.steps, n_fit=args.n_fit, n_starts=args.n_starts,
                        baselines=baselines, distinct=not args.no_distinct, classifier_steps=args.classifier_steps,
                        seed=args.seed, ctx=JobContext(progress=bar))
    bar.done()
    if args.json:
        print_json({"file": str(args.file), "flows": str(args.flows), "dataset": ds.name, **ev.to_dict()})
    else:
        echo(f"{printable(display_name(args.file))} + {printable(Path(args.flows).name)} on {printable(ds.name)}: {flows.n_potentials} {flows.config.pde} "
              f"potentials ({flows.step} steps), paths of {ev.params['steps']} steps")
        echo(format_table(ev))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from latentlab.core.flows import read_flows_card

    card = read_flows_card(args.flows)
    card.pop("optimizer", None)
    if args.json:
        print_json({"file": str(args.flows), "card": card})
        return 0
    # Everything below comes from the file: escaped, so a name cannot move the cursor or forge a line.
    ck = card.get("checkpoint", {})
    cfg = card.get("config", {})
    p = printable
    echo(f"file: {p(args.flows)}")
    echo(f"checkpoint: {p(ck.get('name'))} ({p(ck.get('file'))}), sha256 {p(ck.get('sha256'))}")
    echo(f"potentials: {p(cfg.get('n_potentials'))} x {p(cfg.get('pde'))}, latent_dim "
          f"{p(card.get('potentials', {}).get('latent_dim'))}")
    echo(f"trained: {p(card.get('step'))} of {p(cfg.get('steps'))} steps, {p(card.get('seconds'))} s, "
          f"seed {p(cfg.get('seed'))}")
    echo("config: " + ", ".join(f"{p(k, 80)}={p(v, 200)}" for k, v in cfg.items()))
    hist = card.get("history") or []
    if hist:
        echo("last losses: " + "  ".join(f"{p(k, 80)} {v:.4g}" for k, v in hist[-1].items()
                                          if k != "step" and v is not None))
    return 0
