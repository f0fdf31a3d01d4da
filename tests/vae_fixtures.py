"""Random-weight stand-ins of more VAE code bases, written here from their architectures (never downloaded).

- AntixK/PyTorch-VAE's ``BetaTCVAE``, ``WAE_MMD`` and ``ConditionalVAE`` (models/betatc_vae.py, wae_mmd.py,
  cvae.py): the same module tree and parameter names, and the reference forward passes including their
  hard-coded reshapes (``view(-1, 32, 4, 4)`` for BetaTCVAE, ``view(-1, 512, 2, 2)`` for the others), so the
  widths chosen here are ones the original code runs with. They are saved as PyTorch-VAE's run.py saves them:
  Lightning's ModelCheckpoint writes the ``VAEXperiment`` (whose ``self.model`` is the VAE, so every key
  starts ``model.``), with Lightning 1.5's checkpoint keys and no ``hyper_parameters`` (VAEXperiment never
  calls save_hyperparameters).
- YannDubs/disentangling-vae's ``EncoderBurgess``/``DecoderBurgess`` inside its ``VAE`` (``encoder.``/
  ``decoder.``), saved as its utils/modelIO.save_model does: ``torch.save(model.state_dict())`` to
  ``model.pt`` and the metadata to ``specs.json`` (json.dump, indent 4, sorted keys) in one folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


def _randomise_norms(module: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine terms, so eval-mode normalisation is exercised."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def _enc_block(cin: int, cout: int, kernel: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, out_channels=cout, kernel_size=kernel, stride=2, padding=1)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(cout)] if norm else []), nn.LeakyReLU())


def _dec_block(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers = [nn.ConvTranspose2d(cin, cout, kernel_size=3, stride=2, padding=1, output_padding=1)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(cout)] if norm else []), nn.LeakyReLU())


def _final(c: int, norm: bool) -> nn.Sequential:
    up = nn.ConvTranspose2d(c, c, kernel_size=3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(up, *([nn.BatchNorm2d(c)] if norm else []), nn.LeakyReLU(),
                         nn.Conv2d(c, out_channels=3, kernel_size=3, padding=1), nn.Tanh())


class RefBetaTCVAE(nn.Module):
    """BetaTCVAE's modules; the decoder starts from ``view(-1, 32, 4, 4)`` as the original does."""

    def __init__(self, in_channels: int = 3, latent_dim: int = 4, hidden_dims=(8, 16, 32)):
        super().__init__()
        hidden = list(hidden_dims)
        assert hidden[-1] == 32, "the original reshapes decoder_input's 512 features to 32 x 4 x 4"
        blocks, prev = [], in_channels
        for h in hidden:
            blocks.append(_enc_block(prev, h, 4, norm=False))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        self.fc = nn.Linear(hidden[-1] * 16, 256)
        self.fc_mu = nn.Linear(256, latent_dim)
        self.fc_var = nn.Linear(256, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, 256 * 2)
        rev = hidden[::-1]
        self.decoder = nn.Sequential(*[_dec_block(rev[i], rev[i + 1], norm=False) for i in range(len(rev) - 1)])
        self.final_layer = _final(rev[-1], norm=False)

    def reference_encode(self, x):
        h = self.fc(torch.flatten(self.encoder(x), start_dim=1))
        return self.fc_mu(h), self.fc_var(h)

    def reference_decode(self, z):
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, 32, 4, 4)))


class RefWAE(nn.Module):
    """WAE_MMD's modules; the decoder starts from ``view(-1, 512, 2, 2)`` as the original does."""

    def __init__(self, in_channels: int = 3, latent_dim: int = 4, hidden_dims=(4, 8, 512)):
        super().__init__()
        hidden = list(hidden_dims)
        assert hidden[-1] == 512, "the original reshapes decoder_input's output to 512 x 2 x 2"
        blocks, prev = [], in_channels
        for h in hidden:
            blocks.append(_enc_block(prev, h, 3, norm=True))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        self.fc_z = nn.Linear(hidden[-1] * 4, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden[-1] * 4)
        rev = hidden[::-1]
        self.decoder = nn.Sequential(*[_dec_block(rev[i], rev[i + 1], norm=True) for i in range(len(rev) - 1)])
        self.final_layer = _final(rev[-1], norm=True)

    def reference_encode(self, x):
        return self.fc_z(torch.flatten(self.encoder(x), start_dim=1))

    def reference_decode(self, z):
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, 512, 2, 2)))


class RefConditionalVAE(nn.Module):
    """ConditionalVAE's modules and its forward: labels enter the encoder as an extra map, the decoder as
    extra inputs (``torch.cat([z, y], dim=1)``)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 40, latent_dim: int = 4, hidden_dims=(4, 8, 512),
                 img_size: int = 16):
        super().__init__()
        hidden = list(hidden_dims)
        assert hidden[-1] == 512 and img_size == 2 * 2 ** len(hidden)
        self.img_size = img_size
        self.embed_class = nn.Linear(num_classes, img_size * img_size)
        self.embed_data = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        blocks, prev = [], in_channels + 1
        for h in hidden:
            blocks.append(_enc_block(prev, h, 3, norm=True))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        self.fc_mu = nn.Linear(hidden[-1] * 4, latent_dim)
        self.fc_var = nn.Linear(hidden[-1] * 4, latent_dim)
        self.decoder_input = nn.Linear(latent_dim + num_classes, hidden[-1] * 4)
        rev = hidden[::-1]
        self.decoder = nn.Sequential(*[_dec_block(rev[i], rev[i + 1], norm=True) for i in range(len(rev) - 1)])
        self.final_layer = _final(rev[-1], norm=True)

    def reference_encode(self, x, y):
        embedded_class = self.embed_class(y.float()).view(-1, self.img_size, self.img_size).unsqueeze(1)
        h = self.encoder(torch.cat([self.embed_data(x), embedded_class], dim=1))
        h = torch.flatten(h, start_dim=1)
        return self.fc_mu(h), self.fc_var(h)

    def reference_decode(self, z, y):
        h = self.decoder_input(torch.cat([z, y.float()], dim=1)).view(-1, 512, 2, 2)
        return self.final_layer(self.decoder(h))


class RefVanillaVAE(nn.Module):
    """VanillaVAE's modules, for the prefix tests (``view(-1, 512, 2, 2)`` as in the original)."""

    def __init__(self, latent_dim: int = 3, hidden_dims=(4, 512)):
        super().__init__()
        hidden = list(hidden_dims)
        blocks, prev = [], 3
        for h in hidden:
            blocks.append(_enc_block(prev, h, 3, norm=True))
            prev = h
        self.encoder = nn.Sequential(*blocks)
        self.fc_mu = nn.Linear(hidden[-1] * 4, latent_dim)
        self.fc_var = nn.Linear(hidden[-1] * 4, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden[-1] * 4)
        rev = hidden[::-1]
        self.decoder = nn.Sequential(*[_dec_block(rev[i], rev[i + 1], norm=True) for i in range(len(rev) - 1)])
        self.final_layer = _final(rev[-1], norm=True)

    def reference_decode(self, z):
        return self.final_layer(self.decoder(self.decoder_input(z).view(-1, 512, 2, 2)))


ANTIXK_MODELS = {"BetaTCVAE": RefBetaTCVAE, "WAE_MMD": RefWAE, "ConditionalVAE": RefConditionalVAE,
                 "VanillaVAE": RefVanillaVAE}


def antixk_model(name: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    model = ANTIXK_MODELS[name](**kwargs)
    _randomise_norms(model)
    return model.eval()


class _Experiment(nn.Module):
    """Stands in for PyTorch-VAE's VAEXperiment (a LightningModule whose VAE is ``self.model``)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.model = vae


def lightning_ckpt(path: Path, vae: nn.Module, lightning_version: str = "1.5.6", prefix: str | None = None,
                   extra: dict[str, torch.Tensor] | None = None) -> Path:
    """Save ``vae`` as Lightning's ModelCheckpoint saves PyTorch-VAE's experiment.

    ``prefix`` replaces the experiment's ``model.`` (other projects' modules hold their VAE elsewhere);
    ``extra`` adds tensors that are not the VAE's (a loss module's buffers, a discriminator).
    """
    state = _Experiment(vae).state_dict()
    if prefix is not None:
        state = {prefix + k[len("model."):]: v for k, v in state.items()}
    state.update(extra or {})
    torch.save({"epoch": 9, "global_step": 25440, "pytorch-lightning_version": lightning_version,
                "state_dict": state, "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {}}}},
                "callbacks": {"ModelCheckpoint": {"monitor": "val_loss", "best_model_score": torch.tensor(0.03)}},
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.005, "weight_decay": 0.0}]}],
                "lr_schedulers": [{"gamma": 0.95, "base_lrs": [0.005], "last_epoch": 9}]}, path)
    return path


# --- YannDubs/disentangling-vae ------------------------------------------------------------------------------

class RefEncoderBurgess(nn.Module):
    def __init__(self, img_size=(1, 64, 64), latent_dim: int = 10):
        super().__init__()
        hid, k, hidden_dim = 32, 4, 256
        self.latent_dim, self.img_size = latent_dim, img_size
        self.reshape = (hid, k, k)
        self.conv1 = nn.Conv2d(img_size[0], hid, k, stride=2, padding=1)
        self.conv2 = nn.Conv2d(hid, hid, k, stride=2, padding=1)
        self.conv3 = nn.Conv2d(hid, hid, k, stride=2, padding=1)
        if img_size[1] == img_size[2] == 64:
            self.conv_64 = nn.Conv2d(hid, hid, k, stride=2, padding=1)
        self.lin1 = nn.Linear(hid * k * k, hidden_dim)
        self.lin2 = nn.Linear(hidden_dim, hidden_dim)
        self.mu_logvar_gen = nn.Linear(hidden_dim, latent_dim * 2)

    def forward(self, x):
        x = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))
        if self.img_size[1] == self.img_size[2] == 64:
            x = F.relu(self.conv_64(x))
        x = F.relu(self.lin2(F.relu(self.lin1(x.view(x.size(0), -1)))))
        return self.mu_logvar_gen(x).view(-1, self.latent_dim, 2).unbind(-1)


class RefDecoderBurgess(nn.Module):
    def __init__(self, img_size=(1, 64, 64), latent_dim: int = 10):
        super().__init__()
        hid, k, hidden_dim = 32, 4, 256
        self.img_size = img_size
        self.reshape = (hid, k, k)
        self.lin1 = nn.Linear(latent_dim, hidden_dim)
        self.lin2 = nn.Linear(hidden_dim, hidden_dim)
        self.lin3 = nn.Linear(hidden_dim, hid * k * k)
        if img_size[1] == img_size[2] == 64:
            self.convT_64 = nn.ConvTranspose2d(hid, hid, k, stride=2, padding=1)
        self.convT1 = nn.ConvTranspose2d(hid, hid, k, stride=2, padding=1)
        self.convT2 = nn.ConvTranspose2d(hid, hid, k, stride=2, padding=1)
        self.convT3 = nn.ConvTranspose2d(hid, img_size[0], k, stride=2, padding=1)

    def forward(self, z):
        x = F.relu(self.lin3(F.relu(self.lin2(F.relu(self.lin1(z))))))
        x = x.view(z.size(0), *self.reshape)
        if self.img_size[1] == self.img_size[2] == 64:
            x = F.relu(self.convT_64(x))
        x = F.relu(self.convT2(F.relu(self.convT1(x))))
        return torch.sigmoid(self.convT3(x))


class RefDisVAE(nn.Module):
    def __init__(self, img_size=(1, 64, 64), latent_dim: int = 10):
        super().__init__()
        self.img_size, self.latent_dim, self.model_type = list(img_size), latent_dim, "Burgess"
        self.encoder = RefEncoderBurgess(img_size, latent_dim)
        self.decoder = RefDecoderBurgess(img_size, latent_dim)


def disvae_specs(img_size=(1, 64, 64), latent_dim: int = 10, dataset: str = "dsprites", **more) -> dict:
    """specs.json as main.py writes it (its arguments), trimmed to what matters here."""
    return {"batch_size": 64, "btcvae_B": 6.4, "dataset": dataset, "epochs": 30, "experiment": f"btcvae_{dataset}",
            "img_size": list(img_size), "latent_dim": latent_dim, "loss": "btcvae", "lr": 0.0005,
            "model_type": "Burgess", "name": f"btcvae_{dataset}", "rec_dist": "bernoulli", "seed": 1234, **more}


def disvae_folder(folder: Path, img_size=(1, 64, 64), latent_dim: int = 10, dataset: str = "dsprites",
                  seed: int = 0, specs: dict | None | bool = True) -> RefDisVAE:
    """A results folder: ``model.pt`` (the state_dict) and, unless ``specs`` is False, ``specs.json``."""
    torch.manual_seed(seed)
    model = RefDisVAE(img_size, latent_dim).eval()
    folder.mkdir(parents=True, exist_ok=True)
    if specs is not False:
        meta = specs if isinstance(specs, dict) else disvae_specs(img_size, latent_dim, dataset)
        with open(folder / "specs.json", "w") as fh:
            json.dump(meta, fh, indent=4, sort_keys=True)
    torch.save(model.state_dict(), folder / "model.pt")
    return model
