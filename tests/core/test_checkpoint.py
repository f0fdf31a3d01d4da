"""Opening checkpoints: every format, and a clear error for every way a file can be bad."""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

from latentlab.core.checkpoint import (
    ArchitectureMismatchError,
    CheckpointError,
    UntrustedCheckpointError,
    file_sha256,
    open_checkpoint,
    read_card,
    save_checkpoint,
)
from latentlab.core.model import Encodes, LatentModel, Quantized
from tests.helpers import tiny_checkpoint, tiny_model


def _same_decode(a, b, d):
    z = torch.randn(3, d, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return torch.allclose(a.decode(z), b.decode(z), atol=1e-6)


@pytest.mark.parametrize("arch", ["beta_vae", "qlae"])
def test_safetensors_round_trip_keeps_weights_and_card(tmp_path, arch):
    model = tiny_model(arch)
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path, None, training={"steps": 12, "dataset": "dsprites"})
    ck = open_checkpoint(path)
    assert ck.format == "safetensors"
    assert ck.card["training"]["steps"] == 12
    assert ck.card["architecture"] == model.architecture
    assert ck.info == model.info
    assert ck.sha256 == file_sha256(path) and len(ck.sha256) == 64
    assert isinstance(ck.model, LatentModel) and isinstance(ck.model, Encodes)
    assert isinstance(ck.model, Quantized) == (arch == "qlae")
    assert _same_decode(model, ck.model, model.info.latent_dim)
    assert read_card(path)["info"]["latent_dim"] == model.info.latent_dim


def test_saving_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.safetensors"
    tiny_checkpoint(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_missing_empty_and_folder_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        open_checkpoint(tmp_path / "nope.safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        open_checkpoint(empty)
    with pytest.raises(CheckpointError, match="folder"):
        open_checkpoint(tmp_path)


def test_truncated_safetensors_is_reported_as_corrupt(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        open_checkpoint(cut)
    assert "cut.safetensors" in str(err.value)


def test_garbage_bytes_are_not_a_known_format(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="not a checkpoint format"):
        open_checkpoint(path)


def test_corrupt_zip_is_reported(tmp_path):
    path = tmp_path / "broken.pt"
    torch.save({"w": torch.zeros(3)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # lose the zip directory
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        open_checkpoint(path, arch="beta_vae")


def test_invalid_card_json_is_reported(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "badcard.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"latentlab.card": "{not json"})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        open_checkpoint(path)


def test_card_that_lies_about_sizes_is_refused_before_building(tmp_path):
    """A hostile card must not make us allocate a huge network: sizes come from the tensors."""
    from safetensors.torch import save_file

    model = tiny_model()
    path = tmp_path / "liar.safetensors"
    card = {"architecture": "conv_vae", "hparams": {"latent_dim": 4, "hidden": 10**9}, "info": model.info.to_dict()}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"latentlab.card": json.dumps(card)})
    with pytest.raises(ArchitectureMismatchError, match="hidden"):
        open_checkpoint(path)


def test_nan_weights_are_refused(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.decoder.fc[0].weight[0, 0] = float("nan")
    path = save_checkpoint(model, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match="NaN"):
        open_checkpoint(path)


def test_plain_state_dict_needs_an_architecture_and_then_opens(tmp_path):
    model = tiny_model(latent_dim=5)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="--arch"):
        open_checkpoint(path)
    ck = open_checkpoint(path, arch="beta_vae")
    assert ck.format == "state_dict"
    assert ck.info.latent_dim == 5
    assert _same_decode(model, ck.model, 5)


def test_state_dict_nested_and_prefixed_like_lightning(tmp_path):
    model = tiny_model(latent_dim=3)
    path = tmp_path / "lit.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    ck = open_checkpoint(path, arch="vae")
    assert _same_decode(model, ck.model, 3)


def test_wrong_architecture_names_the_missing_tensors(tmp_path):
    path = tmp_path / "vae.pt"
    torch.save(tiny_model("beta_vae").state_dict(), path)
    with pytest.raises(ArchitectureMismatchError, match="qlae"):
        open_checkpoint(path, arch="qlae")
    with pytest.raises(CheckpointError, match="unknown architecture"):
        open_checkpoint(path, arch="not_a_net")


def test_wrong_shape_names_the_tensor(tmp_path):
    state = tiny_model(latent_dim=4).state_dict()
    state["decoder.fc.2.weight"] = torch.zeros(7, 16)  # should be (64*4*4... at this width) x hidden
    path = tmp_path / "shape.pt"
    torch.save(state, path)
    with pytest.raises(ArchitectureMismatchError, match=r"wrong shape for decoder\.fc\.2\.weight"):
        open_checkpoint(path, arch="beta_vae")


def test_card_architecture_disagreeing_with_arch_flag(tmp_path):
    path = tiny_checkpoint(tmp_path / "m.safetensors", arch="beta_vae")
    with pytest.raises(ArchitectureMismatchError, match="conv_vae"):
        open_checkpoint(path, arch="qlae")


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_that_needs_code_is_refused_with_file_and_reason(tmp_path, monkeypatch):
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2), "payload": Evil()}, path)
    ran = []
    monkeypatch.setattr(os, "system", lambda cmd: ran.append(cmd) or 0)
    with pytest.raises(UntrustedCheckpointError) as err:
        open_checkpoint(path, arch="beta_vae")
    msg = str(err.value)
    assert "evil.pt" in msg and "refused" in msg and "--trust" in msg
    assert ran == []  # nothing from the file ran


def test_trusting_a_pickle_runs_it_only_when_asked(tmp_path, monkeypatch):
    model = tiny_model(latent_dim=3)
    path = tmp_path / "full.pt"
    torch.save(model, path)  # a whole pickled module: needs code to restore
    with pytest.raises(UntrustedCheckpointError):
        open_checkpoint(path)
    ck = open_checkpoint(path, trust=True)
    assert ck.format == "pickle"
    assert _same_decode(model, ck.model, 3)


def test_legacy_non_zip_pickle_of_tensors_opens_safely(tmp_path):
    model = tiny_model(latent_dim=2)
    path = tmp_path / "legacy.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    ck = open_checkpoint(path, arch="beta_vae")
    assert ck.info.latent_dim == 2


def test_pickle_of_something_else_is_reported(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not model weights"):
        open_checkpoint(path, arch="beta_vae")


class _Scriptable(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.latent_dim = d
        self.lin = torch.nn.Linear(d, 64)
        self.enc = torch.nn.Linear(64, d)

    def forward(self, z):
        return self.decode(z)

    @torch.jit.export
    def decode(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)

    @torch.jit.export
    def encode(self, x):
        return self.enc(x.flatten(1))


def test_torchscript_needs_trust_and_then_exposes_decode_and_encode(tmp_path):
    scripted = torch.jit.script(_Scriptable(3))
    path = tmp_path / "ts.pt"
    scripted.save(str(path))
    with pytest.raises(UntrustedCheckpointError, match="TorchScript"):
        open_checkpoint(path)
    ck = open_checkpoint(path, trust=True)
    assert ck.format == "torchscript"
    assert ck.info.latent_dim == 3 and ck.info.image_shape == (1, 8, 8)
    assert isinstance(ck.model, Encodes)
    z = torch.zeros(2, 3)
    assert ck.model.decode(z).shape == (2, 1, 8, 8)
    assert ck.model.encode(torch.rand(2, 1, 8, 8)).mean.shape == (2, 3)


def test_torchscript_without_latent_size_is_explained(tmp_path):
    class NoDim(torch.nn.Module):
        def forward(self, z):
            return z

        @torch.jit.export
        def decode(self, z):
            return torch.sigmoid(z).view(-1, 1, 2, 2)

    path = tmp_path / "nodim.pt"
    torch.jit.script(NoDim()).save(str(path))
    with pytest.raises(CheckpointError, match="latent_dim"):
        open_checkpoint(path, trust=True)


def test_plugin_registered_by_entry_point_opens_its_format(tmp_path, tiny_plugin):
    path = tmp_path / "lin.tinymodel"
    weight = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, weight=weight)
    ck = open_checkpoint(path)
    assert ck.format == "plugin:tiny-linear"
    assert ck.info.latent_dim == 3
    img = ck.model.decode(torch.zeros(1, 3))
    assert img.shape == (1, 1, 8, 8) and torch.allclose(img, torch.full_like(img, 0.5))


def test_unreadable_file(tmp_path, monkeypatch):
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    # Simulated, because CI runs as root and root can read any file: the OS refuses the open.
    real_open = os.open

    def refusing_open(p, flags, *args):
        if str(p) == str(path):
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(CheckpointError, match="not readable"):
        open_checkpoint(path)


def test_sniffing_never_trusts_the_file_name(tmp_path):
    """A pickle renamed to .safetensors is still treated as a pickle (and refused if it carries code)."""
    path = tmp_path / "disguised.safetensors"
    with open(path, "wb") as fh:
        pickle.dump(Evil(), fh)
    with pytest.raises(CheckpointError):
        open_checkpoint(path)


def test_safetensors_header_claiming_more_than_the_file_holds(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CheckpointError):
        open_checkpoint(path)


def test_zip_that_is_not_torch(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a checkpoint format"):
        open_checkpoint(path)


def test_model_moves_between_devices(tmp_path):
    ck = open_checkpoint(tiny_checkpoint(tmp_path / "m.safetensors"), device="cpu")
    assert ck.model.device.type == "cpu"
    if torch.cuda.is_available():
        ck.model.to("cuda")
        assert ck.model.device.type == "cuda"
        ck.model.to("cpu")
    assert ck.model.decode(torch.zeros(1, 4)).device.type == "cpu"
