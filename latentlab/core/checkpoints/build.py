"""Zoo networks rebuilt from the tensors in a file: sizes from the shapes, never from what a card claims.

The network is first built on PyTorch's ``meta`` device (no memory) and its tensor table compared with the
file's, so a file whose shapes imply a giant network is refused before anything is allocated for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from latentlab.core.checkpoints.card import check_card_value
from latentlab.core.errors import CheckpointError, UnsupportedLayout
from latentlab.core.model import ModelInfo

if TYPE_CHECKING:
    from latentlab.core.zoo import ZooModel


class ArchitectureMismatchError(UnsupportedLayout):
    """The weights do not fit the architecture the file (or the user) names."""


def infer_network_hparams(network: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Rebuild a zoo network's size from the shapes of its weights."""
    from latentlab.core.zoo import NETWORKS

    from_shapes = getattr(NETWORKS.get(network), "hparams_from_shapes", None)
    if from_shapes is not None:
        try:
            return from_shapes(shapes)
        except KeyError as exc:
            raise KeyError(f"missing tensor {exc.args[0]}") from None
    try:
        conv0 = shapes["encoder.conv.0.weight"]  # base, channels, 4, 4
        fc = shapes["encoder.fc.1.weight"]  # hidden, 2*base*side^2
        dec_in = shapes["decoder.fc.0.weight"]  # hidden, latent_dim
    except KeyError as exc:
        raise KeyError(f"missing tensor {exc.args[0]}") from None
    base, channels = conv0[0], conv0[1]
    side2 = fc[1] // (2 * base)
    side = int(round(side2**0.5))
    hp: dict[str, Any] = dict(latent_dim=dec_in[1], channels=channels, image_size=16 * side, base=base, hidden=fc[0])
    if network == "qlae":
        hp["n_values"] = shapes["values"][1]
    return hp


def check_state(path: Path, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], what: str) -> None:
    """The file's tensors are exactly the network's: same names, shapes and kinds of number."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s), e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {', '.join(unexpected[:3])}")
        raise ArchitectureMismatchError(path, f"the weights do not fit {what}: " + "; ".join(parts))
    for k, v in expected.items():
        got = state[k]
        if tuple(got.shape) != tuple(v.shape):
            raise ArchitectureMismatchError(
                path, f"wrong shape for {k}: the file has {tuple(got.shape)}, {what} expects {tuple(v.shape)}")
        if v.is_floating_point() and not got.is_floating_point():
            raise ArchitectureMismatchError(
                path, f"tensor {k} holds {str(got.dtype).replace('torch.', '')} numbers where {what} needs "
                      "floating-point weights")


def check_finite(path: Path, state: dict[str, torch.Tensor]) -> None:
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(path, f"tensor {k} contains NaN or infinite values; the model cannot be used")


def _construct(network: str, hp: dict[str, Any], device: str | None = None) -> ZooModel:
    from latentlab.core.zoo import build_network

    if device is None:
        return build_network(network, **hp)
    with torch.device(device):
        return build_network(network, **hp)


def build_zoo(path: Path, network: str, state: dict[str, torch.Tensor], claimed: dict[str, Any] | None,
              info: ModelInfo | None) -> ZooModel:
    """The zoo ``network`` sized from ``state``'s shapes, with ``state`` loaded; ``claimed`` is the card's view."""
    from latentlab.core.zoo import NETWORK_KEYS, NETWORKS

    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        hp = infer_network_hparams(network, shapes)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # str(KeyError) adds quotes
        raise ArchitectureMismatchError(path, f"the weights are not a {network!r} network ({detail})") from None
    for key, value in (claimed or {}).items():
        if key in hp and hp[key] != value:
            raise ArchitectureMismatchError(
                path, f"its card says {key} = {value!r} but the weights have {key} = {hp[key]!r}")
    # What shapes cannot tell (likelihood, output range, truncation, ...) comes from the card, checked.
    for key in NETWORK_KEYS.get(network, ()):
        if key not in hp and claimed and key in claimed:
            hp[key] = check_card_value(path, key, claimed[key])
    optional = [k for k in getattr(NETWORKS[network], "optional_state", ()) if k not in state]
    try:
        dry = _construct(network, hp, "meta")
    except (TypeError, ValueError) as exc:
        raise ArchitectureMismatchError(path, f"cannot build a {network} network from it ({exc})") from None
    except (RuntimeError, NotImplementedError):
        dry = None  # a constructor that computes on its tensors cannot run on meta: checked after building
    what = f"a {network} network"
    if dry is not None:
        check_state(path, dry.state_dict(), {**state, **{k: dry.state_dict()[k] for k in optional}}, what)
    check_finite(path, state)
    try:
        model = _construct(network, hp)
    except (TypeError, ValueError) as exc:
        raise ArchitectureMismatchError(path, f"cannot build a {network} network from it ({exc})") from None
    if info is not None:
        _check_info(path, info, model.info)
        model.info = info
    own = model.state_dict()
    full = {**state, **{k: own[k] for k in optional}}
    check_state(path, own, full, f"{what} with {model.info.latent_dim} latents")
    model.load_state_dict(full)
    if optional:
        cast(Any, model).fill_missing_state(optional)  # every network with optional_state defines it
    return model


def _check_info(path: Path, card: ModelInfo, built: ModelInfo) -> None:
    if card.latent_dim != built.latent_dim:
        raise ArchitectureMismatchError(
            path, f"its card says latent_dim {card.latent_dim} but the weights have {built.latent_dim}")
    if tuple(card.image_shape) != tuple(built.image_shape):
        raise ArchitectureMismatchError(
            path, f"its card says image_shape {tuple(card.image_shape)} but the network makes "
                  f"{tuple(built.image_shape)}")


def strip_wrapper_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a prefix every key shares, as training frameworks add ("model." from Lightning, "module." from DDP)."""
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state
