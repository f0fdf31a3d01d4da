"""Reading tensors out of pickles without running any code from them.

Third-party checkpoints often carry Python objects beside their weights (a Lightning ``AttributeDict`` of
hyper-parameters, an ``argparse.Namespace``, a whole model object, NVIDIA's source-embedding network
classes). ``torch.load(weights_only=True)`` rightly refuses those files; unpickling them normally would run
whatever the file names. This module does neither: its unpickler resolves only an allow-list of harmless
constructors (tensors, storages, dtypes, ``OrderedDict``, numpy arrays) and turns every other global into
an inert ``Record`` that merely remembers its name, arguments and state. Nothing else is ever imported or
called, so reading a hostile file can waste memory but cannot execute code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch


class Record:
    """What an unknown global became: its qualified name plus whatever the pickle handed it."""

    module = ""
    qualname = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Record:
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items, obj.list = args, kwargs, None, {}, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ kept the arguments; REDUCE calls both, NEWOBJ only __new__

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS on a dict subclass (EasyDict, AttributeDict)
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list.append(value)

    def extend(self, values: Any) -> None:
        self.list.extend(values)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"

    def as_dict(self) -> dict[str, Any]:
        """The record's mapping content: dict items, else a dict state, else keyword arguments."""
        if self.items:
            return dict(self.items)
        if isinstance(self.state, dict):
            return dict(self.state)
        return dict(self.kwargs)

    def __repr__(self) -> str:
        return f"<inert {self.name}>"

    def __reduce__(self):  # never let a record be pickled again as if it were the real thing
        raise TypeError("an inert record cannot be pickled")


def _storage_from_bytes(data: bytes) -> Any:
    # Plain pickle.dump of a tensor stores its storage as torch.save() bytes; those hold no code to run.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_from_type_v2(func, new_type, args, state):
    # Tensor subclasses are dropped: the plain tensor is all a loader needs.
    return func(*args)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles (torch.save's default) spell bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError("unexpected _codecs.encode call in a pickle")
    return text.encode("latin1")


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        return Record.__new__(Record, dtype, data)
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _np_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        return Record.__new__(Record, subtype, shape, dtype)
    return np.ndarray.__new__(np.ndarray, shape, dtype)


_TORCH_NAMES = {
    "_utils": ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
               "_rebuild_parameter_with_state"),
}
_BUILTINS = {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex, "bytearray": bytearray}
_STORAGES = {n for n in dir(torch) if n.endswith("Storage")}
_DTYPES = {n for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}


def _resolve(module: str, name: str) -> Any:
    """The real object for an allow-listed global, else None."""
    if module == "_codecs" and name == "encode":
        return _latin1_bytes
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "builtins" and name in _BUILTINS:
        return _BUILTINS[name]
    if module == "torch._utils" and name in _TORCH_NAMES["_utils"]:
        return getattr(torch._utils, name)
    if module == "torch._tensor" and name == "_rebuild_from_type_v2":
        return _rebuild_from_type_v2
    if module == "torch.storage" and name == "_load_from_bytes":
        return _storage_from_bytes
    if module == "torch" and (name in _STORAGES or name in _DTYPES or name in ("Size", "Tensor", "device")):
        return getattr(torch, name)
    if module in ("torch.storage", "torch") and name in ("UntypedStorage", "TypedStorage"):
        return getattr(torch, name)
    if module == "torch.nn.parameter" and name == "Parameter":
        return torch.nn.Parameter
    if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        if name == "_reconstruct":
            return _np_reconstruct
        if name == "scalar":
            return _np_scalar
    if module == "numpy" and name in ("ndarray", "dtype"):
        return getattr(np, name)
    if module.startswith("numpy") and name.endswith("DType") and module.endswith("dtypes"):
        import numpy.dtypes as npd

        return getattr(npd, name, None)
    return None


class InertUnpickler(pickle.Unpickler):
    """An unpickler that constructs data, never behaviour (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placeholders: dict[tuple[str, str], type[Record]] = {}

    def find_class(self, module: str, name: str) -> Any:
        real = _resolve(module, name)
        if real is not None:
            return real
        key = (module, name)
        if key not in self._placeholders:
            self._placeholders[key] = type(name.rsplit(".", 1)[-1], (Record,), {"module": module, "qualname": name})
        return self._placeholders[key]


# torch.load(pickle_module=...) wants a module-like object with Unpickler and load.
INERT_PICKLE = types.SimpleNamespace(
    __name__="latentlab_inert_pickle",
    Unpickler=InertUnpickler,
    load=lambda f, **kw: InertUnpickler(f, **kw).load(),
    UnpicklingError=pickle.UnpicklingError,
)


def inert_load(path: str | os.PathLike) -> Any:
    """Load a PyTorch file (zip or legacy) or a plain pickle, with every non-data object made inert."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(4)
    with open(p, "rb") as fh:
        if head.startswith(b"PK\x03\x04"):
            return torch.load(fh, map_location="cpu", weights_only=False, pickle_module=INERT_PICKLE)
        try:
            return torch.load(fh, map_location="cpu", weights_only=False, pickle_module=INERT_PICKLE)
        except RuntimeError as exc:
            if "magic number" not in str(exc).lower():
                raise
    # Not a torch.save() file: a plain pickle.dump (NVIDIA's network pickles are these).
    with open(p, "rb") as fh:
        return InertUnpickler(fh).load()


# --- walking what came out ---------------------------------------------------------------------------------

def find_state_dict(obj: Any, keys: tuple[str, ...] = ("state_dict", "model_state_dict", "model", "net", "params",
                                                       "model_states", "g_ema")) -> dict[str, torch.Tensor] | None:
    """The first nested dict whose values are all tensors (a state_dict), looked up under common keys."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    if isinstance(obj, dict):
        for k in keys:
            if k in obj:
                found = find_state_dict(obj[k], keys)
                if found is not None:
                    return found
    return None


def plain(obj: Any, depth: int = 0) -> Any:
    """Records and containers as JSON-friendly values (for model cards and notes); tensors as shapes."""
    if depth > 6:
        return "..."
    if isinstance(obj, Record):
        return {k: plain(v, depth + 1) for k, v in obj.as_dict().items() if isinstance(k, str)}
    if isinstance(obj, dict):
        return {str(k): plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, depth + 1) for v in obj]
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}"
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)[:80]
