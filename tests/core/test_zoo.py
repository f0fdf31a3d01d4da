"""Every zoo objective trains (a few steps lower its loss) and every network has the right shapes and ranges."""

from __future__ import annotations

import pytest
import torch

from latentlab.core.data import get_dataset
from latentlab.core.model import Encodes, LatentModel, Quantized
from latentlab.core.zoo import ARCHS, build_network, build_objective
from latentlab.core.zoo.objectives import optimizer_for, permute_dims


@pytest.fixture(scope="module")
def batch():
    images, _ = get_dataset("dsprites").sample(16, rng=0)
    return torch.from_numpy(images)


def _loss_at(objective, model, x, step):
    torch.manual_seed(123)  # same posterior samples before and after, so the comparison is fair
    with torch.no_grad():
        loss, _ = objective.loss(model, x, step)
    return loss.item()


@pytest.mark.parametrize("arch", sorted(a for a, spec in ARCHS.items() if not spec.adversarial))
def test_a_few_steps_lower_the_loss(arch, batch):
    torch.manual_seed(0)
    model = build_network(arch, latent_dim=6, base=8, hidden=64)
    hp = {"disc_hidden": 32, "disc_layers": 2} if arch == "factor_vae" else {}
    objective = build_objective(arch, **hp)
    objective.setup(model, total_steps=40, dataset_size=737280)
    opt = optimizer_for(objective, model, lr=2e-3)
    before = _loss_at(objective, model, batch, 40)
    for step in range(1, 41):
        loss, logs = objective.loss(model, batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if objective.has_aux:
            logs.update(objective.aux_step(model, batch, batch.flip(0)))
        assert all(v == v for v in logs.values()), f"NaN in logs at step {step}: {logs}"
    after = _loss_at(objective, model, batch, 40)
    assert after < 0.8 * before, f"{arch}: loss {before:.1f} -> {after:.1f}"


@pytest.mark.parametrize("network,channels", [("conv_vae", 1), ("conv_vae", 3), ("qlae", 1)])
def test_encode_decode_shapes_and_ranges(network, channels):
    model = build_network(network, latent_dim=7, channels=channels).eval()
    assert isinstance(model, LatentModel) and isinstance(model, Encodes)
    x = torch.rand(5, channels, 64, 64)
    post = model.encode(x)
    assert post.mean.shape == (5, 7)
    if network == "conv_vae":
        assert post.logvar.shape == (5, 7)
        assert post.sample(torch.Generator().manual_seed(0)).shape == (5, 7)
    img = model.decode(post.mean)
    assert img.shape == (5, channels, 64, 64)
    assert img.min() >= 0 and img.max() <= 1
    z = model.sample_prior(3, torch.Generator().manual_seed(0))
    assert z.shape == (3, 7)


def test_standard_architecture_layout():
    """4 conv layers 32-32-64-64, 4x4 kernels, stride 2, a 256-unit dense layer; mirrored decoder."""
    model = build_network("conv_vae", latent_dim=10)
    convs = [m for m in model.encoder.conv if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert model.encoder.fc[1].out_features == 256
    deconvs = [m for m in model.decoder.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [64, 32, 32, 1]
    assert model.decoder.fc[0].out_features == 256


def test_qlae_quantizes_to_its_codebooks_with_straight_through_gradients():
    model = build_network("qlae", latent_dim=4, n_values=5, base=4, hidden=16)
    assert isinstance(model, Quantized)
    assert len(model.codebooks) == 4 and all(len(cb) == 5 for cb in model.codebooks)
    zc = torch.randn(8, 4, requires_grad=True)
    zq, codes = model.quantize(zc)
    for j in range(4):
        assert set(zq[:, j].tolist()) <= set(model.values[j].tolist())
    (zc + (zq - zc).detach()).sum().backward()
    assert torch.allclose(zc.grad, torch.ones_like(zc))
    prior = model.sample_prior(6)
    assert torch.allclose(model.snap(prior), prior)


def test_qlae_optimizer_decays_weights_but_not_codebook_values():
    model = build_network("qlae", latent_dim=3, base=4, hidden=16)
    opt = optimizer_for(build_objective("qlae"), model, 1e-3)
    groups = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert groups[id(model.values)] == 0.0
    assert groups[id(model.encoder.out.weight)] == pytest.approx(0.1)


def test_permute_dims_keeps_each_marginal():
    z = torch.arange(40.0).view(10, 4)
    zp = permute_dims(z)
    for j in range(4):
        assert sorted(zp[:, j].tolist()) == sorted(z[:, j].tolist())


def test_unknown_objective_hyperparameter_is_an_error():
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        build_objective("beta_vae", betta=3)
