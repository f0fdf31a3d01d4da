"""Loaders for Lightning .ckpt files (and plain torch files) of VAE code bases: AntixK/PyTorch-VAE and disent
keep the weights under ``state_dict`` with the LightningModule's attribute as a prefix (``model.`` and
``_model.``; other projects' modules use others, found from the tensors: ``layouts.find_prefix``);
1Konny/Beta-VAE saves ``{"model_states": {"net": ...}}``. The architecture is recognised by its parameter
names and sized from the shapes.
"""

from __future__ import annotations

from latentlab.core.checkpoints.source import Source
from latentlab.core.formats.layouts import Layout, LayoutPlugin, Match, find_key
from latentlab.core.zoo.antixk import CELEBA_ATTRIBUTES

_ANTIXK_TOP = ("encoder", "fc_mu", "fc_var", "decoder_input", "decoder", "final_layer")


class PyTorchVAEPlugin(LayoutPlugin):
    name = "pytorch-vae"
    names = ("pytorch-vae", "pytorch_vae", "pytorch_vae-unit", "pytorch_vae-symmetric")
    code_base = "AntixK/PyTorch-VAE"
    # Each signature holds what tells a model from the others; build_zoo names any other tensor missing.
    layouts = (
        Layout("pytorch_cvae", "ConditionalVAE", ("encoder.0.0.weight", "decoder_input.weight", "embed_class.weight"),
               (*_ANTIXK_TOP, "embed_class", "embed_data")),
        Layout("pytorch_betatc_vae", "BetaTCVAE", ("encoder.0.0.weight", "fc.weight", "fc_mu.weight",
                                                   "decoder_input.weight"), (*_ANTIXK_TOP, "fc")),
        Layout("pytorch_wae", "WAE_MMD", ("encoder.0.0.weight", "fc_z.weight", "decoder_input.weight"),
               ("encoder", "fc_z", "decoder_input", "decoder", "final_layer")),
        Layout("pytorch_vae", "VanillaVAE", ("encoder.0.0.weight", "fc_mu.weight", "fc_var.weight",
                                             "decoder_input.weight"), _ANTIXK_TOP),
    )

    def variant_options(self, arch):
        if arch in ("pytorch_vae-unit", "pytorch_vae-symmetric"):
            rng = arch.split("-")[1]
            return {"data_range": rng}, [f"data range {rng} (chosen with --arch {arch})"]
        return None

    def options(self, found: Match, arch, src: Source):
        chosen = self.variant_options(arch)
        if chosen is not None:
            return chosen
        obj = found.obj
        version = obj.get("pytorch-lightning_version") if isinstance(obj, dict) else None
        old = _version_tuple(version) < (1, 5) if version else False
        rng = "symmetric" if old else "unit"
        why = (f"saved by Lightning {version}" if version else "no Lightning version recorded")
        return {"data_range": rng}, [
            f"images taken as {'[-1, 1]' if old else '[0, 1]'} ({why}; PyTorch-VAE moved to [0, 1] data with "
            "Lightning 1.5); if reconstructions look wrong, reopen with --arch "
            + ("pytorch_vae-unit" if old else "pytorch_vae-symmetric")
        ]

    def finish(self, model, found: Match, src: Source, notes: list[str]) -> None:
        if found.layout.network != "pytorch_cvae":
            return
        n = model.num_classes
        if n == len(CELEBA_ATTRIBUTES):
            notes.append(f"condition: the {n} CelebA attributes PyTorch-VAE trains the ConditionalVAE on (all off "
                         "to start; toggle them beside the sliders)")
        else:
            notes.append(f"condition: {n} label entries c0..c{n - 1} (all off to start)")


class DisentPlugin(LayoutPlugin):
    name = "disent"
    names = ("disent", "disent_conv64", "disent-sigmoid", "disent-linear")
    code_base = "disent (EncoderConv64/DecoderConv64)"
    layouts = (Layout("disent_conv64", "EncoderConv64/DecoderConv64",
                      ("_encoder.model.0.weight", "_encoder.model.11.weight", "_decoder.model.0.weight",
                       "_decoder.model.11.weight"), ("_encoder", "_decoder")),)

    def variant_options(self, arch):
        if arch in ("disent-sigmoid", "disent-linear"):
            out = arch.split("-")[1]
            return {"output": out}, [f"decoder output {out} (chosen with --arch {arch})"]
        return None

    def options(self, found: Match, arch, src: Source):
        chosen = self.variant_options(arch)
        if chosen is not None:
            return chosen
        loss = find_key(found.obj, "recon_loss")
        if isinstance(loss, str):
            out = "sigmoid" if any(s in loss for s in ("bce", "bernoulli")) else "linear"
            return {"output": out}, [f"decoder output {out}: the framework's recon_loss is {loss!r}"]
        # disent's default reconstruction loss is mse, on an unbounded decoder output.
        return {"output": "linear"}, ["recon_loss not recorded; assumed disent's default (mse, linear output); "
                                      "reopen with --arch disent-sigmoid for a BCE-trained model"]


class KonnyPlugin(LayoutPlugin):
    name = "beta-vae-konny"
    names = ("beta-vae-konny", "beta_vae_konny")
    code_base = "1Konny/Beta-VAE (BetaVAE_H / BetaVAE_B)"
    layouts = (Layout("beta_vae_konny", "BetaVAE_H/BetaVAE_B", ("encoder.0.weight", "encoder.6.weight",
                                                                "decoder.0.weight"), ("encoder", "decoder")),)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


__all__ = ["DisentPlugin", "KonnyPlugin", "PyTorchVAEPlugin"]
