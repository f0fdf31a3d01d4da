"""Generators in a sweep: an InfoGAN encoded by its own Q head (only when the resume state holds this very
generator), other GANs through inversion when asked, and every other case skipped with its reason."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import open_checkpoint
from latentlab.core.store import ResultStore
from latentlab.core.sweep.encoders import INVERSION, Q_HEAD, SKIP, choose_route, with_encoder
from latentlab.core.sweep.engine import SequentialBackend
from latentlab.core.sweep.evaluate import SweepOptions, run_sweep
from latentlab.core.sweep.tasks import EvalSettings
from latentlab.core.train import TrainConfig, train_to_file
from latentlab.core.zoo.adversarial import Critic
from tests.helpers import tiny_checkpoint


def _infogan(path, seed=0, steps=3, arch="infowgan_gp"):
    cfg = TrainConfig(arch=arch, steps=steps, batch_size=4, latent_dim=3, seed=seed, device="cpu",
                      objective={"n_critic": 1}, network={"base": 4, "hidden": 16})
    return train_to_file(cfg, path, resume=True, save_every=steps)


@pytest.fixture(scope="module")
def gans(tmp_path_factory):
    root = tmp_path_factory.mktemp("gans")
    return _infogan(root / "a.safetensors"), _infogan(root / "q.safetensors", arch="qinfowgan_gp"), root


def test_the_q_head_is_the_critics_code_regressor_of_this_generator(gans):
    plain, _, _ = gans
    ck = open_checkpoint(plain, device="cpu")
    route = choose_route(ck, invert=False)
    assert route.kind == Q_HEAD and "Q head" in route.note and plain.name + ".resume" in route.note
    enc = with_encoder(ck.model, route)
    x = torch.rand(5, 1, 64, 64)
    critic = Critic(1, 3, 64, 4, 16)
    from safetensors.torch import load

    critic.load_state_dict(load(route.q_head))
    assert torch.allclose(enc.encode(x).mean, critic(x)[1])
    assert torch.equal(enc.decode(torch.zeros(1, 3)), ck.model.decode(torch.zeros(1, 3)))


def test_a_quantized_infogan_q_head_lands_on_its_codebook(gans):
    _, quantized, _ = gans
    ck = open_checkpoint(quantized, device="cpu")
    enc = with_encoder(ck.model, choose_route(ck, invert=False))
    post = enc.encode(torch.rand(4, 1, 64, 64))
    values = ck.model.values.detach()
    for j in range(3):
        assert set(post.mean[:, j].tolist()) <= set(values[j].tolist())
    assert post.codes is not None and len(enc.codebooks) == 3


def test_a_resume_state_of_another_generator_is_not_used(gans, tmp_path):
    plain, _, root = gans
    other = _infogan(tmp_path / "other.safetensors", seed=5)
    moved = tmp_path / "copy.safetensors"
    shutil.copy(plain, moved)
    shutil.copy(str(other) + ".resume", str(moved) + ".resume")  # a resume state, but of another run
    route = choose_route(open_checkpoint(moved, device="cpu"), invert=False)
    assert route.kind == SKIP and "generator weights differ" in route.note and "--invert" in route.note


def test_inversion_when_asked_and_the_figures_are_stored_apart(gans, tmp_path):
    bare = tiny_checkpoint(tmp_path / "bare.safetensors", arch="infowgan", latent_dim=3)
    ck = open_checkpoint(bare, device="cpu")
    assert choose_route(ck, invert=False).kind == SKIP
    route = choose_route(ck, invert=True, invert_config={"steps": 3})
    assert route.kind == INVERSION and "inversion" in route.note
    z = np.asarray(with_encoder(ck.model, route).encode(ck.model.decode(ck.model.sample_prior(2))).mean)
    assert z.shape == (2, 3) and np.all(np.abs(z) <= 1.0)  # inside the uniform prior's support
    opts = SweepOptions(metrics=["mig"], settings=EvalSettings(dataset="dsprites", n=40, device="cpu"), invert=True,
                        invert_config={"steps": 2})
    db = ResultStore(tmp_path / "r.sqlite3")
    report = run_sweep([str(bare)], opts, SequentialBackend(), store=db)
    assert report.rows[0].values["mig.mig"] is not None and "inversion" in report.rows[0].note
    (stored,) = db.find(kind="metric", name="mig")
    assert stored.params["encoder"]["kind"] == INVERSION  # never served as the figure of a real encoder
