"""The zoo GANs: shapes and ranges, capabilities, the WGAN-GP objective's parts, training, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from latentlab.core.checkpoint import open_checkpoint, save_checkpoint
from latentlab.core.data import get_dataset
from latentlab.core.encode import NoEncoderError, require_encoder
from latentlab.core.model import Encodes, LatentModel, ModelInfo, Quantized
from latentlab.core.train import TrainConfig, train
from latentlab.core.zoo import ARCHS, build_network, build_objective
from latentlab.core.zoo.adversarial import Critic, gradient_penalty
from latentlab.core.zoo.objectives import optimizer_for

TINY = dict(latent_dim=4, base=4, hidden=16)
SMALL = dict(latent_dim=3, base=4, hidden=16, image_size=32)  # 32x32 keeps the double backprop of the GP cheap


@pytest.fixture(scope="module")
def real():
    images, _ = get_dataset("dsprites").sample(16, rng=0)
    return F.avg_pool2d(torch.from_numpy(images), 2)


@pytest.mark.parametrize("network", ["infowgan", "qinfowgan"])
def test_generators_decode_to_images_and_have_no_encoder(network):
    model = build_network(network, latent_dim=5, channels=3).eval()
    assert isinstance(model, LatentModel)
    assert not isinstance(model, Encodes), "a GAN must not claim an encoder"
    z = model.sample_prior(6, torch.Generator().manual_seed(0))
    img = model.decode(z)
    assert img.shape == (6, 3, 64, 64) and 0 <= img.min() and img.max() <= 1
    with pytest.raises(NoEncoderError, match="inversion"):
        require_encoder(model)


def test_infowgan_prior_is_uniform_in_its_support():
    model = build_network("infowgan", **TINY)
    z = model.sample_prior(4000, torch.Generator().manual_seed(1))
    assert model.prior == "uniform"
    assert z.min() >= -1 and z.max() <= 1
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 3 ** -0.5) < 0.02
    assert torch.equal(model.clamp_latent(torch.full((1, 4), 3.0)), torch.ones(1, 4))


def test_quantized_gan_samples_codebook_values_only():
    model = build_network("qinfowgan", n_values=5, **TINY)
    assert isinstance(model, Quantized) and model.prior == "codebook"
    assert len(model.codebooks) == 4 and all(len(cb) == 5 for cb in model.codebooks)
    z = model.sample_prior(200, torch.Generator().manual_seed(2))
    for j in range(4):
        assert set(z[:, j].tolist()) <= set(model.codebooks[j].tolist())
    assert torch.equal(model.snap(z + 0.01), z)


def test_gradient_penalty_matches_the_closed_form_on_a_linear_critic():
    torch.manual_seed(0)
    w = torch.randn(1, 3, 8, 8) * 0.05  # |w| != 1, so the penalty is not zero
    critic = lambda x: (x * w).flatten(1).sum(1) + 0.3  # noqa: E731
    real, fake = torch.rand(5, 3, 8, 8), torch.rand(5, 3, 8, 8)
    gp = gradient_penalty(critic, real, fake)
    expected = (w.norm() - 1) ** 2  # the gradient of a linear critic is w at every point
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    unit = w / w.norm()
    assert gradient_penalty(lambda x: (x * unit).flatten(1).sum(1), real, fake).item() == pytest.approx(0, abs=1e-10)


def test_gradient_penalty_is_differentiable_in_the_critic():
    critic = Critic(channels=1, code_dim=3, base=4, hidden=8)
    gp = gradient_penalty(lambda x: critic(x)[0], torch.rand(4, 1, 64, 64), torch.rand(4, 1, 64, 64))
    gp.backward()
    assert all(p.grad is not None for p in critic.features.parameters())


@pytest.mark.parametrize("arch", ["infowgan_gp", "qinfowgan_gp"])
def test_critic_learns_to_separate_and_generator_learns_to_fool(arch, real):
    torch.manual_seed(0)
    model = build_network(ARCHS[arch].network, **SMALL)
    objective = build_objective(arch, critic_lr=3e-3)
    objective.setup(model, total_steps=30, dataset_size=737280)

    def wdist():
        torch.manual_seed(5)
        with torch.no_grad():
            fake = model.decode(objective.sample_latent(model, len(real), differentiable=False))
            return (objective.critic(real)[0].mean() - objective.critic(fake)[0].mean()).item()

    before = wdist()
    for _ in range(30):
        logs = objective.critic_step(model, real)
        assert all(v == v for v in logs.values())
    trained = wdist()
    assert trained > before + 1.0, f"critic did not learn: W estimate {before:.3f} -> {trained:.3f}"

    # Now only the generator moves, against the frozen critic: its adversarial loss must fall.
    opt = optimizer_for(objective, model, lr=3e-3)
    critic_before = [p.detach().clone() for p in objective.critic.parameters()]

    def g_adv():
        torch.manual_seed(7)
        with torch.no_grad():
            return objective.loss(model, real, 1)[1]["g_adv"]

    g0 = g_adv()
    for step in range(15):
        loss, _ = objective.loss(model, real, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert g_adv() < g0 - 0.5, "generator did not learn to raise the critic's value of its samples"
    assert all(torch.equal(a, b) for a, b in zip(critic_before, objective.critic.parameters(), strict=True)), \
        "the generator step must not move the critic"


def test_code_loss_regresses_the_latent_and_trains_the_codebook_only_in_the_generator_step():
    torch.manual_seed(0)
    plain = build_network("infowgan", **SMALL)
    obj = build_objective("infowgan_gp")
    code, z = torch.randn(5, 3, requires_grad=True), torch.rand(5, 3)
    term, logs = obj.code_loss(plain, code, z, train_codebook=True)
    assert term.item() == pytest.approx(obj.hparams["info_weight"] * F.mse_loss(code, z).item(), rel=1e-6)

    model = build_network("qinfowgan", n_values=4, **SMALL)
    q = build_objective("qinfowgan_gp", quantize_weight=0.0, commit_weight=0.0)
    code = torch.tensor([[0.2, -0.9, 0.4]], requires_grad=True)
    z = torch.tensor([[1.0, -1.0, -1.0 / 3]])
    term, logs = q.code_loss(model, code, z, train_codebook=True)
    snapped = model.snap(code.detach())
    assert logs["info"] == pytest.approx(F.mse_loss(snapped, z).item(), rel=1e-6)
    (g_code,) = torch.autograd.grad(term, code, retain_graph=True)
    # Straight-through: the code head gets the gradient of the regression evaluated at the snapped value.
    assert torch.allclose(g_code, q.hparams["info_weight"] * 2 * (snapped - z) / z.numel())
    # The quantization term pulls the codebook towards the code head's outputs, in the generator step only.
    q2 = build_objective("qinfowgan_gp")
    q2.code_loss(model, code, z, train_codebook=False)[0].backward()
    assert model.values.grad is None, "the critic step must not move the codebook"
    q2.code_loss(model, code, z, train_codebook=True)[0].backward()
    assert model.values.grad is not None and model.values.grad.abs().sum() > 0


def test_training_runs_through_the_trainer_and_reopens(tmp_path):
    cfg = TrainConfig(arch="qinfowgan_gp", dataset="xyobject", steps=3, batch_size=8, latent_dim=3, device="cpu",
                      network={"base": 4, "hidden": 16, "n_values": 4}, objective={"n_critic": 2}, seed=4, log_every=1)
    result = train(cfg)
    assert result.card["architecture"] == "qinfowgan" and result.card["info"]["prior"] == "codebook"
    assert {"wdist", "gp", "g_adv", "info", "quantize"} <= set(result.history[-1])
    path = save_checkpoint(result.model, tmp_path / "g.safetensors", result.card)
    ck = open_checkpoint(path)
    assert isinstance(ck.model, Quantized) and not isinstance(ck.model, Encodes)
    z = ck.model.sample_prior(2, torch.Generator().manual_seed(0))
    assert torch.allclose(ck.model.decode(z), result.model.eval().decode(z))
    again = train(cfg)
    assert all(torch.equal(a, b) for a, b in zip(result.model.state_dict().values(), again.model.state_dict().values(),
                                                  strict=True)), "same seed, same GAN"


def test_gan_checkpoint_shapes_are_read_from_the_weights(tmp_path):
    model = build_network("infowgan", latent_dim=6, channels=3, base=8, hidden=32)
    model.info = ModelInfo("g", 6, (3, 64, 64), prior="uniform")
    path = save_checkpoint(model, tmp_path / "g.safetensors")
    ck = open_checkpoint(path)
    assert ck.model.hparams == {"latent_dim": 6, "channels": 3, "image_size": 64, "base": 8, "hidden": 32}
