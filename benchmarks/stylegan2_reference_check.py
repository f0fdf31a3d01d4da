"""Check latentlab's StyleGAN2 generator against the reference implementations; prints the largest differences.

Needs checkouts of rosinality/stylegan2-pytorch and NVlabs/stylegan2-ada-pytorch (not shipped, not
downloaded). Their code runs here, on purpose and only here: a tiny random generator is built with each,
saved the way each saves (a .pt state_dict; a real persistence pickle), opened with latentlab's loaders and
decoded on the same latents. rosinality's compiled ops are replaced by its own pure-PyTorch upfirdn2d
(taken from its source file) and the plain leaky-ReLU its CPU path uses.

    python benchmarks/stylegan2_reference_check.py --rosinality ~/src/stylegan2-pytorch --ada ~/src/stylegan2-ada-pytorch
"""

from __future__ import annotations

import argparse
import ast
import pickle
import sys
import tempfile
import types
from pathlib import Path

import torch
import torch.nn.functional as F


def _perturb(module: torch.nn.Module) -> None:
    with torch.no_grad():  # untrained noise strengths and biases are zero; make every tensor matter
        for name, p in module.named_parameters():
            if "noise" in name or name.endswith("bias"):
                p.normal_(0, 0.3)


def _rosinality_ops(repo: Path) -> None:
    source = (repo / "op" / "upfirdn2d.py").read_text()
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "upfirdn2d_native")
    ns: dict = {"torch": torch, "F": F}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "upfirdn2d_native", "exec"), ns)  # noqa: S102
    native = ns["upfirdn2d_native"]
    op = types.ModuleType("op")

    def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
        p = (pad[0], pad[1], pad[0], pad[1]) if len(pad) == 2 else pad
        return native(x, kernel, up, up, down, down, *p)

    def fused_leaky_relu(x, bias, negative_slope=0.2, scale=2 ** 0.5):
        shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
        return F.leaky_relu(x + bias.view(shape), negative_slope) * scale

    class FusedLeakyReLU(torch.nn.Module):
        def __init__(self, channel, bias=True, negative_slope=0.2, scale=2 ** 0.5):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(channel))

        def forward(self, x):
            return fused_leaky_relu(x, self.bias)

    op.upfirdn2d, op.fused_leaky_relu, op.FusedLeakyReLU = upfirdn2d, fused_leaky_relu, FusedLeakyReLU
    op.conv2d_gradfix = types.SimpleNamespace(conv2d=F.conv2d, conv_transpose2d=F.conv_transpose2d)
    sys.modules["op"] = op


def check_rosinality(repo: Path) -> None:
    from latentlab.core.checkpoint import open_checkpoint

    _rosinality_ops(repo)
    sys.path.insert(0, str(repo))
    from model import Generator  # rosinality's

    torch.manual_seed(0)
    g = Generator(32, 32, 2, channel_multiplier=1).eval()
    _perturb(g)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rosinality.pt"
        with torch.no_grad():
            avg = g.mean_latent(4096)
        torch.save({"g_ema": g.state_dict(), "latent_avg": avg[0]}, path)
        ours = open_checkpoint(path).model
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, _ = g([z], randomize_noise=False)
        ref_t, _ = g([z], randomize_noise=False, truncation=0.6, truncation_latent=avg)
        mine, mine_t = ours.synthesize(ours.map(z)), ours.synthesize(ours.map(z, truncation=0.6))
    print(f"rosinality 32x32: max |diff| {(ref - mine).abs().max():.3g} (images ~{ref.abs().mean():.3g}), "
          f"truncated {(ref_t - mine_t).abs().max():.3g}")


def check_ada(repo: Path) -> None:
    from latentlab.core.checkpoint import UntrustedCheckpointError, open_checkpoint

    stubs = Path(tempfile.mkdtemp()) / "requests"
    stubs.mkdir()
    (stubs / "__init__.py").write_text("")  # dnnlib.util imports requests only to download
    sys.path[:0] = [str(stubs.parent), str(repo)]
    import dnnlib
    from training.networks import Generator  # NVIDIA's

    torch.manual_seed(0)
    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=4),
                  synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=256)).eval()
    _perturb(G)
    with torch.no_grad():
        G.mapping.w_avg.normal_(0, 0.5)
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = G(z, None, noise_mode="const")
        ref_t = G(z, None, truncation_psi=0.6, noise_mode="const")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network-snapshot.pkl"
        with open(path, "wb") as fh:
            pickle.dump({"training_set_kwargs": dnnlib.EasyDict(resolution=32), "G": G, "D": None, "G_ema": G,
                         "augment_pipe": None}, fh)
        try:
            open_checkpoint(path)
            refused = False
        except UntrustedCheckpointError:
            refused = True
        ours = open_checkpoint(path, trust=True).model
    with torch.no_grad():
        mine, mine_t = ours.synthesize(ours.map(z)), ours.synthesize(ours.map(z, truncation=0.6))
    print(f"stylegan2-ada 32x32: refused without trust: {refused}; max |diff| {(ref - mine).abs().max():.3g} "
          f"(images ~{ref.abs().mean():.3g}), truncated {(ref_t - mine_t).abs().max():.3g}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rosinality", type=Path, help="checkout of rosinality/stylegan2-pytorch")
    p.add_argument("--ada", type=Path, help="checkout of NVlabs/stylegan2-ada-pytorch")
    args = p.parse_args()
    if not (args.rosinality or args.ada):
        p.error("give --rosinality and/or --ada")
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    if args.rosinality:
        check_rosinality(args.rosinality)
    if args.ada:
        check_ada(args.ada)
    return 0


if __name__ == "__main__":
    sys.exit(main())
