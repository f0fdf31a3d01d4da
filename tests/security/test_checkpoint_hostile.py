"""Hostile checkpoint files: nothing in them runs, nothing they claim is allocated, every one gets a clear error."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from latentlab.cli import main as cli_main
from latentlab.core.checkpoints import (
    CheckpointError,
    Trust,
    TrustMismatch,
    UntrustedFile,
    open_checkpoint,
    save_checkpoint,
)
from latentlab.core.checkpoints.pickle_vm import PickleRefused
from latentlab.core.checkpoints.torch_files import read_torch_bytes
from latentlab.core.errors import LatentlabError
from tests.helpers import tiny_checkpoint, tiny_model
from tests.security import hostile_files as hf

CODE_FILES = {
    "torchscript.pt": hf.torchscript_archive,
    "reduce-zip.pt": hf.reduce_pickle_zip,
    "reduce-legacy.pt": hf.reduce_pickle_legacy,
    "reduce-plain.pkl": hf.reduce_pickle_plain,
    "network-snapshot.pkl": hf.nvidia_like_pickle,
    "objects.npy": hf.object_npy,
}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corpus_payloads_are_real(tmp_path):
    """The ordinary loaders do run every payload: the marker tests below are not vacuous."""
    loaders = {
        "torchscript.pt": lambda p: torch.jit.load(str(p)),
        "reduce-zip.pt": lambda p: torch.load(p, weights_only=False),
        "reduce-legacy.pt": lambda p: torch.load(p, weights_only=False),
        "reduce-plain.pkl": lambda p: pickle.loads(p.read_bytes()),
        "network-snapshot.pkl": lambda p: pickle.loads(p.read_bytes()),
        "objects.npy": lambda p: np.load(p, allow_pickle=True),
    }
    for name, build in CODE_FILES.items():
        marker = tmp_path / f"{name}.marker"
        path = build(tmp_path / name, marker)
        loaders[name](path)
        assert marker.exists(), name


@pytest.mark.parametrize("name", sorted(CODE_FILES))
def test_opening_without_trust_runs_nothing(tmp_path, name):
    marker = tmp_path / "MARKER"
    path = CODE_FILES[name](tmp_path / name, marker)
    before = _sha(path)
    for arch in (None, "beta_vae"):
        with pytest.raises(CheckpointError) as err:
            open_checkpoint(path, arch=arch)
        assert str(path.name) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    assert _sha(path) == before


@pytest.mark.parametrize("name", ["torchscript.pt", "reduce-zip.pt", "reduce-legacy.pt"])
@pytest.mark.parametrize("command", [["info"], ["metrics", "--dataset", "dsprites"], ["bench"],
                                     ["export", "--kind", "traversal", "--out", "OUT.gif"],
                                     ["directions", "--method", "pca", "--out", "OUT.safetensors"],
                                     ["sweep"], ["convert", "--out", "OUT.safetensors"]])
def test_every_command_refuses_code_without_running_it(tmp_path, capsys, name, command):
    marker = tmp_path / "MARKER"
    path = CODE_FILES[name](tmp_path / name, marker)
    argv = [command[0], str(path), *[a.replace("OUT", str(tmp_path / "out")) for a in command[1:]]]
    status = cli_main(argv)
    err = capsys.readouterr().err
    assert not marker.exists()
    assert "Traceback" not in err
    if command[0] != "sweep":  # sweep reports a failing checkpoint and goes on
        assert status != 0 and name in err


def test_torchscript_refusal_names_the_bytes_and_trust_is_bound_to_them(tmp_path):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    with pytest.raises(UntrustedFile) as err:
        open_checkpoint(path)
    refusal = err.value
    assert refusal.sha256 == _sha(path) and refusal.kind == "torchscript"
    assert not marker.exists()
    ck = open_checkpoint(path, trust=Trust.for_refusal(refusal))  # the user said yes to exactly these bytes
    assert marker.exists() and ck.sha256 == refusal.sha256 and ck.format == "torchscript"


def test_trust_for_other_bytes_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    trusted = _sha(path)
    path.write_bytes(path.read_bytes() + b"\0")  # changed after the dialog
    with pytest.raises(TrustMismatch, match="changed since you trusted it"):
        open_checkpoint(path, trust=trusted)
    assert not marker.exists()


def test_a_file_replaced_by_a_link_after_the_dialog_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    with pytest.raises(UntrustedFile) as err:
        open_checkpoint(path)
    twin = tmp_path / "twin.pt"
    twin.write_bytes(path.read_bytes())  # same bytes, another file
    path.unlink()
    path.symlink_to(twin)
    with pytest.raises(TrustMismatch, match="replaced"):
        open_checkpoint(path, trust=Trust.for_refusal(err.value))
    assert not marker.exists()


def test_cli_refusal_prints_the_digest_that_trusts_exactly_this_file(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    path = hf.torchscript_archive(tmp_path / "prog.pt", marker)
    assert cli_main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"--trust-sha256 {_sha(path)}" in err and not marker.exists()
    assert cli_main(["info", str(path), "--trust-sha256", "0" * 64]) == 1
    assert "changed since you trusted it" in capsys.readouterr().err and not marker.exists()
    assert cli_main(["info", str(path), "--trust-sha256", _sha(path)]) == 0
    assert marker.exists()


def test_plugins_are_probed_with_the_header_only_and_path_probes_only_after_trust(tmp_path, monkeypatch):
    from latentlab.core.checkpoints import plugins as plugin_module

    calls = []

    class PathProber:
        name = "path-prober"

        def can_open(self, path):
            calls.append(("can_open", str(path)))
            return False

    class HeaderProber:
        name = "header-prober"

        def sniff(self, head, name):
            calls.append(("sniff", len(head), name))
            return False

    monkeypatch.setattr(plugin_module, "entry_point_plugins", lambda: [PathProber(), HeaderProber()])
    marker = tmp_path / "MARKER"
    path = hf.reduce_pickle_zip(tmp_path / "r.pt", marker)
    with pytest.raises(CheckpointError):
        open_checkpoint(path)
    assert calls == [("sniff", min(path.stat().st_size, plugin_module.SNIFF_BYTES), "r.pt")]
    calls.clear()
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)  # no code in it: trusting it is harmless
    with pytest.raises(CheckpointError):
        open_checkpoint(plain, trust=True)
    probed = [c[1] for c in calls if c[0] == "can_open"]
    # A trusted file is probed by path too, through a private copy of exactly the bytes that were hashed.
    assert len(probed) == 1 and probed[0] != str(plain) and probed[0].endswith("plain.pt")


@pytest.mark.parametrize("data, words", [
    (hf.bytearray_bomb(), "bytearray"),
    (hf.huge_string_pickle(), "past the end"),
    (hf.deep_list_pickle(), "nested more than"),
    (hf.deep_memo_pickle(), "nested more than"),
    (b"\x80\x02\x8b" + (1 << 30).to_bytes(4, "little") + b"\x00" * 64 + b".", "integer of"),
    (b"\x80\x02]q\x00" + b"h\x00" * 10 + b"\x82\x01.", "extension registry"),
])
def test_bounded_reader_refuses_bombs_with_a_reason(data, words):
    with pytest.raises(PickleRefused, match=words):
        read_torch_bytes(data)


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    from latentlab.core.checkpoints import open_checkpoint
    from latentlab.core.errors import LatentlabError
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        open_checkpoint(sys.argv[1], arch="beta_vae")
        print("OPENED")
    except LatentlabError as exc:
        print("REFUSED", exc)
    print("GROWTH_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
""")


@pytest.mark.slow
@pytest.mark.parametrize("build", ["bytearray", "storage-zip", "storage-legacy", "zip-bomb", "huge-string"])
def test_bombs_allocate_nothing_beyond_a_small_budget(tmp_path, build):
    path = tmp_path / "bomb.pt"
    if build == "bytearray":
        path.write_bytes(hf.bytearray_bomb())
    elif build == "huge-string":
        path.write_bytes(hf.huge_string_pickle())
    elif build == "storage-zip":
        hf.storage_bomb_zip(path)
    elif build == "storage-legacy":
        hf.legacy_storage_bomb(path)
    else:
        hf.zip_bomb(path)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(path)], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert "Traceback" not in out.stderr, out.stderr
    assert "REFUSED" in out.stdout, out.stdout
    growth = int(out.stdout.split("GROWTH_MB")[1])
    assert growth < 200, f"{build}: the process grew by {growth} MB"


def test_fifo_given_as_a_checkpoint_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        open_checkpoint(fifo)


def test_device_file_given_as_a_checkpoint_is_refused():
    with pytest.raises(CheckpointError, match="not a regular file"):
        open_checkpoint("/dev/zero")


def test_integer_weights_in_a_float_layer_are_refused(tmp_path):
    from safetensors.torch import save_file

    from latentlab.core.checkpoints.card import CARD_KEY, make_card

    model = tiny_model()
    state = {k: v.to(torch.int32) if k.endswith("weight") else v for k, v in model.state_dict().items()}
    path = tmp_path / "ints.safetensors"
    save_file(state, str(path), metadata={CARD_KEY: json.dumps(make_card(model))})
    with pytest.raises(CheckpointError, match="int32 numbers where .* needs floating-point weights"):
        open_checkpoint(path)


@pytest.mark.parametrize("info_patch, words", [
    ({"image_shape": [1, 100000, 100000]}, "image_shape"),
    ({"image_shape": [1, 128, 128]}, "image_shape"),  # sane but not what the network makes
    ({"latent_dim": 10**12}, "latent_dim"),
    ({"latent_dim": "4"}, "latent_dim"),
    ({"name": {"a": 1}}, "info.name"),
    ({"latent_names": "abcd"}, "latent names"),
    ({"factor_names": [1, 2]}, "factor names"),
])
def test_card_fields_of_the_wrong_type_or_size_are_refused(tmp_path, info_patch, words):
    model = tiny_model()
    from latentlab.core.checkpoints.card import make_card

    card = json.loads(json.dumps(make_card(model)))
    card["info"].update(info_patch)
    path = save_checkpoint(model, tmp_path / "m.safetensors", card)
    with pytest.raises(CheckpointError, match=words):
        open_checkpoint(path)


def test_deeply_nested_card_is_refused(tmp_path):
    from safetensors.torch import save_file

    from latentlab.core.checkpoints.card import CARD_KEY

    path = tmp_path / "deep.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={CARD_KEY: "[" * 100000 + "]" * 100000})
    with pytest.raises(CheckpointError, match="levels deep"):
        open_checkpoint(path)


def test_card_setting_that_shapes_cannot_tell_must_be_a_plain_value(tmp_path):
    model = tiny_model()
    from latentlab.core.checkpoints.card import make_card

    card = make_card(model)
    card["hparams"]["likelihood"] = {"nested": ["x" * 100]}
    path = save_checkpoint(model, tmp_path / "m.safetensors", card)
    with pytest.raises(CheckpointError, match="likelihood"):
        open_checkpoint(path)


def test_model_names_with_terminal_escapes_are_printed_escaped(tmp_path, capsys):
    model = tiny_model()
    from latentlab.core.checkpoints.card import make_card

    card = make_card(model, note="\x1b[2J\x1b[31mowned\nfile: forged")
    path = save_checkpoint(model, tmp_path / "m.safetensors", card)
    assert cli_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert "\nfile: forged" not in out


def test_state_dict_in_a_legacy_or_zip_torch_file_opens_without_trust(tmp_path):
    model = tiny_model(latent_dim=3)
    for legacy in (False, True):
        path = tmp_path / f"sd-{legacy}.pt"
        torch.save({"state_dict": model.state_dict(), "epoch": 3}, path, _use_new_zipfile_serialization=not legacy)
        ck = open_checkpoint(path, arch="beta_vae")
        z = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            assert torch.equal(ck.model.decode(z), model.decode(z))


def test_every_error_of_a_garbled_file_is_typed(tmp_path):
    """Flip, cut and splice the bytes of real files: only latentlab's own errors ever come out."""
    rng = np.random.default_rng(0)
    sources = [tiny_checkpoint(tmp_path / "a.safetensors")]
    buf = io.BytesIO()
    torch.save(tiny_model().state_dict(), buf)
    (tmp_path / "b.pt").write_bytes(buf.getvalue())
    sources.append(tmp_path / "b.pt")
    buf = io.BytesIO()
    torch.save(tiny_model().state_dict(), buf, _use_new_zipfile_serialization=False)
    (tmp_path / "c.pt").write_bytes(buf.getvalue())
    sources.append(tmp_path / "c.pt")
    for src in sources:
        data = bytearray(src.read_bytes())
        for trial in range(40):
            mutated = bytearray(data)
            kind = trial % 3
            if kind == 0:
                for at in rng.integers(0, len(mutated), 8):
                    mutated[at] = int(rng.integers(0, 256))
            elif kind == 1:
                mutated = mutated[: int(rng.integers(1, len(mutated)))]
            else:
                at = int(rng.integers(0, len(mutated)))
                mutated[at:at] = bytes(rng.integers(0, 256, 64, dtype=np.uint8))
            path = tmp_path / f"m{trial}{src.suffix}"
            path.write_bytes(bytes(mutated))
            try:
                open_checkpoint(path, arch="beta_vae")
            except LatentlabError:
                pass
