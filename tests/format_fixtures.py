"""Tiny checkpoints in the layouts of other code bases, generated here (never downloaded).

Each stand-in builds its modules the way the original code base names them, at tiny widths, and saves
them the way that code base saves (Lightning's checkpoint dict, rosinality's train.py dict, NVIDIA's
pickle of source-embedding persistent objects).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from pathlib import Path

import torch
from torch import nn

from latentlab.core.zoo.stylegan2 import StyleGAN2Generator


class HParams(dict):
    """Stands in for Lightning's AttributeDict: a class torch.load(weights_only=True) refuses."""


class FrameworkConfig:
    """Stands in for disent's framework config dataclass."""

    def __init__(self, recon_loss: str):
        self.recon_loss = recon_loss
        self.beta = 4.0


# --- AntixK/PyTorch-VAE -------------------------------------------------------------------------------------

class AntixKVanillaVAE(nn.Module):
    """The VanillaVAE module layout (hidden widths as given; 2x2 at the bottom for 16 * 2**... images)."""

    def __init__(self, in_channels=3, latent_dim=3, hidden_dims=(4, 8, 8)):
        super().__init__()
        hidden = list(hidden_dims)
        self.hidden = hidden
        blocks, prev = [], in_channels
        for h in hidden:
            blocks.append(nn.Sequential(nn.Conv2d(prev, h, 3, 2, 1), nn.BatchNorm2d(h), nn.LeakyReLU()))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        self.fc_mu = nn.Linear(hidden[-1] * 4, latent_dim)
        self.fc_var = nn.Linear(hidden[-1] * 4, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden[-1] * 4)
        rev = hidden[::-1]
        self.decoder = nn.Sequential(*[
            nn.Sequential(nn.ConvTranspose2d(rev[i], rev[i + 1], 3, 2, 1, output_padding=1),
                          nn.BatchNorm2d(rev[i + 1]), nn.LeakyReLU()) for i in range(len(rev) - 1)])
        self.final_layer = nn.Sequential(nn.ConvTranspose2d(rev[-1], rev[-1], 3, 2, 1, output_padding=1),
                                         nn.BatchNorm2d(rev[-1]), nn.LeakyReLU(),
                                         nn.Conv2d(rev[-1], 3, 3, padding=1), nn.Tanh())

    def reference_decode(self, z):
        h = self.decoder_input(z).view(-1, self.hidden[-1], 2, 2)
        return self.final_layer(self.decoder(h))

    def reference_encode(self, x):
        h = torch.flatten(self.encoder(x), 1)
        return self.fc_mu(h), self.fc_var(h)


class VAEExperiment(nn.Module):
    """The LightningModule wrapper: the VAE sits in ``self.model``."""

    def __init__(self, vae):
        super().__init__()
        self.model = vae


def antixk_ckpt(path: Path, lightning_version: str = "1.5.6", seed: int = 0) -> AntixKVanillaVAE:
    torch.manual_seed(seed)
    vae = AntixKVanillaVAE()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval-mode normalisation matters
        for m in vae.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    vae.eval()
    exp = VAEExperiment(vae)
    torch.save({"epoch": 7, "global_step": 700, "pytorch-lightning_version": lightning_version,
                "state_dict": exp.state_dict(), "hyper_parameters": HParams(params={"LR": 0.005, "kld_weight": 0.00025}),
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.005}]}], "callbacks": {}}, path)
    return vae


# --- disent -------------------------------------------------------------------------------------------------

class _Half(nn.Module):
    def __init__(self, seq):
        super().__init__()
        self.model = seq


class DisentAutoEncoder(nn.Module):
    def __init__(self, channels=1, z_size=3, z_multiplier=2, widths=(4, 4, 8, 8)):
        super().__init__()
        w = list(widths)
        self._encoder = _Half(nn.Sequential(
            nn.Conv2d(channels, w[0], 4, 2, 2), nn.ReLU(), nn.Conv2d(w[0], w[1], 4, 2, 2), nn.ReLU(),
            nn.Conv2d(w[1], w[2], 4, 2, 2), nn.ReLU(), nn.Conv2d(w[2], w[3], 4, 2, 2), nn.ReLU(),
            nn.Flatten(), nn.Linear(w[3] * 25, 16), nn.ReLU(), nn.Linear(16, z_size * z_multiplier)))
        self._decoder = _Half(nn.Sequential(
            nn.Linear(z_size, 16), nn.ReLU(), nn.Linear(16, w[3] * 16), nn.ReLU(), nn.Unflatten(1, (w[3], 4, 4)),
            nn.ConvTranspose2d(w[3], w[2], 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(w[2], w[1], 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(w[1], w[0], 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(w[0], channels, 4, 2, 1)))


class DisentFramework(nn.Module):
    def __init__(self, ae):
        super().__init__()
        self._model = ae


def disent_ckpt(path: Path, recon_loss: str | None = "bce", seed: int = 0) -> DisentAutoEncoder:
    torch.manual_seed(seed)
    ae = DisentAutoEncoder().eval()
    fw = DisentFramework(ae)
    hp = {"model": ae}  # disent really stores the whole model object in its hyper-parameters
    if recon_loss is not None:
        hp["cfg"] = FrameworkConfig(recon_loss)
    torch.save({"epoch": 1, "global_step": 10, "pytorch-lightning_version": "1.7.7", "state_dict": fw.state_dict(),
                "hyper_parameters": hp}, path)
    return ae


# --- 1Konny/Beta-VAE --------------------------------------------------------------------------------------

class _View(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        return x.view(self.size)


def konny_net(variant: str = "H", nc: int = 1, z: int = 3, w=(4, 4, 8, 8), h: int = 16) -> nn.Module:
    """BetaVAE_H / BetaVAE_B module layouts (as ``net.encoder`` / ``net.decoder`` Sequentials)."""
    net = nn.Module()
    convs = [nn.Conv2d(nc, w[0], 4, 2, 1), nn.ReLU(True), nn.Conv2d(w[0], w[1], 4, 2, 1), nn.ReLU(True),
             nn.Conv2d(w[1], w[2], 4, 2, 1), nn.ReLU(True), nn.Conv2d(w[2], w[3], 4, 2, 1), nn.ReLU(True)]
    ups = [nn.ConvTranspose2d(w[3], w[2], 4, 2, 1), nn.ReLU(True), nn.ConvTranspose2d(w[2], w[1], 4, 2, 1),
           nn.ReLU(True), nn.ConvTranspose2d(w[1], w[0], 4, 2, 1), nn.ReLU(True), nn.ConvTranspose2d(w[0], nc, 4, 2, 1)]
    if variant == "H":
        net.encoder = nn.Sequential(*convs, nn.Conv2d(w[3], h, 4, 1), nn.ReLU(True), _View((-1, h)), nn.Linear(h, 2 * z))
        net.decoder = nn.Sequential(nn.Linear(z, h), _View((-1, h, 1, 1)), nn.ReLU(True),
                                    nn.ConvTranspose2d(h, w[3], 4), nn.ReLU(True), *ups)
    else:
        net.encoder = nn.Sequential(*convs, _View((-1, w[3] * 16)), nn.Linear(w[3] * 16, h), nn.ReLU(True),
                                    nn.Linear(h, h), nn.ReLU(True), nn.Linear(h, 2 * z))
        net.decoder = nn.Sequential(nn.Linear(z, h), nn.ReLU(True), nn.Linear(h, h), nn.ReLU(True),
                                    nn.Linear(h, w[3] * 16), nn.ReLU(True), _View((-1, w[3], 4, 4)), *ups)
    return net.eval()


def konny_ckpt(path: Path, variant: str = "H", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = konny_net(variant)
    torch.save({"iter": 1500, "win_states": {"recon": None, "kld": "window_3", "mu": None, "var": None},
                "model_states": {"net": net.state_dict()}, "optim_states": {"optim": {"state": {}, "param_groups": []}}},
               path)
    return net


# --- rosinality StyleGAN2 -----------------------------------------------------------------------------------

def tiny_stylegan2(seed: int = 0, channels=(8, 8, 4), mapping=(16, 16, 16)) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    g = StyleGAN2Generator(channels=list(channels), mapping=list(mapping)).eval()
    with torch.no_grad():  # untrained noise strengths and biases are zero; make every tensor matter
        for name, p in g.named_parameters():
            if name.endswith("noise.weight") or name.endswith("bias"):
                p.normal_(0, 0.3)
        g.latent_avg.normal_(0, 0.5)
    return g


def rosinality_ckpt(path: Path, g: StyleGAN2Generator, with_latent_avg: bool = True) -> None:
    sd = {k: v for k, v in g.state_dict().items() if k != "latent_avg"}
    obj = {"g": sd, "d": {"convs.0.0.weight": torch.zeros(2, 3, 1, 1)}, "g_ema": sd,
           "g_optim": {"state": {}, "param_groups": [{"lr": 0.002}]},
           "args": argparse.Namespace(size=g.size, latent=g.w_dim, n_mlp=2, channel_multiplier=2)}
    if with_latent_avg:
        obj["latent_avg"] = g.latent_avg.clone()
    torch.save(obj, path)


# --- NVIDIA StyleGAN2-ADA pickles ---------------------------------------------------------------------------

def _fake_persistence_module() -> types.ModuleType:
    pkg = types.ModuleType("torch_utils")
    mod = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called: loading must not run this
        raise AssertionError("latentlab ran NVIDIA's reconstruction hook")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg.persistence = mod
    return pkg


class Persistent(nn.Module):
    """Pickles like a class decorated with NVIDIA's @persistence.persistent_class."""

    module_src = ""

    def __init__(self, class_name: str, **attrs):
        super().__init__()
        self._class_name = class_name
        for k, v in attrs.items():
            setattr(self, k, v)

    def __reduce__(self):
        recon = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self._class_name,
                    state=dict(self.__dict__))
        return recon, (meta,)


def _fc(weight, bias, lr_mul=1.0, activation="linear"):
    m = Persistent("FullyConnectedLayer", activation=activation, weight_gain=lr_mul / weight.shape[1] ** 0.5,
                   bias_gain=lr_mul)
    m.weight = nn.Parameter(weight.clone())
    m.bias = nn.Parameter(bias.clone())
    return m


def ada_generator_from(g: StyleGAN2Generator, conv_clamp=256) -> Persistent:
    """An ADA-layout G_ema holding the same function as ``g`` (the inverse of latentlab's renaming)."""
    sd = g.state_dict()
    G = Persistent("Generator", z_dim=g.z_dim, c_dim=0, w_dim=g.w_dim, img_resolution=g.size, img_channels=3)
    mapping = Persistent("MappingNetwork", z_dim=g.z_dim, c_dim=0, w_dim=g.w_dim, num_layers=2)
    for i in range(2):
        setattr(mapping, f"fc{i}", _fc(sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"], 0.01, "lrelu"))
    mapping.register_buffer("w_avg", sd["latent_avg"].clone())
    synthesis = Persistent("SynthesisNetwork", w_dim=g.w_dim, img_resolution=g.size)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = (f[:, None] * f[None]) / 64.0

    def layer(src: str, noise: str, res: int, up: int):
        m = Persistent("SynthesisLayer", resolution=res, up=up, use_noise=True, activation="lrelu",
                       conv_clamp=conv_clamp)
        m.register_buffer("resample_filter", f.clone())
        m.affine = _fc(sd[f"{src}.conv.modulation.weight"], sd[f"{src}.conv.modulation.bias"])
        m.weight = nn.Parameter(sd[f"{src}.conv.weight"][0].clone())
        m.register_buffer("noise_const", sd[f"noises.{noise}"][0, 0].clone())
        m.noise_strength = nn.Parameter(sd[f"{src}.noise.weight"].reshape(()).clone())
        m.bias = nn.Parameter(sd[f"{src}.activate.bias"].clone())
        return m

    def torgb(src: str):
        m = Persistent("ToRGBLayer", conv_clamp=conv_clamp)
        m.affine = _fc(sd[f"{src}.conv.modulation.weight"], sd[f"{src}.conv.modulation.bias"])
        m.weight = nn.Parameter(sd[f"{src}.conv.weight"][0].clone())
        m.bias = nn.Parameter(sd[f"{src}.bias"].reshape(-1).clone())
        return m

    res = [4 * 2 ** i for i in range(len(g.hparams["channels"]))]
    for k, r in enumerate(res):
        block = Persistent("SynthesisBlock", resolution=r, architecture="skip", use_fp16=False, is_last=r == res[-1])
        block.register_buffer("resample_filter", f.clone())
        if r == 4:
            block.const = nn.Parameter(sd["input.input"][0].clone())
            block.conv1 = layer("conv1", "noise_0", 4, 1)
            block.torgb = torgb("to_rgb1")
        else:
            j = k - 1
            block.conv0 = layer(f"convs.{2 * j}", f"noise_{2 * j + 1}", r, 2)
            block.conv1 = layer(f"convs.{2 * j + 1}", f"noise_{2 * j + 2}", r, 1)
            block.torgb = torgb(f"to_rgbs.{j}")
        setattr(synthesis, f"b{r}", block)
    G.mapping = mapping
    G.synthesis = synthesis
    return G


def nvidia_pickle(path: Path, g: StyleGAN2Generator, marker: Path, monkeypatch) -> None:
    """Pickle like StyleGAN2-ADA's training loop; the embedded 'source' would create ``marker`` if run."""
    pkg = _fake_persistence_module()
    monkeypatch.setitem(sys.modules, "torch_utils", pkg)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", pkg.persistence)
    monkeypatch.setattr(Persistent, "module_src", f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    G = ada_generator_from(g)
    data = {"training_set_kwargs": {"path": "ffhq.zip", "resolution": g.size}, "G": G, "D": None,
            "G_ema": ada_generator_from(g), "augment_pipe": None}
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    # Loading happens without NVIDIA's modules importable, as on a user's machine.
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")
    monkeypatch.delitem(sys.modules, "torch_utils")


def persistent_tree(tensors: dict[str, torch.Tensor], attrs: dict[str, tuple[str, dict]]) -> Persistent:
    """NVIDIA's module tree for flattened ``tensors`` and recorded ``attrs`` (module path -> (class, attributes))."""
    nodes: dict[str, Persistent] = {}
    for path in sorted(attrs, key=lambda p: (p.count(".") if p else -1, p)):
        cls, values = attrs[path]
        node = Persistent(cls, **{k: v for k, v in values.items() if not k.startswith("_")})
        nodes[path] = node
        if path:
            parent, _, name = path.rpartition(".")
            setattr(nodes[parent], name, node)
    for key, t in tensors.items():
        owner, _, name = key.rpartition(".")
        node = nodes[owner]
        if t.dtype.is_floating_point and not name.endswith(("_filter", "transform", "freqs", "phases", "w_avg",
                                                            "noise_const", "magnitude_ema")):
            setattr(node, name, nn.Parameter(t.clone(), requires_grad=False))
        else:
            node.register_buffer(name, t.clone())
    return nodes[""]


def nvidia_pickle_of(path: Path, g_ema: Persistent, marker: Path, monkeypatch) -> None:
    """A network-snapshot pickle holding ``g_ema`` (its embedded 'source' would create ``marker`` if run)."""
    pkg = _fake_persistence_module()
    monkeypatch.setitem(sys.modules, "torch_utils", pkg)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", pkg.persistence)
    monkeypatch.setattr(Persistent, "module_src", f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    with open(path, "wb") as fh:
        pickle.dump({"G": None, "D": None, "G_ema": g_ema, "augment_pipe": None}, fh)
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")
    monkeypatch.delitem(sys.modules, "torch_utils")
