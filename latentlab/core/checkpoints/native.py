"""The native format: one .safetensors file holding the weights and a JSON model card in its metadata."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from latentlab.core.checkpoints import card_file
from latentlab.core.checkpoints.build import ArchitectureMismatchError, build_zoo, strip_wrapper_prefix
from latentlab.core.checkpoints.card import CARD_KEY, card_of, info_from_card, make_card
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError
from latentlab.core.model import LatentModel

if TYPE_CHECKING:
    from latentlab.core.zoo import ZooModel


def save_checkpoint(model: nn.Module, path: str | os.PathLike, card: dict[str, Any] | None = None,
                    **extra: Any) -> Path:
    """Write ``model`` and its card to one .safetensors file, atomically."""
    card = dict(card) if card else make_card(model)
    card.update(extra)
    return card_file.write(path, model.state_dict(), CARD_KEY, card, sort_keys=True)


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card of a native checkpoint, reading only its header."""
    p = Path(path)
    return card_of(p, card_file.read_head(p, "a checkpoint", CheckpointError))[0]


def load_tensors(src: Source) -> dict[str, torch.Tensor]:
    return card_file.load_tensors(src.path, CheckpointError, src.data)


def load_native(src: Source, arch: str | None) -> tuple[ZooModel | LatentModel, dict[str, Any], list[str]]:
    """A .safetensors checkpoint: its card names the network; a card-less file needs ``arch``."""
    from latentlab.core.checkpoints.plugins import plugin_for_architecture
    from latentlab.core.zoo import NETWORKS

    card, _ = card_of(src.path, src.data)
    state = load_tensors(src)
    if not card:
        if arch is None:
            from latentlab.core.checkpoints.arch_hints import state_dict_hint

            raise CheckpointError(src.path, "a .safetensors file without a latentlab model card does not say which "
                                            f"network it holds; {state_dict_hint(state)}")
        return state_dict_model(src.path, state, arch), {"architecture": arch}, ["no model card: built as " + arch]
    network = card.get("architecture")
    overrides, notes = _arch_for_card(src.path, arch, network)
    info = info_from_card(src.path, card["info"]) if "info" in card else None
    if network in NETWORKS:
        hparams = card.get("hparams")
        if overrides:
            hparams = {**(hparams if isinstance(hparams, dict) else {}), **overrides}
        return build_zoo(src.path, network, state, hparams, info), card, notes
    plugin = plugin_for_architecture(network)
    if plugin is not None and hasattr(plugin, "from_state_dict"):
        return plugin.from_state_dict(state, card), card, []
    raise CheckpointError(src.path, f"unknown architecture {network!r} in its card (is the plugin that defines "
                                    "it installed?)")


def _arch_for_card(path: Path, arch: str | None, network: Any) -> tuple[dict[str, Any], list[str]]:
    """What ``--arch`` changes for a file whose card names ``network``: a reader's variant (the data range of a
    converted PyTorch-VAE model, ``pytorch_vae-symmetric``) sets hyper-parameters; another network is refused."""
    from latentlab.core.checkpoints.plugins import plugin_for_architecture
    from latentlab.core.zoo import UnknownArchitecture, network_name

    if arch is None or arch == network:
        return {}, []
    plugin = plugin_for_architecture(arch)
    if plugin is not None and network in {lay.network for lay in getattr(plugin, "layouts", ())}:
        chosen = plugin.variant_options(arch)
        return chosen if chosen is not None else ({}, [])
    try:
        named = network_name(arch)
    except UnknownArchitecture as exc:
        raise CheckpointError(path, str(exc)) from None
    if named != network:
        raise ArchitectureMismatchError(path, f"its card says architecture {network!r}, not {arch!r}")
    return {}, []


def state_dict_model(path: Path, state: dict[str, torch.Tensor], arch: str) -> ZooModel | LatentModel:
    """A plain state_dict built as the zoo network (or plugin architecture) the user named."""
    from latentlab.core.checkpoints.plugins import plugin_for_architecture
    from latentlab.core.model import ModelInfo
    from latentlab.core.zoo import UnknownArchitecture, network_name

    plugin = plugin_for_architecture(arch)
    if plugin is not None and hasattr(plugin, "from_state_dict"):
        return plugin.from_state_dict(state, {"architecture": arch})
    try:
        network = network_name(arch)
    except UnknownArchitecture as exc:
        raise CheckpointError(path, str(exc)) from None
    model = build_zoo(path, network, strip_wrapper_prefix(state), None, None)
    model.info = ModelInfo(display_name(path), model.info.latent_dim, model.info.image_shape, prior=model.info.prior)
    return model
