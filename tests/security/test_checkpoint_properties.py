"""Property-based hostile inputs: random safetensors headers and model cards only ever give typed errors."""

from __future__ import annotations

import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentlab.core.checkpoints import open_checkpoint, save_checkpoint
from latentlab.core.checkpoints.card import CARD_KEY, make_card
from latentlab.core.errors import LatentlabError
from tests.helpers import tiny_model

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
DTYPES = st.sampled_from(["F32", "F16", "BF16", "I32", "I64", "U8", "BOOL", "F64", "X9", ""])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _opens_or_says_why(path, **kw) -> None:
    try:
        open_checkpoint(path, **kw)
    except LatentlabError as exc:
        assert str(exc) and "\n" not in str(exc)


@SETTINGS
@given(tensors=st.dictionaries(st.text(min_size=1, max_size=12), st.fixed_dictionaries({
    "dtype": DTYPES, "shape": st.lists(st.integers(-2, 2**40), max_size=4),
    "data_offsets": st.lists(st.integers(-5, 2**62), min_size=0, max_size=3)}), max_size=4),
    meta=st.one_of(st.none(), st.dictionaries(st.text(max_size=10), JSON, max_size=3)),
    body=st.binary(max_size=256))
def test_random_safetensors_headers_give_typed_errors(tmp_path, tensors, meta, body):
    header = dict(tensors)
    if meta is not None:
        header["__metadata__"] = meta
    raw = json.dumps(header).encode()
    path = tmp_path / "random.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    _opens_or_says_why(path)
    _opens_or_says_why(path, arch="beta_vae")


@SETTINGS
@given(field=st.sampled_from(["architecture", "hparams", "info", "info.name", "info.latent_dim", "info.image_shape",
                              "info.latent_names", "info.prior", "info.factor_names", "hparams.likelihood",
                              "hparams.base", "hparams.latent_dim"]), value=JSON)
def test_random_card_fields_give_typed_errors(tmp_path, field, value):
    model = tiny_model()
    card = json.loads(json.dumps(make_card(model)))
    section, _, key = field.partition(".")
    if key:
        if isinstance(card.get(section), dict):
            card[section][key] = value
    else:
        card[section] = value
    path = tmp_path / "card.safetensors"
    try:
        text = json.dumps(card)
    except ValueError:
        return
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={CARD_KEY: text})
    _opens_or_says_why(path)


def test_a_card_that_claims_other_sizes_than_the_weights_is_refused(tmp_path):
    model = tiny_model(latent_dim=4)
    card = make_card(model)
    card["hparams"]["hidden"] = 1 << 24  # a giant layer the file's tensors do not hold
    path = save_checkpoint(model, tmp_path / "m.safetensors", card)
    try:
        open_checkpoint(path)
    except LatentlabError as exc:
        assert "hidden" in str(exc)
    else:
        raise AssertionError("a card that disagrees with the tensors opened")
