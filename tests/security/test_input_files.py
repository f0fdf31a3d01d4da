"""Hostile direction files, flows files and sessions: each is refused with one clear, typed line.

Every file is built here: a real file is written by latentlab, then its JSON header or card is replaced by
a hostile one (deep, of the wrong shape, of the wrong types, claiming huge networks). The reader must raise
its own error type naming the file and the field, allocate nothing the file's tensors do not back, and
leave the file exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from latentlab.core.directions import Direction, DirectionSet, load_directions, save_directions
from latentlab.core.directions.gradctrl import gradctrl_directions
from latentlab.core.directions.io import HEADER_KEY, DirectionFileError
from latentlab.core.directions.labels import LabeledLatents
from latentlab.core.errors import FileError
from latentlab.core.flows import FlowConfig, FlowsFileError, load_flows, read_flows_card, save_flows, train
from latentlab.core.flows.io import CARD_KEY
from latentlab.core.session import Session, SessionError, load_session
from tests.core.flows_support import LinearDecoderModel
from tests.security.conftest import fingerprint

DEEP = "[" * 50_000 + "]" * 50_000


def rewrite_meta(src: Path, dst: Path, key: str, text: str, tensors: dict | None = None) -> Path:
    """A copy of safetensors file ``src`` whose metadata ``key`` is ``text`` (and optionally other tensors)."""
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    meta[key] = text
    save_file(load_file(str(src)) if tensors is None else tensors, str(dst), metadata=meta)
    return dst


def refused(call, error: type[Exception], path: Path, *fragments: str) -> str:
    """``call()`` raises ``error``: one line naming ``path`` and each fragment; the file is untouched."""
    before = fingerprint(path)
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and str(path.name) in text, text
    for f in fragments:
        assert f in text, text
    assert fingerprint(path) == before
    return text


# --- direction files -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def direction_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 4)).astype(np.float32)
    field = gradctrl_directions(LabeledLatents("t", z, (z[:, 1] > 0).astype(int), ("lo", "hi")),
                                [LabeledLatents("o", z, (z[:, 0] > 0).astype(int), ("lo", "hi"))],
                                top_k=1, steps=5, hidden=(8,), seed=0)[0]
    s = DirectionSet(4, [Direction("posX", "interfacegan", {"a": 1}, vector=[1, 0, 0, 0]), field], "ab" * 32, "m")
    return save_directions(s, tmp_path_factory.mktemp("dirs") / "good.safetensors")


def _header(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()[HEADER_KEY])


def _mutated(direction_file: Path, tmp_path: Path, change) -> Path:
    header = _header(direction_file)
    change(header)
    return rewrite_meta(direction_file, tmp_path / "hostile.safetensors", HEADER_KEY, json.dumps(header))


def test_a_deeply_nested_direction_header_is_refused(direction_file, tmp_path):
    p = rewrite_meta(direction_file, tmp_path / "deep.safetensors", HEADER_KEY, DEEP)
    refused(lambda: load_directions(p), DirectionFileError, p, "nests 50000 levels deep")


@pytest.mark.parametrize("change, fragment", [
    (lambda h: h.update(latent_dim="4"), "header.latent_dim: expected an integer, got a string"),
    (lambda h: h.update(latent_dim=10**12), "header.latent_dim: value 1000000000000 is out of range"),
    (lambda h: h.update(directions={"a": 1}), "header.directions: expected a list, got an object"),
    (lambda h: h.update(source_sha256=["x"]), "header.source_sha256: expected a string, got a list"),
    (lambda h: h.update(meta=[]), "header.meta: expected an object, got a list"),
    (lambda h: h.update(format_version="1"), "header.format_version: expected a positive integer"),
    (lambda h: h["directions"][0].update(name=7), "header.directions[0].name: expected a string, got an integer"),
    (lambda h: h["directions"][0].update(params="x"), "header.directions[0].params: expected an object"),
    (lambda h: h["directions"][0].update(kind=["vector"]), "header.directions[0].kind: expected a string"),
    (lambda h: h["directions"][1].update(field=[1]), "header.directions[1].field: expected an object"),
    (lambda h: h["directions"][1]["field"].update(type={"a": 1}), "unknown field type"),
    (lambda h: h["directions"][1]["field"].update(top_k="1"), "field.top_k: expected an integer"),
    (lambda h: h["directions"][1]["field"].update(step=-1), "field.step: value -1 is out of range"),
    (lambda h: h["directions"][1]["field"].update(target_class=5), "field.target_class: value 5 is out of range"),
    (lambda h: h["directions"][1]["field"]["target"].update(classes=["lo"]), "field.target.classes: length 1"),
    (lambda h: h["directions"][1]["field"]["target"]["net"].update(hidden="64"), "net.hidden: expected a list"),
    (lambda h: h["directions"][1]["field"]["target"]["net"].update(activation=None), "net.activation: expected a string"),
    # Sizes that would allocate gigabytes are checked against the tensors in the file before anything is built.
    (lambda h: h["directions"][1]["field"]["target"]["net"].update(hidden=[4096] * 16), "weights do not match its spec"),
    (lambda h: h["directions"][1]["field"]["target"]["net"].update(n_classes=1024), "tensor net.2.weight has shape"),
    (lambda h: h["directions"][1]["field"]["target"]["net"].update(latent_dim=10**9), "net.latent_dim: value"),
])
def test_wrong_shapes_and_types_in_a_direction_header_name_the_field(direction_file, tmp_path, change, fragment):
    p = _mutated(direction_file, tmp_path, change)
    refused(lambda: load_directions(p), DirectionFileError, p, fragment)


def test_an_integer_direction_vector_is_refused(direction_file, tmp_path):
    tensors = load_file(str(direction_file))
    tensors["d0.vector"] = torch.tensor([1, 0, 0, 0], dtype=torch.int32)
    p = rewrite_meta(direction_file, tmp_path / "int.safetensors", HEADER_KEY, json.dumps(_header(direction_file)),
                     tensors)
    refused(lambda: load_directions(p), DirectionFileError, p, "holds torch.int32 values")


def test_a_pipe_or_a_folder_given_as_a_direction_file(tmp_path, fifo):
    for bad, fragment in ((fifo, "is a named pipe (FIFO)"), (tmp_path, "is a folder"), (Path("/dev/null"), "device")):
        with pytest.raises(DirectionFileError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            load_directions(bad)


# --- flows files -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flows_file(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    cfg = FlowConfig(n_potentials=2, steps=2, batch_size=4, horizon=3, hidden=8, classifier_width=4, device="cpu",
                     log_every=1)
    flows = train(LinearDecoderModel(3), cfg, checkpoint_sha256="c" * 64, checkpoint_file="m.safetensors")
    return save_flows(flows, tmp_path_factory.mktemp("flows") / "good.safetensors")


def _card(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()[CARD_KEY])


def test_a_deeply_nested_flows_card_is_refused(flows_file, tmp_path):
    p = rewrite_meta(flows_file, tmp_path / "deep.safetensors", CARD_KEY, DEEP)
    refused(lambda: read_flows_card(p), FlowsFileError, p, "nests 50000 levels deep")


@pytest.mark.parametrize("change, fragment", [
    (lambda c: c.update(checkpoint="x"), "card.checkpoint: expected an object, got a string"),
    (lambda c: c["checkpoint"].update(sha256=12), "card.checkpoint.sha256: expected a string"),
    (lambda c: c.update(format_version="2"), "card.format_version: expected an integer"),
    (lambda c: c.update(potentials=[]), "card.potentials: expected an object, got a list"),
    (lambda c: c["potentials"].update(latent_dim="3"), "card.potentials.latent_dim: expected an integer"),
    (lambda c: c["potentials"].update(bounded="yes"), "card.potentials.bounded: expected true or false"),
    (lambda c: c["classifier"].update(channels=10**6), "card.classifier.channels: value 1000000 is out of range"),
    (lambda c: c.update(step=-3), "card.step: value -3 is out of range"),
    (lambda c: c.update(history=[{"pde": "low"}]), "card.history[0].pde: expected a number, got a string"),
    (lambda c: c.update(history={"a": 1}), "card.history: expected a list"),
    (lambda c: c["optimizer"].update(state=[]), "card.optimizer.state: expected an object"),
])
def test_wrong_shapes_and_types_in_a_flows_card_name_the_field(flows_file, tmp_path, change, fragment):
    card = _card(flows_file)
    change(card)
    p = rewrite_meta(flows_file, tmp_path / "hostile.safetensors", CARD_KEY, json.dumps(card))
    refused(lambda: load_flows(p), FlowsFileError, p, fragment)


@pytest.mark.parametrize("change, fragment", [
    # 1024 potentials of width 65536 on 4096 latents would be terabytes: refused against the file's tensors.
    (lambda c: c["potentials"].update(n_potentials=1024, hidden=65536, latent_dim=3), "tensor potentials.wz has shape"),
    (lambda c: c["classifier"].update(width=65536), "tensor classifier.features.0.weight has shape"),
    (lambda c: c["config"].update(steps="many"), "steps must be an integer"),
    (lambda c: c["config"].update(eta=float("inf")), "eta must be a finite number"),
    (lambda c: c["config"].update(weights=[1, 2]), "weights must be a mapping"),
])
def test_flows_cards_claiming_what_the_tensors_do_not_hold_are_refused(flows_file, tmp_path, change, fragment):
    card = _card(flows_file)
    change(card)
    p = rewrite_meta(flows_file, tmp_path / "big.safetensors", CARD_KEY, json.dumps(card))
    refused(lambda: load_flows(p), FlowsFileError, p, fragment)


def test_a_pipe_given_as_a_flows_file(fifo):
    with pytest.raises(FlowsFileError, match="named pipe"):
        read_flows_card(fifo)


# --- sessions --------------------------------------------------------------------------------------------------

def _session(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "hostile.llab"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def _valid() -> dict:
    return {"format": "latentlab-session", "version": 1,
            "checkpoints": [{"id": "c0", "file": {"path": "/m.safetensors", "sha256": "a" * 64}, "latent": [0.5, 1]}],
            "bookmarks": [{"name": "b", "latent": [1, 2], "checkpoint": "c0"}], "active": "c0"}


@pytest.mark.parametrize("text, fragment", [
    (DEEP, "nests 50000 levels deep"),
    ('{"format": "latentlab-session", "version": 1, "extra": ' + "{\"a\":" * 40 + "1" + "}" * 40 + "}", "nests 41"),
    ("", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    ("[1, 2, 3]", "session: expected an object, got a list"),
    ('{"format": "latentlab-session", "version": true}', "'version' is missing or not an integer"),
    ('{"format": "latentlab-session", "version": 1, "checkpoints": {"id": 1}}', "checkpoints: expected a list"),
])
def test_hostile_session_text_is_one_session_error(tmp_path, text, fragment):
    p = _session(tmp_path, text)
    refused(lambda: load_session(p), SessionError, p, fragment)


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d["checkpoints"][0].update(latent=[0.5] * 70000), "checkpoints[0].latent: 70000 values"),
    (lambda d: d["checkpoints"][0].update(name="n" * 5000), "checkpoints[0].name: 5000 characters"),
    (lambda d: d["checkpoints"][0]["file"].update(size=-1), "checkpoints[0].file.size: expected a non-negative"),
    (lambda d: d["checkpoints"][0].update(view=[]), "checkpoints[0].view: expected an object, got a list"),
    (lambda d: d["bookmarks"][0].update(latent=[1, "2"]), "bookmarks[0].latent: expected a non-empty list"),
    (lambda d: d.update(layout={"window_state": "A" * (2 * 1024 * 1024)}), "layout.window_state: 2097152 characters"),
    (lambda d: d.update(layout={"geometry": "not base64!"}), "layout.geometry: not base64"),
    (lambda d: d.update(compare=["c0", "c0"]), "compare: a checkpoint is listed twice"),
])
def test_session_fields_of_the_wrong_shape_name_the_field(tmp_path, change, fragment):
    d = _valid()
    change(d)
    p = _session(tmp_path, json.dumps(d))
    refused(lambda: load_session(p), SessionError, p, fragment)


def test_a_pipe_a_device_or_a_folder_given_as_a_session(tmp_path, fifo):
    for bad, fragment in ((fifo, "is a named pipe (FIFO), not a session file"), (Path("/dev/zero"), "device"),
                          (tmp_path, "is a folder, not a session file"), (tmp_path / "none.llab", "no such file")):
        with pytest.raises(SessionError) as info:
            load_session(bad)
        assert fragment in str(info.value) and "\n" not in str(info.value)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
                           st.sampled_from(["format", "version", "checkpoints", "bookmarks", "directions", "flows",
                                            "compare", "layout", "extra", "active", "id", "file", "path", "sha256",
                                            "latent", "name", "view", "window_state", "size", "vector", "key", "x"]),
                           kids, max_size=5), max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH, st.booleans())
def test_any_json_structure_as_a_session_is_a_session_or_a_session_error(value, stamp):
    if stamp and isinstance(value, dict):  # reach past the format check into the field parsers
        value = {**value, "format": "latentlab-session", "version": 1}
    try:
        session = Session.loads(json.dumps(value))
    except SessionError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(session, Session)
    Session.loads(session.dumps())  # what loads also saves and loads again


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_bytes_as_a_session_are_a_session_error(blob):
    with pytest.raises(SessionError):
        Session.loads(b'{"format": "latentlab-session", "version": 1, ' + blob)


def test_the_recent_files_list_survives_a_hostile_file(tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from latentlab.ui.models import RecentFiles

    recent = RecentFiles()
    monkeypatch.setattr(recent, "path", tmp_path / "recent.json")
    for text in (DEEP, '{"a": 1}', "17", '["/a", 3, null, "/b"]', "\x00"):
        recent.path.write_text(text)
        got = recent.load()
        assert all(isinstance(p, Path) for p in got)
    assert recent.load() == []
    recent.path.write_text('["/a", 3, null, "/b"]')
    assert recent.load() == [Path("/a"), Path("/b")]


def test_file_errors_carry_the_path(tmp_path, fifo):
    with pytest.raises(FileError) as info:
        read_flows_card(fifo)
    assert info.value.path == fifo
