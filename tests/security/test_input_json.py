"""The bounded JSON reader every file goes through: deep, huge, malformed or odd JSON is one typed error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlab.core.errors import BadInput, FileError
from latentlab.core.safe_json import JSONFieldError, _nesting, expect, field, loads_bounded

JSON_LEAVES = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=40)


def depth(v) -> int:
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    return 0


@pytest.mark.parametrize("text", ["[" * 100_000, "{\"a\":" * 50_000 + "1" + "}" * 50_000, "[" * 33 + "]" * 33])
def test_deep_nesting_is_refused_before_parsing(text):
    # 100,000 levels make json.loads raise RecursionError; here it never gets that far.
    with pytest.raises(BadInput, match="nests .* levels deep; at most 32"):
        loads_bounded(text, "the header")


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"name": "[[[[{{{{" * 100 + '\\"[[', "x": ["]]]]"]})
    assert loads_bounded(text)["x"] == ["]]]]"]


def test_size_limit_is_checked_on_text_and_bytes():
    for blob in ("[" + "1," * 600 + "1]", ("[" + "1," * 600 + "1]").encode()):
        with pytest.raises(BadInput, match="too large"):
            loads_bounded(blob, "a card", max_bytes=1000)


@pytest.mark.parametrize("text, reason", [
    ("", "is empty"), ("   \n", "is empty"), (b"\xff\xfe{}", "not UTF-8"), ("{\"a\": 1,}", "not valid JSON"),
    ("1" * 5000, "not usable JSON"), (b"[1, 2", "not valid JSON"),
])
def test_malformed_json_is_one_typed_error(text, reason):
    with pytest.raises(BadInput, match=reason) as info:
        loads_bounded(text, "x")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", "{\"v\": -Infinity}", "[1e999]"])
def test_non_finite_numbers_are_refused_when_asked(text):
    loads_bounded(text)  # JSON as Python writes it: accepted by default
    with pytest.raises(BadInput, match="not usable JSON"):
        loads_bounded(text, allow_nan=False)


def test_container_count_is_bounded():
    with pytest.raises(BadInput, match="holds 2001 arrays and objects"):
        loads_bounded("[" + ",".join(["[]"] * 2000) + "]", max_containers=1000)


def test_errors_name_the_file_or_use_the_callers_type(tmp_path):
    class MyError(BadInput):
        pass

    with pytest.raises(FileError) as info:
        loads_bounded("[" * 99, "its card", path=tmp_path / "f.safetensors")
    assert info.value.path == tmp_path / "f.safetensors" and "f.safetensors: its card nests 99" in str(info.value)
    with pytest.raises(MyError):
        loads_bounded("{", "x", error=MyError)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_the_nesting_count_is_exact_for_any_json(value):
    text = json.dumps(value)
    assert _nesting(text.encode())[0] == depth(value)
    if depth(value) <= 32:
        assert loads_bounded(text) == json.loads(text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.lists(st.sampled_from(['[', ']', '{', '}', '"', '\\', ':', ',', '1', 'a', 'null']), max_size=300)
                 .map("".join)))
def test_garbage_only_ever_raises_bad_input(blob):
    try:
        loads_bounded(blob, "garbage", max_depth=8)
    except BadInput as exc:
        assert "\n" not in str(exc) and "Traceback" not in str(exc)


def test_fields_are_type_checked_by_name():
    card = {"latent_dim": "10", "hidden": [64, True], "flag": 1, "name": "x" * 20, "scale": float("nan")}
    cases = [
        (lambda: field(card, "latent_dim", "int", "card"), "card.latent_dim: expected an integer, got a string"),
        (lambda: expect(card["hidden"][1], "int", "card.hidden[1]"), "card.hidden[1]: expected an integer, got a boolean"),
        (lambda: field(card, "flag", "bool", "card"), "card.flag: expected true or false, got an integer"),
        (lambda: field(card, "name", "string", "card", hi=10), "card.name: length 20 is out of range"),
        (lambda: field(card, "scale", "number", "card"), "card.scale: expected a finite number, got a non-finite"),
        (lambda: field(card, "missing", "int", "card"), "card: missing 'missing'"),
        (lambda: field({"n": 10**9}, "n", "int", "card", lo=1, hi=4096), "card.n: value 1000000000 is out of range"),
    ]
    for call, message in cases:
        with pytest.raises(JSONFieldError, match=message.replace("[", r"\[").replace("]", r"\]")):
            call()
    assert field(card, "missing", "int", "card", default=3) == 3
