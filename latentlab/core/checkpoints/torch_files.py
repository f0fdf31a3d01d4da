"""PyTorch files read from their bytes with the inert pickle interpreter: tensors come back, code never runs.

Three containers hold pickles with tensors:
- ``torch.save`` zip archives: ``<prefix>/data.pkl`` names each storage by a persistent id whose bytes are
  the entry ``<prefix>/data/<key>`` (stored uncompressed);
- the legacy ``torch.save`` stream (``_use_new_zipfile_serialization=False``): four pickles (magic number,
  protocol, system info, the object), a pickled list of storage keys, then each storage as an int64 element
  count followed by its bytes;
- plain ``pickle.dump`` files (NVIDIA's network pickles): each storage inlined as a legacy stream passed to
  ``torch.storage._load_from_bytes``.

TorchScript archives are zip files too; they are recognised by their entries (``constants.pkl``, ``code/``)
and never read here — only ``torch.jit.load`` can make sense of them, and that runs their code.

Every storage is checked against the bytes that hold it before memory is taken for it, and every tensor
view against its storage, so the tensors of one load never need more memory than the file itself.
"""

from __future__ import annotations

import collections
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from latentlab.core.checkpoints import pickle_vm
from latentlab.core.checkpoints.pickle_vm import DEFAULT_LIMITS, Limits, PickleRefused, Record, record_type, safe

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_PICKLE_ENTRY = 64 * 1024 * 1024  # data.pkl itself: tensors live in other entries, so real ones are small
MAX_ZIP_ENTRIES = 1_000_000
MAX_DIMS = 16

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_DTYPES = {n: getattr(torch, n) for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}
_NP_KINDS = set("biufc")


@dataclass(frozen=True)
class StorageType:
    """What ``torch.FloatStorage`` (and friends) became: only its element type matters."""

    dtype: torch.dtype


@dataclass
class Storage:
    """One storage's elements as a flat tensor (filled after the object pickle, for the legacy format)."""

    flat: torch.Tensor

    @property
    def dtype(self) -> torch.dtype:
        return self.flat.dtype


@dataclass
class TorchContent:
    """What came out of a file: the object, the container, and the globals it named that we left inert."""

    obj: Any
    container: str  # zip | legacy | pickle
    foreign: list[str] = field(default_factory=list)  # globals a normal unpickler would import and call

    @property
    def carries_code(self) -> bool:
        return bool(self.foreign)


class _Budget:
    """Bytes of tensor data one load may still allocate (never more than the file holds)."""

    def __init__(self, total: int):
        self.left = total

    def take(self, n: int, what: str) -> None:
        if n < 0 or n > self.left:
            raise PickleRefused(f"{what} claims {n:,} bytes of tensor data, more than the file holds")
        self.left -= n


# --- the allow-listed constructors ---------------------------------------------------------------------------

def _ints(seq: Any, what: str) -> tuple[int, ...]:
    if not isinstance(seq, (tuple, list, torch.Size)) or len(seq) > MAX_DIMS:
        raise PickleRefused(f"{what} is not a short sequence of integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 48 for v in seq):
        raise PickleRefused(f"{what} holds a negative, huge or non-integer value")
    return tuple(seq)


def _view(storage: Any, offset: Any, size: Any, stride: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    if not isinstance(storage, Storage):
        raise PickleRefused(f"a tensor is built on a {type(storage).__name__}, not on stored data")
    flat = storage.flat
    if dtype is not None and dtype != flat.dtype:
        if flat.dtype != torch.uint8 or dtype not in _DTYPES.values():
            raise PickleRefused("a tensor reinterprets a typed storage")
        width = torch.empty((), dtype=dtype).element_size()
        if flat.numel() % width:
            raise PickleRefused("an untyped storage does not hold whole elements of its tensor's type")
        flat = flat.view(dtype)
    size_t, stride_t = _ints(size, "a tensor size"), _ints(stride, "a tensor stride")
    (off,) = _ints((offset,), "a tensor offset")
    if len(size_t) != len(stride_t):
        raise PickleRefused("a tensor's size and stride differ in length")
    numel = int(np.prod(size_t, dtype=np.float64)) if size_t else 1
    if numel:
        last = off + sum((s - 1) * st for s, st in zip(size_t, stride_t, strict=True))
        if last >= flat.numel() or numel > max(flat.numel(), 1):
            raise PickleRefused(f"a tensor of size {size_t} reaches beyond its storage of {flat.numel()} elements")
    return flat.as_strided(size_t, stride_t, off)


@safe
def _rebuild_tensor(storage, storage_offset, size, stride):
    return _view(storage, storage_offset, size, stride)


@safe
def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _view(storage, storage_offset, size, stride)


@safe
def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if not isinstance(dtype, torch.dtype):
        raise PickleRefused("a tensor's element type is not a torch dtype")
    return _view(storage, storage_offset, size, stride, dtype)


@safe
def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise PickleRefused("a parameter without tensor data")
    return data


@safe
def _rebuild_from_type_v2(func, new_type, args, state):
    # Tensor subclasses (nn.Parameter and user types) come back as the plain tensor: all a loader needs.
    if not getattr(func, "__latentlab_safe__", False) or not isinstance(args, tuple):
        raise PickleRefused("a tensor subclass is rebuilt by something other than a tensor constructor")
    return func(*args)


@safe
def _from_numpy(data, dtype=None, device=None, requires_grad=False):
    if not isinstance(data, np.ndarray):
        raise PickleRefused("a tensor from numpy data that is not an array")
    return torch.from_numpy(np.array(data))


@safe
def _size(seq=()):
    return torch.Size(_ints(seq, "a torch.Size"))


@safe
def _device(spec="cpu", index=None):
    if not isinstance(spec, str) or len(spec) > 16:
        raise PickleRefused("a device that is not a short name")
    return spec if index is None else f"{spec}:{int(index)}"


@safe
def _ordered_dict(items=()):
    out: collections.OrderedDict = collections.OrderedDict()
    for pair in items if isinstance(items, (list, tuple)) else ():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise PickleRefused("an OrderedDict item that is not a pair")
        out[pair[0]] = pair[1]
    return out


@safe
def _set(items=()):
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise PickleRefused("a set built from something other than a list")
    return set(items)


@safe
def _frozenset(items=()):
    return frozenset(_set(items))


@safe
def _slice(*args):
    if len(args) > 3 or not all(a is None or isinstance(a, int) for a in args):
        raise PickleRefused("a slice of non-integers")
    return slice(*args)


@safe
def _complex(real=0.0, imag=0.0):
    if not all(isinstance(v, (int, float)) for v in (real, imag)):
        raise PickleRefused("a complex number of non-numbers")
    return complex(real, imag)


@safe
def _bytearray(data=b"", encoding=None):
    # Only from bytes the pickle holds: bytearray(2**31) would turn a few bytes into gigabytes.
    if isinstance(data, (bytes, bytearray)) and encoding is None:
        return bytearray(data)
    if isinstance(data, str) and isinstance(encoding, str) and encoding.replace("-", "").lower() == "latin1":
        return bytearray(data.encode("latin1"))
    raise PickleRefused("bytearray(...) with a size or an unknown encoding (only literal bytes are allowed)")


@safe
def _codecs_encode(text, encoding="utf-8", errors="strict"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding.replace("-", "").lower() != "latin1":
        raise PickleRefused("an unexpected _codecs.encode call")
    return text.encode("latin1")


def _np_dtype_checked(spec: Any) -> np.dtype:
    if not isinstance(spec, str) or len(spec) > 8:
        raise PickleRefused("a numpy dtype that is not a short type code")
    dt = np.dtype(spec)
    if dt.kind not in _NP_KINDS or dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise PickleRefused(f"numpy dtype {spec!r} is refused (only plain numeric types are read)")
    return dt


class _NpDtype:
    """``numpy.dtype('f4', ...)`` then BUILD with its byte order: a plain numeric dtype or a refusal."""

    def __init__(self, spec: Any):
        self.dtype = _np_dtype_checked(spec)

    def __latentlab_build__(self, state: Any) -> np.dtype:
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "="):
            if len(state) > 3 and state[3] is not None:
                raise PickleRefused("structured numpy dtypes are refused")
            if state[1] in ("<", ">"):
                return self.dtype.newbyteorder(state[1])
        return self.dtype


class _NpArray:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` then BUILD with (version, shape, dtype, fortran, raw)."""

    def __latentlab_build__(self, state: Any) -> np.ndarray:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise PickleRefused("numpy array state of an unknown layout")
        _, shape, dtype, fortran, raw = state if len(state) == 5 else (1, *state)
        dt = _plain_np_dtype(dtype)
        if dt is None:
            raise PickleRefused("a numpy array of an object or unknown dtype is refused (unpickling it could run code)")
        if isinstance(raw, str):
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise PickleRefused("a numpy object array is refused (unpickling its items could run code)")
        shape_t = _ints(shape, "a numpy shape")
        count = int(np.prod(shape_t, dtype=np.float64)) if shape_t else 1
        if count * dt.itemsize != len(raw):
            raise PickleRefused(f"a numpy array of shape {shape_t} does not match its {len(raw)} bytes")
        return np.frombuffer(bytes(raw), dtype=dt).reshape(shape_t, order="F" if fortran else "C").copy()


def _plain_np_dtype(value: Any) -> np.dtype | None:
    if isinstance(value, _NpDtype):
        return value.dtype
    if isinstance(value, np.dtype) and value.kind in _NP_KINDS and value.fields is None and not value.hasobject:
        return value
    return None


@safe
def _np_reconstruct(subtype=None, shape=(0,), dtype=b"b"):
    return _NpArray()


@safe
def _np_dtype(spec="f8", align=False, copy=True):
    return _NpDtype(spec)


@safe
def _np_scalar(dtype, data=None):
    dt = _plain_np_dtype(dtype)
    if dt is None or not isinstance(data, (bytes, str)):
        raise PickleRefused("a numpy scalar of an object or unknown dtype is refused")
    raw = data.encode("latin1") if isinstance(data, str) else data
    if len(raw) != dt.itemsize:
        raise PickleRefused("a numpy scalar whose bytes do not match its dtype")
    return np.frombuffer(raw, dtype=dt, count=1)[0]


@safe
def _copyreg_reconstructor(cls, base, state):
    if isinstance(cls, type) and issubclass(cls, Record):
        rec = cls(())
        rec.state = state
        return rec
    raise PickleRefused("copyreg._reconstructor of a known type")


_BUILTINS = {"set": _set, "frozenset": _frozenset, "slice": _slice, "complex": _complex, "bytearray": _bytearray}
_TORCH_UTILS = {"_rebuild_tensor": _rebuild_tensor, "_rebuild_tensor_v2": _rebuild_tensor_v2,
                "_rebuild_tensor_v3": _rebuild_tensor_v3, "_rebuild_parameter": _rebuild_parameter,
                "_rebuild_parameter_with_state": _rebuild_parameter,
                "_rebuild_device_tensor_from_numpy": _from_numpy}


class _Reader:
    """One load's resolver and persistent-id loader, sharing a byte budget with nested storages."""

    def __init__(self, budget: _Budget, limits: Limits, what: str):
        self.budget = budget
        self.limits = limits
        self.what = what
        self.records: dict[tuple[str, str], type[Record]] = {}
        self.foreign: list[str] = []
        self._load_from_bytes = safe(lambda data: self.load_from_bytes(data))

    def resolve(self, module: str, name: str) -> Any:
        found = self._known(module, name)
        if found is not None:
            return found
        full = f"{module}.{name}"
        if full not in self.foreign:
            self.foreign.append(full)
        return record_type(module, name, self.records)

    def _known(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return _ordered_dict
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _codecs_encode
        if module == "copyreg" and name == "_reconstructor":
            return _copyreg_reconstructor
        if module == "torch._utils" and name in _TORCH_UTILS:
            return _TORCH_UTILS[name]
        if module in ("torch._tensor", "torch.tensor") and name == "_rebuild_from_type_v2":
            return _rebuild_from_type_v2
        if module == "torch.storage" and name == "_load_from_bytes":
            return self._load_from_bytes
        if module in ("torch", "torch.cuda", "torch.storage") and name in _STORAGE_DTYPES:
            return StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if module == "torch" and name == "Size":
            return _size
        if module == "torch" and name == "device":
            return _device
        if module == "torch.nn.parameter" and name == "Parameter":
            return safe(lambda data=None, requires_grad=True: _rebuild_parameter(data))
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return {"_reconstruct": _np_reconstruct, "scalar": _np_scalar}.get(name)
        if module == "numpy" and name == "dtype":
            return _np_dtype
        if module == "numpy" and name == "ndarray":
            return np.ndarray  # only ever an argument of _reconstruct, never called
        return None

    # persistent ids -------------------------------------------------------------------------------------------

    def new_storage(self, storage_type: Any, numel: Any) -> Storage:
        if not isinstance(storage_type, StorageType):
            raise PickleRefused(f"{self.what}: a storage of an unsupported type ({storage_type!r:.60})")
        (n,) = _ints((numel,), "a storage size")
        width = torch.empty((), dtype=storage_type.dtype).element_size()
        self.budget.take(n * width, "a storage")
        return Storage(torch.empty(n, dtype=storage_type.dtype))

    def load_from_bytes(self, data: Any) -> Any:
        if not isinstance(data, (bytes, bytearray)):
            raise PickleRefused("torch.storage._load_from_bytes without bytes")
        # The nested stream's storages are inside these bytes, which the budget already counted once.
        return read_legacy(bytes(data), self.limits, what=self.what, budget=_Budget(len(data)), parent=self)


# --- containers ------------------------------------------------------------------------------------------------

def _zip_names(data: bytes) -> tuple[zipfile.ZipFile, list[str]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # zipfile raises many types for a broken directory
        raise PickleRefused(f"corrupt or truncated zip archive ({type(exc).__name__})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise PickleRefused(f"a zip archive with {len(infos):,} entries")
    return zf, [i.filename for i in infos]


def is_torchscript_names(names: list[str]) -> bool:
    """TorchScript archives hold constants.pkl and the program's code/ folder (torch.save archives never do)."""
    return any(n.endswith("constants.pkl") or "/code/" in n or n.startswith("code/") for n in names)


def zip_kind(data: bytes) -> str:
    """'torchscript', 'torch-zip' (a torch.save archive), 'zip' (another archive) or 'corrupt-zip'."""
    try:
        _, names = _zip_names(data)
    except PickleRefused:
        return "corrupt-zip"
    if is_torchscript_names(names):
        return "torchscript"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch-zip"
    return "zip"


def _read_entry(zf: zipfile.ZipFile, name: str, limit: int, stored_only: bool) -> bytes:
    info = zf.getinfo(name)
    if stored_only and info.compress_type != zipfile.ZIP_STORED:
        raise PickleRefused(f"zip entry {name} is compressed; torch.save stores tensor data uncompressed")
    if info.file_size > limit:
        raise PickleRefused(f"zip entry {name} claims {info.file_size:,} bytes")
    try:
        with zf.open(info) as fh:
            out = fh.read(limit + 1)
    except Exception as exc:
        raise PickleRefused(f"zip entry {name} cannot be read ({type(exc).__name__}: {exc})") from None
    if len(out) > limit:
        raise PickleRefused(f"zip entry {name} decompresses beyond {limit:,} bytes")
    return out


def read_zip(data: bytes, limits: Limits = DEFAULT_LIMITS, what: str = "archive") -> TorchContent:
    """A ``torch.save`` zip archive: the object of its data.pkl with every tensor read from its entry."""
    zf, names = _zip_names(data)
    if is_torchscript_names(names):
        raise PickleRefused(f"{what} is a TorchScript program, not a torch.save archive")
    pkls = sorted((n for n in names if n == "data.pkl" or n.endswith("/data.pkl")), key=len)
    if not pkls:
        raise PickleRefused(f"{what} is a zip archive without data.pkl: not a PyTorch file")
    prefix = pkls[0][: -len("data.pkl")]
    big = prefix + "byteorder" in names and _read_entry(zf, prefix + "byteorder", 16, False).strip() == b"big"
    reader = _Reader(_Budget(len(data)), limits, what)
    loaded: dict[str, Storage] = {}

    def persistent_load(pid: Any) -> Any:
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise PickleRefused(f"{what}: an unknown persistent reference")
        _, storage_type, key, _location, numel = pid
        if not isinstance(key, str) or len(key) > 64:
            raise PickleRefused(f"{what}: a storage key that is not a short name")
        if key not in loaded:
            loaded[key] = _zip_storage(zf, f"{prefix}data/{key}", storage_type, numel, big, reader)
        return loaded[key]

    raw = _read_entry(zf, pkls[0], MAX_PICKLE_ENTRY, False)
    obj, _, _ = pickle_vm.load(raw, reader.resolve, persistent_load=persistent_load, limits=limits, what=what)
    return TorchContent(obj, "zip", reader.foreign)


def _zip_storage(zf: zipfile.ZipFile, name: str, storage_type: Any, numel: Any, big: bool, reader: _Reader) -> Storage:
    if not isinstance(storage_type, StorageType):
        raise PickleRefused(f"{reader.what}: a storage of an unsupported type ({storage_type!r:.60})")
    (n,) = _ints((numel,), "a storage size")
    dtype = storage_type.dtype
    width = torch.empty((), dtype=dtype).element_size()
    try:
        raw = _read_entry(zf, name, n * width, True)
    except KeyError:
        raise PickleRefused(f"{reader.what}: storage entry {name} is missing") from None
    if len(raw) != n * width:
        raise PickleRefused(f"{reader.what}: storage {name} holds {len(raw)} bytes, its tensor needs {n * width}")
    if n == 0:
        return Storage(torch.empty(0, dtype=dtype))
    if big:
        return Storage(_from_big_endian(raw, dtype))
    return Storage(torch.frombuffer(bytearray(raw), dtype=dtype))


def _from_big_endian(raw: bytes, dtype: torch.dtype) -> torch.Tensor:
    np_type = torch.empty((), dtype=dtype).numpy().dtype if dtype != torch.bfloat16 else None
    if np_type is None:
        raise PickleRefused("a big-endian bfloat16 storage cannot be read")
    return torch.from_numpy(np.frombuffer(raw, dtype=np_type.newbyteorder(">")).astype(np_type))


def read_legacy(data: bytes, limits: Limits = DEFAULT_LIMITS, what: str = "file", budget: _Budget | None = None,
                parent: _Reader | None = None) -> Any:
    """A legacy ``torch.save`` stream; returns its object (``read_torch_bytes`` wraps it in TorchContent)."""
    reader = _Reader(budget or _Budget(len(data)), limits, what)
    if parent is not None:
        reader.records, reader.foreign = parent.records, parent.foreign
    pos = 0
    magic, pos, _ = pickle_vm.load(data, reader.resolve, limits=limits, start=pos, what=what)
    if magic != LEGACY_MAGIC:
        raise PickleRefused(f"{what}: not a legacy PyTorch stream (bad magic number)")
    protocol, pos, _ = pickle_vm.load(data, reader.resolve, limits=limits, start=pos, what=what)
    if protocol != LEGACY_PROTOCOL:
        raise PickleRefused(f"{what}: legacy PyTorch protocol {protocol!r} is not supported")
    sys_info, pos, _ = pickle_vm.load(data, reader.resolve, limits=limits, start=pos, what=what)
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise PickleRefused(f"{what}: a big-endian legacy PyTorch file cannot be read")
    roots: dict[Any, Storage] = {}
    views: dict[Any, Storage] = {}

    def persistent_load(pid: Any) -> Any:
        if isinstance(pid, tuple) and pid and pid[0] == "module" and len(pid) == 4:
            return pid[1]  # a module class the file also carries the source of: inert, like any other global
        if not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage":
            raise PickleRefused(f"{what}: an unknown persistent reference")
        _, storage_type, root_key, _location, numel, view = pid
        if not isinstance(root_key, str) or len(root_key) > 64:
            raise PickleRefused(f"{what}: a storage key that is not a short name")
        if root_key not in roots:
            roots[root_key] = reader.new_storage(storage_type, numel)
        root = roots[root_key]
        if view is None:
            return root
        if not isinstance(view, tuple) or len(view) != 3:
            raise PickleRefused(f"{what}: a storage view of an unknown layout")
        view_key, offset, size = view
        (off, n) = _ints((offset, size), "a storage view")
        if off + n > root.flat.numel():
            raise PickleRefused(f"{what}: a storage view reaches beyond its storage")
        return views.setdefault(view_key, Storage(root.flat[off:off + n]))

    obj, pos, _ = pickle_vm.load(data, reader.resolve, persistent_load=persistent_load, limits=limits, start=pos,
                                 what=what)
    keys, pos, _ = pickle_vm.load(data, reader.resolve, limits=limits, start=pos, what=what)
    if not isinstance(keys, list) or set(keys) - set(roots):
        raise PickleRefused(f"{what}: the storage key list does not match the storages")
    for key in keys:
        flat = roots[key].flat
        if pos + 8 > len(data):
            raise PickleRefused(f"{what}: truncated storage data")
        count = int.from_bytes(data[pos:pos + 8], "little")
        nbytes = flat.numel() * flat.element_size()
        if count != flat.numel() or pos + 8 + nbytes > len(data):
            raise PickleRefused(f"{what}: storage {key} is truncated or does not match its declared size")
        if nbytes:
            flat.view(-1).view(torch.uint8).copy_(torch.frombuffer(bytearray(data[pos + 8:pos + 8 + nbytes]),
                                                                    dtype=torch.uint8))
        pos += 8 + nbytes
    return obj


def read_pickle(data: bytes, limits: Limits = DEFAULT_LIMITS, what: str = "pickle") -> TorchContent:
    """A plain pickle (tensors inlined through ``torch.storage._load_from_bytes``)."""
    reader = _Reader(_Budget(len(data)), limits, what)
    obj, _, _ = pickle_vm.load(data, reader.resolve, limits=limits, what=what)
    return TorchContent(obj, "pickle", reader.foreign)


def is_legacy_stream(data: bytes) -> bool:
    """A legacy torch.save stream starts with a pickled magic number (LONG1 of 10 bytes)."""
    return data[:2] == b"\x80\x02" and data[2:4] == b"\x8a\x0a" and \
        int.from_bytes(data[4:14], "little") == LEGACY_MAGIC


def read_torch_bytes(data: bytes, limits: Limits = DEFAULT_LIMITS, what: str = "file") -> TorchContent:
    """Any PyTorch file or plain pickle from its bytes, inertly; TorchScript archives are refused."""
    if data[:4] == b"PK\x03\x04":
        return read_zip(data, limits, what)
    if is_legacy_stream(data):
        reader_foreign: list[str] = []
        parent = _Reader(_Budget(len(data)), limits, what)
        parent.foreign = reader_foreign
        obj = read_legacy(data, limits, what, parent=parent)
        return TorchContent(obj, "legacy", reader_foreign)
    if data[:1] == b"\x80" or data[:1] in (b"(", b"]", b"}", b"c"):
        return read_pickle(data, limits, what)
    raise PickleRefused(f"{what} is not a PyTorch file or a pickle")
