"""Training potential flows: it learns, it is seeded, it can be cancelled, saved, resumed and checked."""

from __future__ import annotations

import warnings

import pytest
import torch

from latentlab.core.flows import (
    FlowConfig,
    Flows,
    FlowsFileError,
    FlowsMismatchError,
    load_flows,
    read_flows_card,
    save_flows,
    train,
)
from latentlab.core.flows.train import measure
from latentlab.core.jobs import JobCancelled, JobContext
from tests.core.flows_support import LinearDecoderModel


@pytest.fixture(autouse=True)
def one_thread():
    """Exact run-to-run equality needs one thread: multi-threaded MKL kernels may round differently from
    run to run (their blocking depends on memory alignment), so two runs then agree only to ~1e-7."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _config(**kw):
    base = dict(n_potentials=3, steps=60, batch_size=16, horizon=4, lr=1e-3, hidden=16, classifier_width=8,
                weights={"pde": 30.0}, device="cpu", log_every=5, seed=0)
    base.update(kw)
    return FlowConfig(**base)


@pytest.mark.slow
@pytest.mark.parametrize("d", [3, 4])
def test_training_lowers_the_pde_residual_and_lifts_the_classifier_above_chance(d):
    model = LinearDecoderModel(d, seed=d)
    cfg = _config(steps=50, batch_size=16)
    untrained = Flows.build(cfg, d, 1, {})  # the same initial potentials training starts from
    before = measure(model, untrained, batch_size=128, seed=99)  # a held-out batch: its own seed
    flows = train(model, cfg)
    after = measure(model, flows, batch_size=128, seed=99)
    assert after["pde"] < 0.5 * before["pde"]
    chance = 1 / cfg.n_potentials
    assert before["acc"] < chance + 0.15
    assert after["acc"] > chance + 0.2
    assert flows.step == cfg.steps and flows.history[-1]["step"] == cfg.steps


def test_losses_are_reported_every_step_and_the_run_is_seeded():
    model = LinearDecoderModel(3)
    seen = []
    a = train(model, _config(steps=4), JobContext(partial=seen.append))
    assert [s["step"] for s in seen] == [1, 2, 3, 4]
    assert set(seen[0]) >= {"loss", "pde", "ic", "jvp", "cls", "acc", "step_size", "speed"}
    b = train(model, _config(steps=4))
    for (name, va), vb in zip(a.potentials.state_dict().items(), b.potentials.state_dict().values(), strict=True):
        assert torch.equal(va, vb), name
    c = train(model, _config(steps=4, seed=1))
    assert not torch.equal(a.potentials.wz, c.potentials.wz)


def test_resuming_repeats_the_uninterrupted_run_exactly(tmp_path):
    model = LinearDecoderModel(4)
    full_logs, part_logs = [], []
    full = train(model, _config(steps=6, log_every=1), JobContext(partial=full_logs.append))
    half = train(model, _config(steps=3, log_every=1), JobContext(partial=part_logs.append))
    path = save_flows(half, tmp_path / "half.safetensors")
    assert read_flows_card(path)["step"] == 3
    resumed = train(model, _config(steps=6, log_every=1), JobContext(partial=part_logs.append), resume_from=path)
    assert resumed.step == 6
    assert part_logs == full_logs  # same batches, same losses, step by step
    for (name, va), vb in zip(full.potentials.state_dict().items(), resumed.potentials.state_dict().values(), strict=True):
        assert torch.equal(va, vb), name
    for va, vb in zip(full.classifier.state_dict().values(), resumed.classifier.state_dict().values(), strict=True):
        assert torch.equal(va, vb)
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="already trained for 6 steps"):
        train(model, _config(steps=6), resume_from=resumed)


def test_cancelled_training_keeps_its_steps_for_a_later_resume(tmp_path):
    model = LinearDecoderModel(3)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(JobCancelled) as info:
        train(model, _config(steps=50), JobContext(should_stop=stop))
    partial = info.value.partial_flows
    assert partial.step == 2
    path = save_flows(partial, tmp_path / "p.safetensors")
    more = train(model, _config(steps=4), resume_from=path)
    assert more.step == 4


def test_flows_file_names_its_checkpoint_and_refuses_another(tmp_path):
    model = LinearDecoderModel(3)
    flows = train(model, _config(steps=2), checkpoint_sha256="a" * 64, checkpoint_file="model.safetensors")
    path = save_flows(flows, tmp_path / "f.safetensors")
    card = read_flows_card(path)
    assert card["checkpoint"] == {"sha256": "a" * 64, "name": "linear-3", "latent_dim": 3, "file": "model.safetensors"}
    assert card["config"]["n_potentials"] == 3 and card["config"]["weights"]["pde"] == 30.0
    assert card["history"] and card["step"] == 2

    ok = load_flows(path, checkpoint_sha256="a" * 64, latent_dim=3)
    assert ok.n_potentials == 3 and ok.step == 2
    for va, vb in zip(flows.potentials.state_dict().values(), ok.potentials.state_dict().values(), strict=True):
        assert torch.equal(va, vb)
    with pytest.raises(FlowsMismatchError, match="trained for checkpoint linear-3"):
        load_flows(path, checkpoint_sha256="b" * 64)
    with pytest.warns(UserWarning, match="using them anyway"):
        forced = load_flows(path, checkpoint_sha256="b" * 64, allow_mismatch=True)
    assert forced.n_potentials == 3
    with pytest.raises(FlowsMismatchError, match="3 latents"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_flows(path, checkpoint_sha256="b" * 64, latent_dim=5, allow_mismatch=True)
    with pytest.raises(FlowsMismatchError):
        train(model, _config(steps=4), checkpoint_sha256="b" * 64, resume_from=path)


def test_unreadable_flows_files_give_clear_errors(tmp_path):
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "model.safetensors", latent_dim=3)
    with pytest.raises(FlowsFileError, match="looks like a model checkpoint"):
        load_flows(ck)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a file at all")
    with pytest.raises(FlowsFileError, match="not a flows file"):
        load_flows(bad)
    with pytest.raises(FlowsFileError, match="no such file"):
        load_flows(tmp_path / "missing.safetensors")


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="unknown loss weight"):
        FlowConfig(weights={"kl": 1.0})
    with pytest.raises(ValueError, match="pde must be one of"):
        FlowConfig(pde="poisson")
    with pytest.raises(ValueError, match="horizon"):
        FlowConfig(horizon=1)


@pytest.mark.parametrize("pde", ["heat", "fokker-planck", "hamilton-jacobi"])
def test_every_pde_trains(pde):
    flows = train(LinearDecoderModel(3), _config(steps=2, pde=pde, laplacian="hutchinson", probes=2))
    assert flows.step == 2 and all(torch.isfinite(p).all() for p in flows.potentials.parameters())


def test_flows_train_on_zoo_models_of_both_latent_kinds():
    from tests.helpers import tiny_model

    for arch, d in (("beta_vae", 3), ("qlae", 4)):
        model = tiny_model(arch, latent_dim=d)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        flows = train(model, _config(steps=2, batch_size=4, horizon=2, lr=0.1))
        assert flows.step == 2 and flows.latent_dim == d
        for k, v in model.state_dict().items():  # the model itself is never trained
            assert torch.equal(v, before[k]), k
