"""NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles (``network-snapshot-*.pkl``).

These files are plain pickles of ``{"G", "D", "G_ema", "augment_pipe", ...}`` whose networks carry the source
code of their classes (``torch_utils.persistence``), which NVIDIA's loader executes. latentlab opens them
only when the user trusts the file, and even then never runs that code: the pickle is read by the
data-only unpickler, the ``G_ema`` parameters are collected from the recorded module states, and renamed
onto our own ``StyleGAN2Generator`` (the mapping follows the two code bases' definitions: conv weights gain
a leading batch axis, ToRGB biases become (1, C, 1, 1), noise strengths and constant noise maps move to
rosinality's names, ``mapping.w_avg`` becomes ``latent_avg``). Converting once to .safetensors
(``latentlab convert FILE.pkl --trust --out FILE.safetensors``) gives a file that needs no trust at all.

StyleGAN3 (-T, -R) generators map onto our ``StyleGAN3Generator`` and class-conditional (c_dim > 0) StyleGAN2-ADA
ones onto the conditional ``StyleGAN2Generator`` (``nvidia_sg3.map_generator`` picks the mapping). The older
TensorFlow pickles are refused (convert those with NVIDIA's ``legacy.py`` first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from latentlab.core.checkpoints.build import build_zoo as _build_zoo
from latentlab.core.checkpoints.card import make_card
from latentlab.core.checkpoints.naming import display_name
from latentlab.core.checkpoints.source import Source
from latentlab.core.errors import CheckpointError, UntrustedFile
from latentlab.core.formats import load_torch_file
from latentlab.core.formats.inert_pickle import Record, plain
from latentlab.core.model import ModelInfo


def refusal(src: Source) -> UntrustedFile:
    return UntrustedFile(
        src.path,
        "refused: this is an NVIDIA network pickle (StyleGAN2-ADA / StyleGAN3), a file that embeds Python source "
        "code which NVIDIA's own loader executes. latentlab never runs that code (it reads only the weights, with "
        "a data-only reader), but it opens such a file only after you say you trust it",
        "--trust on the command line, trust=True in the API, or confirm in the app's dialog; better, convert it "
        f"once: `latentlab convert {src.name} --trust --out {src.path.stem}.safetensors`",
        sha256=src.sha256, kind="nvidia-pickle", device_inode=src.device_inode)


# --- reading pickled modules without their classes -------------------------------------------------------

def module_parts(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """(class name, instance __dict__) of a pickled nn.Module, persistent (NVIDIA) or ordinary."""
    if not isinstance(obj, Record):
        return None
    if obj.qualname == "_reconstruct_persistent_obj" and obj.args and isinstance(obj.args[0], dict):
        meta = obj.args[0]
        state = meta.get("state")
        state = state.as_dict() if isinstance(state, Record) else state
        return str(meta.get("class_name", "?")), state if isinstance(state, dict) else {}
    if isinstance(obj.state, dict) and "_parameters" in obj.state:
        return obj.qualname, obj.state
    return None


def flatten_module(obj: Any, prefix: str = "", tensors: dict[str, torch.Tensor] | None = None,
                   attrs: dict[str, tuple[str, dict[str, Any]]] | None = None, _seen: set[int] | None = None):
    """All parameters and buffers under dotted names, plus each submodule's class name and attributes.

    A module reached twice (a pickle may hold cycles) is walked once; nesting is bounded by the reader.
    """
    tensors = {} if tensors is None else tensors
    attrs = {} if attrs is None else attrs
    seen = set() if _seen is None else _seen
    parts = module_parts(obj)
    if parts is None or id(obj) in seen or prefix.count(".") > 64:
        return tensors, attrs
    seen.add(id(obj))
    cls, d = parts
    attrs[prefix[:-1]] = (cls, d)
    for group in ("_parameters", "_buffers"):
        group_items = d.get(group)
        for name, t in (group_items.items() if isinstance(group_items, dict) else ()):
            if isinstance(t, torch.Tensor):
                tensors[prefix + str(name)] = t.detach()
    modules = d.get("_modules")
    for name, sub in (modules.items() if isinstance(modules, dict) else ()):
        if sub is not None:
            flatten_module(sub, f"{prefix}{name}.", tensors, attrs, seen)
    return tensors, attrs


# --- StyleGAN2-ADA names -> ours ------------------------------------------------------------------------------

def ada_to_stylegan2(path: Path, tensors: dict[str, torch.Tensor], attrs: dict[str, tuple[str, dict[str, Any]]]
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """Rename a StyleGAN2-ADA generator's tensors onto ``StyleGAN2Generator``: (state, options, notes)."""
    notes: list[str] = []
    _refuse_other_generators(path, tensors, attrs)
    src = _AdaTensors(path, tensors)
    res = _synthesis_resolutions(path, tensors, attrs)
    n_fc, lr_mul = _mapping_layers(path, tensors, attrs)
    conv_clamp = attrs.get("synthesis.b4.conv1", ("", {}))[1].get("conv_clamp")
    state = _map_mapping_network(src, n_fc, notes)
    _map_synthesis_network(src, res, state, notes)
    if any(attrs.get(f"synthesis.b{r}", ("", {}))[1].get("use_fp16") for r in res):
        notes.append("trained with FP16 layers; latentlab computes in FP32 (images differ by rounding only)")
    options = {"lr_mlp": lr_mul, "conv_clamp": None if conv_clamp is None else float(conv_clamp)}
    return state, options, notes


@dataclass
class _AdaTensors:
    """A StyleGAN2-ADA generator's tensors, read by name as float32; a missing one is a CheckpointError."""

    path: Path
    tensors: dict[str, torch.Tensor]

    def get(self, name: str) -> torch.Tensor:
        if name not in self.tensors:
            raise CheckpointError(self.path, f"the pickle's generator has no tensor {name!r}; it is not a "
                                             "StyleGAN2-ADA generator latentlab can map")
        return self.tensors[name].float()


def _refuse_other_generators(path: Path, tensors: dict[str, torch.Tensor],
                             attrs: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """StyleGAN3 and class-conditional generators have their own mappings (``nvidia_sg3``)."""
    root = attrs.get("", ("?", {}))[1]
    if "synthesis.input.freqs" in tensors or attrs.get("synthesis.input", ("",))[0] == "SynthesisInput":
        raise CheckpointError(path, "a StyleGAN3 (alias-free) generator: its synthesis network cannot be mapped "
                                    "onto latentlab's StyleGAN2 generator, so it cannot be opened")
    if int(root.get("c_dim", 0) or 0) > 0 or "mapping.embed.weight" in tensors:
        raise CheckpointError(path, f"a class-conditional generator (c_dim = {root.get('c_dim')}); only "
                                    "unconditional StyleGAN2 generators can be opened")


def _synthesis_resolutions(path: Path, tensors: dict[str, torch.Tensor],
                           attrs: dict[str, tuple[str, dict[str, Any]]]) -> list[int]:
    """The synthesis blocks' resolutions, 4 first; every block must use the 'skip' architecture."""
    res = sorted({int(m.group(1)) for k in tensors if (m := re.match(r"synthesis\.b(\d+)\.", k))})
    if not res or res[0] != 4:
        raise CheckpointError(path, "no synthesis.b4 block: not a StyleGAN2-ADA generator")
    for r in res:
        arch = attrs.get(f"synthesis.b{r}", ("", {}))[1].get("architecture", "skip")
        if arch != "skip":
            raise CheckpointError(path, f"synthesis block b{r} uses the {arch!r} architecture; only 'skip' "
                                        "(the StyleGAN2 default) maps onto latentlab's generator")
    return res


def _mapping_layers(path: Path, tensors: dict[str, torch.Tensor],
                    attrs: dict[str, tuple[str, dict[str, Any]]]) -> tuple[int, float]:
    """The number of mapping layers (all lrelu) and their learning-rate multiplier."""
    n_fc = 0
    while f"mapping.fc{n_fc}.weight" in tensors:
        n_fc += 1
    if n_fc == 0:
        raise CheckpointError(path, "the pickle's generator has no tensor 'mapping.fc0.weight'")
    fc_attrs = attrs.get("mapping.fc0", ("", {}))[1]
    lr_mul = float(fc_attrs.get("bias_gain", 0.01))
    for i in range(n_fc):
        act = attrs.get(f"mapping.fc{i}", ("", {}))[1].get("activation", "lrelu")
        if act != "lrelu":
            raise CheckpointError(path, f"mapping layer fc{i} uses {act!r}; only lrelu maps onto latentlab's generator")
    return n_fc, lr_mul


def _map_mapping_network(src: _AdaTensors, n_fc: int, notes: list[str]) -> dict[str, torch.Tensor]:
    """The mapping layers and the average w (``latent_avg``), the start of the renamed state."""
    state: dict[str, torch.Tensor] = {}
    for i in range(n_fc):
        state[f"style.{i + 1}.weight"] = src.get(f"mapping.fc{i}.weight")
        state[f"style.{i + 1}.bias"] = src.get(f"mapping.fc{i}.bias")
    if "mapping.w_avg" in src.tensors:
        state["latent_avg"] = src.get("mapping.w_avg")
    else:
        notes.append("no mapping.w_avg in the pickle: the average w was estimated from 4096 seeded samples")
    return state


def _map_synthesis_network(src: _AdaTensors, res: list[int], state: dict[str, torch.Tensor],
                           notes: list[str]) -> None:
    """The constant input, the 4x4 block and each up-sampling block after it, added to ``state``."""
    state["input.input"] = src.get("synthesis.b4.const").unsqueeze(0)
    use_noise = "synthesis.b4.conv1.noise_const" in src.tensors
    if not use_noise:
        notes.append("the generator was trained without noise inputs")
    _map_conv_layer(src, state, "synthesis.b4.conv1", "conv1", 0, use_noise)
    _map_torgb(src, state, "synthesis.b4.torgb", "to_rgb1")
    for k, r in enumerate(res[1:]):
        _map_conv_layer(src, state, f"synthesis.b{r}.conv0", f"convs.{2 * k}", 2 * k + 1, use_noise)
        _map_conv_layer(src, state, f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", 2 * k + 2, use_noise)
        _map_torgb(src, state, f"synthesis.b{r}.torgb", f"to_rgbs.{k}")
        # NVIDIA stores the normalised [1, 3, 3, 1] filter; up-sampling by 2 scales it by 2 * 2.
        filt = src.tensors.get(f"synthesis.b{r}.conv0.resample_filter")
        if filt is not None and filt.ndim == 2:
            state[f"convs.{2 * k}.conv.blur.kernel"] = filt.float() * 4
        filt = src.tensors.get(f"synthesis.b{r}.resample_filter")
        if filt is not None and filt.ndim == 2:
            state[f"to_rgbs.{k}.upsample.kernel"] = filt.float() * 4


def _map_conv_layer(src: _AdaTensors, state: dict[str, torch.Tensor], name: str, dst: str, noise_index: int,
                    use_noise: bool) -> None:
    """A modulated convolution: batch axis on the weight, NVIDIA's noise strength and constant noise renamed."""
    state[f"{dst}.conv.weight"] = src.get(f"{name}.weight").unsqueeze(0)
    state[f"{dst}.conv.modulation.weight"] = src.get(f"{name}.affine.weight")
    state[f"{dst}.conv.modulation.bias"] = src.get(f"{name}.affine.bias")
    state[f"{dst}.activate.bias"] = src.get(f"{name}.bias")
    if use_noise:
        state[f"{dst}.noise.weight"] = src.get(f"{name}.noise_strength").reshape(1)
        state[f"noises.noise_{noise_index}"] = src.get(f"{name}.noise_const")[None, None]
    else:
        m = re.match(r"synthesis\.b(\d+)", name)
        assert m is not None  # every name is one of ours: synthesis.b{resolution}.conv{0,1}
        r = int(m.group(1))
        state[f"{dst}.noise.weight"] = torch.zeros(1)
        state[f"noises.noise_{noise_index}"] = torch.zeros(1, 1, r, r)


def _map_torgb(src: _AdaTensors, state: dict[str, torch.Tensor], name: str, dst: str) -> None:
    """A ToRGB layer: batch axis on the weight, the bias as (1, C, 1, 1)."""
    w = src.get(f"{name}.weight")
    state[f"{dst}.conv.weight"] = w.unsqueeze(0)
    state[f"{dst}.conv.modulation.weight"] = src.get(f"{name}.affine.weight")
    state[f"{dst}.conv.modulation.bias"] = src.get(f"{name}.affine.bias")
    state[f"{dst}.bias"] = src.get(f"{name}.bias").view(1, -1, 1, 1)


class NvidiaPicklePlugin:
    builtin = True
    name = "nvidia-pickle"
    names = ("nvidia-pickle", "stylegan2-ada", "stylegan2-ada-w", "stylegan3", "stylegan3-w", "nvidia-pickle-w")
    _W_NAMES = ("stylegan2-ada-w", "stylegan3-w", "nvidia-pickle-w")

    def can_open(self, src: Source) -> bool:
        return src.kind == "nvidia-pickle"

    def open(self, src: Source, trust: bool = False, arch: str | None = None):
        path = src.path
        if src.kind != "nvidia-pickle":
            raise CheckpointError(path, "not an NVIDIA network pickle")
        if not trust:
            raise refusal(src)
        data = load_torch_file(src)
        if not isinstance(data, dict):
            raise CheckpointError(path, f"expected a dict of networks, found {type(data).__name__}")
        notes: list[str] = []
        key = "G_ema" if "G_ema" in data else "G" if "G" in data else None
        if key is None:
            raise CheckpointError(path, f"no generator in the pickle (keys: {', '.join(map(str, data))})")
        if key == "G":
            notes.append("no G_ema in the pickle: using the raw generator G")
        tensors, attrs = flatten_module(data[key])
        if not tensors:
            raise CheckpointError(path, f"{key} holds no recognisable network weights")
        from latentlab.core.formats.nvidia_sg3 import map_generator

        mapped = map_generator(path, tensors, attrs)  # StyleGAN3 -T/-R, conditional or plain StyleGAN2-ADA
        notes += mapped.notes
        options = {**mapped.options, "latent_space": "w" if arch in self._W_NAMES else "z"}
        model = _build_zoo(path, mapped.network, mapped.state, options, None)
        name = display_name(path) if model.latent_space == "z" else f"{display_name(path)} (w)"
        model.info = ModelInfo(name, model.info.latent_dim, model.info.image_shape)
        root = attrs.get("", ("?", {}))[1]
        source: dict[str, Any] = {"code_base": mapped.code_base, "file": path.name, "network": key,
                                  "class": attrs.get("", ("?",))[0]}
        for k in ("z_dim", "w_dim", "img_resolution", "img_channels"):
            if isinstance(root.get(k), int):
                source[k] = root[k]
        if "training_set_kwargs" in data:
            source["training_set"] = {k: v for k, v in plain(data["training_set_kwargs"]).items()
                                      if isinstance(v, (str, int, float, bool))} if isinstance(
                                          plain(data["training_set_kwargs"]), dict) else None
        model.card = make_card(model, source=source, notes=notes)
        model.load_notes = notes
        return model
