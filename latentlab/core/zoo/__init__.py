"""Built-in architectures and training objectives.

An *arch* (what ``latentlab train --arch`` takes) pairs a network with an objective: ``beta_vae`` is the
conv VAE network trained with the beta-VAE loss. A checkpoint records the network (``architecture``) and
its hyper-parameters, so any arch's checkpoint reopens without knowing the objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from latentlab.core.errors import BadInput
from latentlab.core.zoo.adversarial import ADVERSARIAL_OBJECTIVES
from latentlab.core.zoo.antixk import ANTIXK_NETWORKS
from latentlab.core.zoo.gan import GAN_NETWORKS, InfoWGAN, QuantizedInfoWGAN
from latentlab.core.zoo.models import NETWORKS, GaussianVAE, QuantizedAE, ZooModel
from latentlab.core.zoo.objectives import OBJECTIVES, Objective
from latentlab.core.zoo.stylegan2 import StyleGAN2Generator
from latentlab.core.zoo.stylegan3 import StyleGAN3Generator
from latentlab.core.zoo.swagan import SWAGANGenerator
from latentlab.core.zoo.vae_layouts import VAE_LAYOUT_NETWORKS

NETWORKS.update(GAN_NETWORKS)
# Networks that other code bases trained (latentlab.core.formats maps their files onto these).
NETWORKS[StyleGAN2Generator.architecture] = StyleGAN2Generator
NETWORKS[SWAGANGenerator.architecture] = SWAGANGenerator
NETWORKS[StyleGAN3Generator.architecture] = StyleGAN3Generator
NETWORKS.update(VAE_LAYOUT_NETWORKS)
NETWORKS.update(ANTIXK_NETWORKS)
OBJECTIVES.update(ADVERSARIAL_OBJECTIVES)


@dataclass(frozen=True)
class Arch:
    name: str
    network: str
    objective: str
    summary: str
    lr: float = 5e-4
    adversarial: bool = False  # a generator trained against a critic: no encoder, steps count generator updates


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("vae", "conv_vae", "vae", "VAE (beta = 1)"),
        Arch("beta_vae", "conv_vae", "beta_vae", "beta-VAE (Higgins et al. 2017)"),
        Arch("beta_tcvae", "conv_vae", "beta_tcvae", "beta-TCVAE (Chen et al. 2018)"),
        Arch("factor_vae", "conv_vae", "factor_vae", "FactorVAE with its TC discriminator (Kim & Mnih 2018)"),
        Arch("dip_vae_i", "conv_vae", "dip_vae_i", "DIP-VAE-I (Kumar et al. 2018)"),
        Arch("dip_vae_ii", "conv_vae", "dip_vae_ii", "DIP-VAE-II (Kumar et al. 2018)"),
        Arch("annealed_vae", "conv_vae", "annealed_vae", "annealed-capacity VAE (Burgess et al. 2018)"),
        Arch("qlae", "qlae", "qlae", "quantized-latent autoencoder (Hsu et al. 2023)", lr=1e-3),
        Arch("infowgan_gp", "infowgan", "infowgan_gp",
             "InfoWGAN-GP: WGAN-GP with an InfoGAN code head (Hsu et al. 2023 baseline)", lr=2e-4, adversarial=True),
        Arch("qinfowgan_gp", "qinfowgan", "qinfowgan_gp",
             "InfoWGAN-GP with quantized latents (Hsu et al. 2023)", lr=2e-4, adversarial=True),
    )
}

NETWORK_KEYS = {
    "conv_vae": ("latent_dim", "channels", "image_size", "base", "hidden", "likelihood"),
    "qlae": ("latent_dim", "channels", "image_size", "base", "hidden", "n_values", "likelihood"),
    "infowgan": ("latent_dim", "channels", "image_size", "base", "hidden"),
    "qinfowgan": ("latent_dim", "channels", "image_size", "base", "hidden", "n_values"),
    "stylegan2": ("channels", "mapping", "img_channels", "lr_mlp", "conv_clamp", "latent_space", "truncation",
                  "c_dim", "embed_dim", "truncation_cutoff"),
    "swagan": ("channels", "mapping", "img_channels", "lr_mlp", "conv_clamp", "latent_space", "truncation",
               "c_dim", "embed_dim", "truncation_cutoff"),
    "stylegan3": ("channels", "img_resolution", "z_dim", "w_dim", "c_dim", "mapping_layers", "lr_mlp", "conv_kernel",
                  "use_radial_filters", "num_critical", "first_cutoff", "first_stopband", "last_stopband_rel",
                  "margin_size", "output_scale", "filter_size", "lrelu_upsampling", "conv_clamp", "latent_space",
                  "truncation", "truncation_cutoff"),
    "pytorch_vae": ("latent_dim", "hidden_dims", "in_channels", "out_channels", "side", "data_range"),
    "disent_conv64": ("latent_dim", "channels", "widths", "hidden", "z_multiplier", "output"),
    "beta_vae_konny": ("latent_dim", "channels", "widths", "hidden", "variant"),
    "pytorch_betatc_vae": ("latent_dim", "hidden_dims", "in_channels", "out_channels", "fc_hidden", "data_range"),
    "pytorch_wae": ("latent_dim", "hidden_dims", "in_channels", "out_channels", "side", "data_range"),
    "pytorch_cvae": ("latent_dim", "hidden_dims", "num_classes", "in_channels", "out_channels", "side", "data_range"),
    "burgess_vae": ("latent_dim", "channels", "image_size", "width", "hidden"),
}


class UnknownArchitecture(BadInput):
    pass


def network_name(arch_or_network: str) -> str:
    """Accept an arch (``beta_vae``) or a network (``conv_vae``) and return the network name."""
    if arch_or_network in NETWORKS:
        return arch_or_network
    if arch_or_network in ARCHS:
        return ARCHS[arch_or_network].network
    raise UnknownArchitecture(
        f"unknown architecture {arch_or_network!r}; built-in: {', '.join(sorted(set(ARCHS) | set(NETWORKS)))}"
    )


def build_network(arch_or_network: str, **hparams: Any) -> ZooModel:
    name = network_name(arch_or_network)
    keys = NETWORK_KEYS[name]
    unknown = set(hparams) - set(keys) - {"info"}
    if unknown:
        raise ValueError(f"{name}: unknown network hyper-parameter(s) {sorted(unknown)}; known: {list(keys)}")
    return NETWORKS[name](**hparams)


def build_objective(arch: str, **hparams: Any) -> Objective:
    if arch not in ARCHS:
        raise UnknownArchitecture(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    return OBJECTIVES[ARCHS[arch].objective](**hparams)


__all__ = [
    "ARCHS", "Arch", "GaussianVAE", "QuantizedAE", "InfoWGAN", "QuantizedInfoWGAN", "ZooModel", "build_network", "build_objective",
    "network_name", "UnknownArchitecture", "OBJECTIVES", "NETWORKS",
]
