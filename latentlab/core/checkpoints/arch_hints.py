"""What to tell a user whose file does not say which network it holds: the ``--arch`` values that fit it.

Every "--arch NAME" a message suggests is one ``--arch`` accepts (``plugins.arch_names``) and, where it is
suggested for a particular file, one that opens that file: the networks are tried against the file's tensor
names and shapes on PyTorch's ``meta`` device (nothing allocated), and only those that fit are named.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from latentlab.core.checkpoints.build import check_state, infer_network_hparams, strip_wrapper_prefix

log = logging.getLogger(__name__)


def fitting_networks(state: dict[str, torch.Tensor]) -> list[str]:
    """The zoo networks whose tensor table is exactly ``state``'s (after a wrapper prefix), in name order."""
    from latentlab.core.zoo import NETWORKS, build_network

    state = strip_wrapper_prefix(state)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    fits = []
    for name in sorted(NETWORKS):
        try:
            hp = infer_network_hparams(name, shapes)
            with torch.device("meta"):
                expected = build_network(name, **hp).state_dict()
            check_state(Path(name), expected, state, name)
        except Exception:  # any failure means "not this network"; the message only names the ones that fit
            continue
        fits.append(name)
    return fits


def archs_on(network: str) -> list[str]:
    """The training archs built on ``network`` (``beta_vae`` and friends on ``conv_vae``)."""
    from latentlab.core.zoo import ARCHS

    return [a.name for a in ARCHS.values() if a.network == network]


def state_dict_hint(state: dict[str, torch.Tensor]) -> str:
    """The end of "a plain state_dict does not say which network it belongs to; ...": what to give."""
    fits = fitting_networks(state)
    if fits:
        also = [a for n in fits for a in archs_on(n) if a not in fits]
        more = f" (or an arch trained on it: {', '.join(also)})" if also else ""
        return f"its tensors fit {' and '.join(fits)}: give --arch {fits[0]}{more}"
    names = sorted(state)[:3]
    return (f"its tensors ({', '.join(names)}, ...) fit none of latentlab's networks or the layouts it reads; if an "
            "installed plugin reads this file, give its name with --arch")
