"""The Python API behind the command line validates too: the GUI and scripts get a BadInput, not a traceback
or an allocation of gigabytes, for the same hostile values the CLI refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentlab.core import limits
from latentlab.core.directions.find import FindOptions
from latentlab.core.encode import DatasetMismatch, check_dataset_fits
from latentlab.core.errors import BadInput
from latentlab.core.flows import FlowConfig
from latentlab.core.invert import InversionConfig
from latentlab.core.jobs import JobContext
from latentlab.core.limits import check_float, check_int
from latentlab.core.train import TrainConfig, train
from latentlab.core.traversal import keyframe_path, sweep_values, traversal_grid
from tests.helpers import tiny_checkpoint, tiny_model

HUGE = [10**12, -1, 2**63, math.inf, math.nan, "8", True, None, 2.5]


def test_check_int_and_check_float_refuse_every_hostile_kind():
    for v in HUGE:
        with pytest.raises(BadInput):
            check_int(v, "n", 1, 1000)
    for v in (math.inf, -math.inf, math.nan, "x", True, None, 1e300):
        with pytest.raises(BadInput):
            check_float(v, "fps", 0, 240, lo_open=True)
    assert check_int(np.int64(7), "n", 1, 10) == 7 and check_int(3.0, "n") == 3
    with pytest.raises(BadInput, match="fps must be above 0 and at most 240, got 0"):
        check_float(0, "fps", 0, 240, lo_open=True)


@pytest.mark.parametrize("field, value, fragment", [
    ("steps", 10**12, "steps must be from 1 to"), ("batch_size", 1, "batch_size must be from 2"),
    ("latent_dim", 10**6, "latent_dim must be from 1 to 4096"), ("seed", -1, "seed must be from 0"),
    ("lr", math.nan, "lr must be a finite number"), ("lr", 0.0, "lr must be above 0"),
    ("threads", 0, "threads must be from 1"), ("arch", "nope", "unknown arch"),
    ("network", {"hidden": 10**9}, "network hidden must be from 1 to 65536"),
    ("network", {"base": [4, 10**8]}, "network base must be from 1"),
    ("objective", {"beta": math.inf}, "objective beta must be a finite number"),
    ("objective", {"beta": {"a": 1}}, "objective beta: expected numbers"),
])
def test_training_config_is_refused_before_anything_is_built(field, value, fragment):
    cfg = TrainConfig(**{"arch": "vae", "steps": 1, field: value})
    seen = []
    with pytest.raises(BadInput, match=fragment):
        train(cfg, JobContext(progress=lambda f, m="": seen.append(m)))
    assert seen == []  # not even "preparing the dataset renderer"


@pytest.mark.parametrize("kw, fragment", [
    ({"n_potentials": 10**6}, "number of potentials"), ({"hidden": 10**9}, "hidden must be"),
    ({"eta": math.inf}, "eta must be a finite number"), ({"steps": "10"}, "steps must be an integer"),
    ({"weights": {"pde": math.nan}}, "weight pde must be a finite number"), ({"bounded": "yes"}, "bounded must be"),
    ({"horizon": 1}, "horizon"), ({"seed": 2**40}, "seed must be from 0"), ({"time_dim": 0}, "time_dim"),
])
def test_flow_config_refuses_hostile_values(kw, fragment):
    with pytest.raises(BadInput, match=fragment):
        FlowConfig(**kw)


@pytest.mark.parametrize("kw, fragment", [
    ({"n": 10**12}, "n \\(samples\\) must be"), ({"k": 0}, "k \\(directions\\)"), ({"steps": -1}, "steps must be"),
    ({"seed": -3}, "seed"), ({"threshold": math.nan}, "threshold must be a finite"),
    ({"at": [0.0, math.inf]}, "at\\[1\\] must be a finite"), ({"at": [0.0] * 10_000}, "more than any latent has"),
])
def test_find_options_refuse_hostile_values(kw, fragment):
    with pytest.raises(BadInput, match=fragment):
        FindOptions(method="sefa", **kw).validate()


@pytest.mark.parametrize("kw, fragment", [
    ({"steps": 10**12}, "steps"), ({"restarts": 0}, "restarts"), ({"lr": math.inf}, "lr"),
    ({"batch_size": 10**9}, "batch_size"), ({"prior_weight": math.nan}, "prior_weight"), ({"seed": -1}, "seed"),
])
def test_inversion_config_refuses_hostile_values(kw, fragment):
    with pytest.raises(BadInput, match=fragment):
        InversionConfig(**kw)


def test_traversal_helpers_refuse_requests_that_would_allocate_gigabytes():
    z = np.zeros(8, np.float32)
    with pytest.raises(BadInput, match="steps \\(grid columns\\) must be from 1 to 256"):
        traversal_grid(z, [0], 100_000, -1, 1)
    with pytest.raises(BadInput, match="too large"):
        traversal_grid(z, list(range(8)) * 5000, 8, -1, 1)
    with pytest.raises(BadInput, match="frames must be from 1 to"):
        keyframe_path([z, z], 10**10)
    with pytest.raises(BadInput, match="same size"):
        keyframe_path([z, np.zeros(3)], 10)
    with pytest.raises(BadInput, match="NaN or infinite"):
        traversal_grid(np.full(8, np.nan), [0], 3, -1, 1)
    with pytest.raises(BadInput, match="steps of a sweep"):
        sweep_values(-1, 1, 10**12)
    with pytest.raises(BadInput, match="sweep's end must be a finite"):
        sweep_values(-1, math.inf, 3)
    big = np.zeros(4096, np.float32)
    with pytest.raises(BadInput, match="too many"):
        keyframe_path([big, big], limits.MAX_FRAMES)


class _Dataset:
    name = "other"

    def __init__(self, shape):
        self.image_shape = shape


def test_a_dataset_that_does_not_fit_the_model_is_refused_by_type():
    model = tiny_model(latent_dim=3)
    with pytest.raises(DatasetMismatch, match="channels differ"):
        check_dataset_fits(model, _Dataset((3, 64, 64)))
    with pytest.raises(DatasetMismatch, match="image size differ"):
        check_dataset_fits(model, _Dataset((1, 32, 32)))
    check_dataset_fits(model, _Dataset((1, 64, 64)))


def test_metrics_refuse_a_mismatched_dataset_before_encoding_or_the_store(tmp_path):
    from latentlab.core.data import get_dataset
    from latentlab.core.metrics import evaluate

    ck = tiny_checkpoint(tmp_path / "m.safetensors", latent_dim=3)
    seen = []
    with pytest.raises(DatasetMismatch):
        evaluate(str(ck), get_dataset("shapes3d"), "mig", n=100, store=False,
                 ctx=JobContext(progress=lambda f, m="": seen.append(m)))
    assert seen == []
    with pytest.raises(BadInput, match="n \\(training points\\) must be from 2"):
        evaluate(str(ck), "dsprites", "mig", n=10**12, store=False)
