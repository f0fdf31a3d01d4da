"""NVIDIA generators that ``nvidia.ada_to_stylegan2`` refuses: StyleGAN3 (-T and -R) and class-conditional
StyleGAN2-ADA.

Both take a ``G_ema`` (or ``G``) as ``nvidia.flatten_module`` returns it: ``tensors`` (every parameter and
buffer under its dotted name) and ``attrs`` (module path -> (class name, the module's ``__dict__``), "" for
the generator itself). Nothing here reads a file or runs code from one.

- ``ada_to_stylegan3(path, tensors, attrs) -> (state, options, notes)``: ``state`` loads into
  ``StyleGAN3Generator`` (network "stylegan3"; the names are NVIDIA's, so the mapping is name for name, plus
  the filters a pickle leaves out); ``options`` are the hyper-parameters the shapes cannot tell (cutoff
  schedule, margin, output scale, conv clamp, mapping learning-rate multiplier), read from the modules'
  attributes and checked against every layer's recorded geometry.
- ``ada_conditional_to_stylegan2(path, tensors, attrs) -> (state, options, notes)``: the StyleGAN2-ADA
  renaming of ``nvidia.ada_to_stylegan2`` plus the class embedding (network "stylegan2", ``c_dim > 0``).
- ``map_generator(path, tensors, attrs) -> MappedGenerator``: picks the one that applies (the unconditional
  StyleGAN2 case goes to ``nvidia.ada_to_stylegan2``) and fills the blur kernels a StyleGAN2 pickle leaves
  out, so a loader calls ``_build_zoo(path, m.network, m.state, m.options, None)`` next.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentlab.core.errors import CheckpointError

Attrs = dict[str, tuple[str, dict[str, Any]]]
_REL = 1e-9  # tolerance when comparing recorded float64 geometry with ours


@dataclass
class MappedGenerator:
    network: str                   # the zoo network the state loads into
    state: dict[str, torch.Tensor]
    options: dict[str, Any]        # hyper-parameters for _build_zoo (shapes give the rest)
    notes: list[str] = field(default_factory=list)
    code_base: str = "NVlabs/stylegan2-ada-pytorch"


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _attr(attrs: Attrs, module: str, key: str, default: Any = None) -> Any:
    v = _plain((attrs.get(module) or ("", {}))[1].get(key, default))
    return default if v is None and default is not None else v


def _num(v: Any) -> float | None:
    v = _plain(v)
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def is_stylegan3(tensors: dict[str, torch.Tensor], attrs: Attrs) -> bool:
    return "synthesis.input.freqs" in tensors or (attrs.get("synthesis.input") or ("",))[0] == "SynthesisInput"


def is_conditional(tensors: dict[str, torch.Tensor], attrs: Attrs) -> bool:
    return "mapping.embed.weight" in tensors or int(_attr(attrs, "", "c_dim", 0) or 0) > 0


# --- StyleGAN3 -------------------------------------------------------------------------------------------------

def ada_to_stylegan3(path: Path, tensors: dict[str, torch.Tensor], attrs: Attrs
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """A StyleGAN3 G_ema onto ``StyleGAN3Generator``: (state, options, notes)."""
    if not is_stylegan3(tensors, attrs):
        raise CheckpointError(path, "not a StyleGAN3 generator (no synthesis.input.freqs)")
    notes: list[str] = []
    state, hp = _sg3_state_and_hparams(path, tensors, attrs)
    options = _sg3_options(attrs, state, hp)
    recorded = _recorded_layers(attrs, hp["channels"], state)
    radial_guessed = _settle_radial_filters(state, hp, recorded)
    if not recorded:
        notes.append("the pickle's module attributes were not readable: the reference's default cutoff schedule, "
                     "margin and clamp were assumed (the layer names and filter shapes agree with them)")
    else:
        _fit_stopbands(path, hp, options, recorded)
    geos = _reproduced_geometry(path, hp, options, recorded, state)
    _fill_filters(state, geos, hp, options, notes)
    if radial_guessed:
        notes.append("the pickle holds no resampling filters: 1x1 convolutions taken for StyleGAN3-R, whose "
                     "down-sampling filters are radial")
    if any(_attr(attrs, f"synthesis.{g.name}", "use_fp16", False) for g in geos):
        notes.append("trained with FP16 layers; latentlab computes in FP32 (images differ by rounding only)")
    if not torch.equal(state["synthesis.input.transform"], torch.eye(3)):
        notes.append("the pickle's input transform is not the identity; it is kept")
    return state, options, notes


def _sg3_state_and_hparams(path: Path, tensors: dict[str, torch.Tensor], attrs: Attrs
                           ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The generator's mapping and synthesis tensors (float32), and the hyper-parameters their shapes give,
    checked against what the generator says about itself."""
    from latentlab.core.zoo.stylegan3 import StyleGAN3Generator

    state = {k: t.float() for k, t in tensors.items() if k.startswith(("mapping.", "synthesis."))}
    try:
        hp = StyleGAN3Generator.hparams_from_shapes({k: tuple(v.shape) for k, v in state.items()})
    except KeyError as exc:
        raise CheckpointError(path, f"the pickle's StyleGAN3 generator has no tensor {exc.args[0]}") from None
    _check_root(path, attrs, hp)
    for i in range(hp["mapping_layers"]):
        act = _attr(attrs, f"mapping.fc{i}", "activation", "lrelu")
        if act != "lrelu":
            raise CheckpointError(path, f"mapping layer fc{i} uses {act!r}; StyleGAN3's mapping uses lrelu")
    return state, hp


def _sg3_options(attrs: Attrs, state: dict[str, torch.Tensor], hp: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters the shapes cannot tell, from the modules' attributes (the reference's defaults
    where a pickle does not record them)."""
    options: dict[str, Any] = {
        "lr_mlp": float(_attr(attrs, "mapping.fc0", "bias_gain", 0.01)),
        "num_critical": int(_attr(attrs, "synthesis", "num_critical", 2)),
        "margin_size": int(_attr(attrs, "synthesis", "margin_size", 10)),
        "output_scale": float(_attr(attrs, "synthesis", "output_scale", 0.25)),
        "first_cutoff": float(_attr(attrs, "synthesis.input", "bandwidth", 2.0)),
        "first_stopband": 2 ** 2.1, "last_stopband_rel": 2 ** 0.3,
    }
    first = f"synthesis.L0_{_layer_sizes(state)[0]}_{hp['channels'][0]}"
    first_attrs = (attrs.get(first) or ("", {}))[1]
    clamp = _plain(first_attrs.get("conv_clamp")) if "conv_clamp" in first_attrs else 256.0  # None: no clamp
    options["conv_clamp"] = None if clamp is None else float(clamp)
    up, taps = _attr(attrs, first, "up_factor"), _attr(attrs, first, "up_taps")
    rates = [_num(_attr(attrs, first, k)) for k in ("tmp_sampling_rate", "in_sampling_rate", "out_sampling_rate")]
    options["filter_size"] = int(taps) // int(up) if up and taps and int(up) > 1 else 6
    tmp_rate, in_rate, out_rate = rates
    options["lrelu_upsampling"] = (int(round(tmp_rate / max(in_rate, out_rate))) if tmp_rate and in_rate and out_rate
                                   else 2)
    return options


def _settle_radial_filters(state: dict[str, torch.Tensor], hp: dict[str, Any],
                           recorded: list[dict[str, Any]]) -> bool:
    """Set ``hp["use_radial_filters"]`` where the pickle holds no filters; True when that was a guess."""
    radial_guessed = False
    if not any(k.endswith(".down_filter") for k in state):  # shapes cannot say whether the filters are radial
        said = [bool(r["down_radial"]) for r in recorded if "down_radial" in r]
        radial_guessed = not said and hp["conv_kernel"] == 1
        hp["use_radial_filters"] = any(said) if said else radial_guessed
    return radial_guessed


def _reproduced_geometry(path: Path, hp: dict[str, Any], options: dict[str, Any], recorded: list[dict[str, Any]],
                         state: dict[str, torch.Tensor]) -> list[Any]:
    """Every layer's geometry as our generator computes it; refused unless it matches the recorded one."""
    from latentlab.core.zoo import stylegan3_ops as ops

    _, geos = ops.layer_geometry(hp["img_resolution"], hp["channels"], options["num_critical"],
                                 options["first_cutoff"], options["first_stopband"], options["last_stopband_rel"],
                                 options["margin_size"], hp["conv_kernel"], options["filter_size"],
                                 options["lrelu_upsampling"], hp["use_radial_filters"])
    mismatch = _geometry_mismatch(geos, recorded, state)
    if mismatch:
        raise CheckpointError(path, f"the StyleGAN3 synthesis geometry cannot be reproduced ({mismatch})")
    return geos


def _check_root(path: Path, attrs: Attrs, hp: dict[str, Any]) -> None:
    for key, have in (("z_dim", hp["z_dim"]), ("c_dim", hp["c_dim"]), ("w_dim", hp["w_dim"]),
                      ("img_resolution", hp["img_resolution"]), ("img_channels", hp["channels"][-1])):
        said = _attr(attrs, "", key)
        if isinstance(said, int) and said != have:
            raise CheckpointError(path, f"the generator says {key} = {said} but its weights have {have}")


def _layer_sizes(state: dict[str, torch.Tensor]) -> list[int]:
    found = {int(m.group(1)): int(m.group(2)) for k in state if (m := re.match(r"synthesis\.L(\d+)_(\d+)_\d+\.", k))}
    return [found[i] for i in sorted(found)]


def _recorded_layers(attrs: Attrs, channels: list[int], state: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Each layer's recorded geometry (empty when the attributes say nothing)."""
    out = []
    for i, size in enumerate(_layer_sizes(state)):
        d = (attrs.get(f"synthesis.L{i}_{size}_{channels[i]}") or ("", {}))[1]
        out.append({k: _plain(v) for k, v in d.items() if not k.startswith("_")})
    return out if any(out) else []


_BAND = ("out_cutoff", "out_half_width", "out_sampling_rate")


def _fit_stopbands(path: Path, hp: dict[str, Any], options: dict[str, Any], rec: list[dict[str, Any]]) -> None:
    """Stopbands are not stored. Where the reference defaults do not reproduce the recorded layers, solve them:
    a layer whose transition band reaches past half its sampling rate shows its stopband exactly; any other
    bounds it, since its sampling rate is the power of two at or above twice the stopband."""
    from latentlab.core.zoo import stylegan3_ops as ops

    n, res = len(rec) - 1, hp["img_resolution"]

    def fits() -> bool:
        sch = ops.schedule(res, n, options["num_critical"], options["first_cutoff"], options["first_stopband"],
                           options["last_stopband_rel"], options["margin_size"])
        return all(_close(sch["half_widths"][i], r["out_half_width"]) and
                   _close(sch["sampling_rates"][i], r["out_sampling_rate"]) for i, r in enumerate(rec)
                   if all(k in r for k in _BAND))

    if fits():
        return
    exps = np.minimum(np.arange(n + 1) / (n - options["num_critical"]), 1)
    rows = []  # (exponent, sampling rate, stopband when it shows)
    for i, r in enumerate(rec):
        rate, half_width, cutoff = (_num(r.get(k)) for k in ("out_sampling_rate", "out_half_width", "out_cutoff"))
        if rate is None or half_width is None or cutoff is None:
            continue  # not recorded, or not a number: this layer says nothing
        stop = half_width + cutoff
        rows.append((exps[i], rate, stop if stop > rate / 2 * (1 + _REL) else None))
    last = [sb for e, _, sb in rows if e == 1 and sb is not None]
    if last:
        options["last_stopband_rel"] = last[0] / (res / 2)
    elif options["last_stopband_rel"] > 1:
        options["last_stopband_rel"] = 1.0  # the last band does not show past Nyquist: rel <= 1
    log_n = math.log(res / 2 * options["last_stopband_rel"])
    lo, hi, exact = -math.inf, math.inf, None
    for e, rate, sb in rows:
        if e >= 1:
            continue
        if sb is not None:
            exact = (math.log(sb) - e * log_n) / (1 - e)
            break
        lo = max(lo, (math.log(rate / 4) - e * log_n) / (1 - e))
        hi = min(hi, (math.log(rate / 2) - e * log_n) / (1 - e))
    default = math.log(2 ** 2.1)
    if exact is not None:
        options["first_stopband"] = math.exp(exact)
    elif lo < hi:
        options["first_stopband"] = math.exp(default if lo < default <= hi else (lo + hi) / 2)
    if not fits():
        raise CheckpointError(path, "its layers' transition bands fit no StyleGAN3 stopband schedule")


def _close(a: Any, b: Any) -> bool:
    a, b = _num(a), _num(b)
    return a is not None and b is not None and abs(a - b) <= _REL * max(1.0, abs(a), abs(b))


def _geometry_mismatch(geos: list[Any], rec: list[dict[str, Any]], state: dict[str, torch.Tensor]) -> str | None:
    names = {m.group(1) for k in state if (m := re.match(r"synthesis\.(L\d+_\d+_\d+)\.", k))}
    ours = {g.name for g in geos}
    if names != ours:
        return f"layers {', '.join(sorted(names - ours)[:3]) or 'none'} in the file, {', '.join(sorted(ours - names)[:3])} expected"
    for g, r in zip(geos, rec, strict=False):
        for key in ("in_sampling_rate", "out_sampling_rate", "in_cutoff", "out_cutoff", "in_half_width",
                    "out_half_width", "up_factor", "down_factor", "up_taps", "down_taps", "conv_kernel"):
            if key in r and not _close(getattr(g, key), r[key]):
                return f"{g.name}: {key} is {r[key]}, the schedule gives {getattr(g, key)}"
        if "padding" in r and [int(p) for p in r["padding"]] != list(g.padding):
            return f"{g.name}: padding {r['padding']}, expected {list(g.padding)}"
        if "down_radial" in r and bool(r["down_radial"]) != g.down_radial:
            return f"{g.name}: radial filter {r['down_radial']}, expected {g.down_radial}"
    return None


def _fill_filters(state: dict[str, torch.Tensor], geos: list[Any], hp: dict[str, Any], options: dict[str, Any],
                  notes: list[str]) -> None:
    """Filters the pickle lacks are designed as the reference designs them; stored ones are kept."""
    from latentlab.core.zoo import stylegan3_ops as ops

    designed = differ = 0
    for g in geos:
        rate = max(g.in_sampling_rate, g.out_sampling_rate) * (1 if g.is_torgb else options["lrelu_upsampling"])
        for kind, taps, cutoff, hw, radial in (("up", g.up_taps, g.in_cutoff, g.in_half_width, False),
                                              ("down", g.down_taps, g.out_cutoff, g.out_half_width, g.down_radial)):
            key = f"synthesis.{g.name}.{kind}_filter"
            f = ops.lowpass_filter(taps, cutoff, hw * 2, rate, radial)
            if f is None:
                state.pop(key, None)
            elif key not in state:
                state[key] = f
                designed += 1
            elif state[key].shape == f.shape and (state[key] - f).abs().max() > 1e-6:
                differ += 1
    if designed:
        notes.append(f"{designed} resampling filter(s) missing from the pickle were designed as the reference does")
    if differ:
        notes.append(f"{differ} stored resampling filter(s) differ from the reference design; the stored ones are used")


# --- class-conditional StyleGAN2-ADA --------------------------------------------------------------------------------

def ada_conditional_to_stylegan2(path: Path, tensors: dict[str, torch.Tensor], attrs: Attrs
                                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """A class-conditional StyleGAN2-ADA G_ema onto ``StyleGAN2Generator`` with ``c_dim > 0``."""
    from latentlab.core.formats.nvidia import ada_to_stylegan2

    if "mapping.embed.weight" not in tensors:
        raise CheckpointError(path, "not a class-conditional generator (no mapping.embed.weight)")
    weight, bias = tensors["mapping.embed.weight"].float(), tensors.get("mapping.embed.bias")
    embed, c_dim = weight.shape
    said = _attr(attrs, "", "c_dim")
    if isinstance(said, int) and said != c_dim:
        raise CheckpointError(path, f"the generator says c_dim = {said} but its class embedding has {c_dim}")
    fc0 = tensors.get("mapping.fc0.weight")
    if fc0 is not None and fc0.shape[1] <= embed:
        raise CheckpointError(path, "a generator driven by its class label alone (z_dim = 0) cannot be opened")
    if _attr(attrs, "mapping.embed", "activation", "linear") != "linear":
        raise CheckpointError(path, "the class embedding is not linear; StyleGAN2-ADA's is")
    cls, root = attrs.get("", ("Generator", {}))
    plain_attrs = {**attrs, "": (cls, {**root, "c_dim": 0})}
    state, options, notes = ada_to_stylegan2(path, {k: v for k, v in tensors.items()
                                                    if not k.startswith("mapping.embed.")}, plain_attrs)
    # NVIDIA scales at run time by weight_gain / bias_gain; ours (lr_mul 1) by 1/sqrt(c_dim) and 1.
    w_gain = _num(_attr(attrs, "mapping.embed", "weight_gain")) or 1 / math.sqrt(c_dim)
    b_gain = _num(_attr(attrs, "mapping.embed", "bias_gain")) or 1.0
    if abs(w_gain * math.sqrt(c_dim) - 1) > 1e-12:
        weight = weight * (w_gain * math.sqrt(c_dim))
    state["embed.weight"] = weight
    b = torch.zeros(embed) if bias is None else bias.float()
    state["embed.bias"] = b * b_gain if b_gain != 1.0 else b
    notes.append(f"class-conditional: {c_dim} classes (c_dim = {c_dim})")
    return state, options, notes


# --- one entry point for the pickle loader ----------------------------------------------------------------------------

def map_generator(path: Path, tensors: dict[str, torch.Tensor], attrs: Attrs) -> MappedGenerator:
    """The zoo network, state, options and notes for any NVIDIA generator latentlab can open."""
    if is_stylegan3(tensors, attrs):
        state, options, notes = ada_to_stylegan3(path, tensors, attrs)
        return MappedGenerator("stylegan3", state, options, notes, "NVlabs/stylegan3")
    if is_conditional(tensors, attrs):
        state, options, notes = ada_conditional_to_stylegan2(path, tensors, attrs)
    else:
        from latentlab.core.formats.nvidia import ada_to_stylegan2

        state, options, notes = ada_to_stylegan2(path, tensors, attrs)
    _fill_blur_kernels(state)
    return MappedGenerator("stylegan2", state, options, notes)


def _fill_blur_kernels(state: dict[str, torch.Tensor]) -> None:
    """The [1, 3, 3, 1] up-sampling kernels (times 4) of every block after 4x4, where the pickle has none."""
    from latentlab.core.zoo.stylegan2 import make_kernel

    k = 0
    while f"convs.{2 * k}.conv.weight" in state:
        for key in (f"convs.{2 * k}.conv.blur.kernel", f"to_rgbs.{k}.upsample.kernel"):
            state.setdefault(key, make_kernel([1, 3, 3, 1]) * 4)
        k += 1
