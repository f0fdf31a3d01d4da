"""A pickle interpreter that builds data and never runs anything: bounded in time, memory and depth.

Python's own unpickler imports whatever module a pickle names and calls whatever it names with whatever
arguments it holds; ``find_class`` overrides narrow that, but the C unpickler still allocates what a length
field claims, and an allow-listed constructor such as ``bytearray`` turns 34 bytes into 2 GiB. This module
interprets the opcodes itself, over bytes already in memory:

- a global (``GLOBAL``, ``STACK_GLOBAL``, ``INST``) is looked up by a *resolver* the caller supplies; what
  it returns is either one of our own constructors (flagged with ``@safe``; each validates its arguments)
  or an inert ``Record`` type that only remembers what the pickle gave it. Nothing is imported.
- every length is checked against the bytes actually left before anything is read; ints are at most
  ``limits.max_int_bytes`` long; the work (opcodes), the objects made, the memo and the stack are capped.
- after loading, the object graph's nesting depth is measured without recursion and refused beyond
  ``limits.max_depth``, so code that walks the result recursively cannot overflow the interpreter stack.

Everything that goes wrong raises ``PickleRefused`` (a ``BadInput``) with a one-line reason.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from latentlab.core.errors import BadInput


class PickleRefused(BadInput):
    """The pickle is malformed, exceeds a limit, or asks for something this reader never does."""


@dataclass(frozen=True)
class Limits:
    """Budgets for one load (defaults fit real checkpoints with room to spare)."""

    max_ops: int = 20_000_000
    max_objects: int = 5_000_000  # containers, records and numbers made (not bytes)
    max_stack: int = 1_000_000
    max_memo: int = 5_000_000
    max_depth: int = 200
    max_int_bytes: int = 64  # LONG1/LONG4 payloads and decimal ints (a tensor size fits in 8)
    max_line: int = 1 << 16  # protocol-0 text arguments


DEFAULT_LIMITS = Limits()


def safe(fn: Callable) -> Callable:
    """Mark one of our own functions as callable from a pickle (REDUCE / NEWOBJ / INST)."""
    fn.__latentlab_safe__ = True  # type: ignore[attr-defined]  # our own marker on the function object
    return fn


class Record:
    """What an unknown global became: its qualified name plus whatever the pickle handed it."""

    module = ""
    qualname = ""

    def __init__(self, args: tuple = (), kwargs: dict | None = None):
        self.args = args
        self.kwargs = kwargs or {}
        self.state: Any = None
        self.items: dict[Any, Any] = {}
        self.list: list[Any] = []

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"

    def as_dict(self) -> dict[str, Any]:
        """The record's mapping content: dict items, else a dict state, else keyword arguments."""
        if self.items:
            return dict(self.items)
        if isinstance(self.state, dict):
            return dict(self.state)
        if isinstance(self.state, tuple) and len(self.state) == 2 and isinstance(self.state[0], dict):
            return dict(self.state[0])  # (dict_state, slots_state)
        return dict(self.kwargs)

    def __repr__(self) -> str:
        return f"<inert {self.name}>"

    def __reduce__(self):  # never let a record be pickled again as if it were the real thing
        raise TypeError("an inert record cannot be pickled")


def record_type(module: str, name: str, cache: dict[tuple[str, str], type[Record]]) -> type[Record]:
    """One Record subclass per global name (so ``isinstance`` and ``qualname`` tell records apart)."""
    key = (module, name)
    if key not in cache:
        cache[key] = type(name.rsplit(".", 1)[-1] or "record", (Record,), {"module": module, "qualname": name})
    return cache[key]


class _Mark:
    __slots__ = ()


_MARK = _Mark()
Resolver = Callable[[str, str], Any]
PersistentLoad = Callable[[Any], Any]


class PickleVM:
    """Interprets one pickle in ``data`` from ``start``; ``load()`` returns (object, end offset)."""

    def __init__(self, data: bytes | memoryview, resolver: Resolver, persistent_load: PersistentLoad | None = None,
                 limits: Limits = DEFAULT_LIMITS, start: int = 0, what: str = "pickle"):
        self.data = memoryview(data)
        self.pos = start
        self.resolver = resolver
        self.persistent_load = persistent_load
        self.limits = limits
        self.what = what
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.builder_memo: dict[int, list[int]] = {}  # memo slots that hold a builder until its BUILD
        self.objects = 0
        self.globals: list[tuple[str, str]] = []

    # --- reading ------------------------------------------------------------------------------------------

    def refuse(self, reason: str) -> PickleRefused:
        return PickleRefused(f"{self.what}: {reason} (at byte {self.pos})")

    def take(self, n: int) -> memoryview:
        if n < 0 or n > len(self.data) - self.pos:
            raise self.refuse(f"a length of {n} bytes runs past the end of the data (truncated or hostile)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def line(self) -> bytes:
        end = bytes(self.data[self.pos:self.pos + self.limits.max_line]).find(b"\n")
        if end < 0:
            raise self.refuse("a text argument has no end of line within the limit")
        out = bytes(self.data[self.pos:self.pos + end])
        self.pos += end + 1
        return out

    def count(self, n: int = 1) -> None:
        self.objects += n
        if self.objects > self.limits.max_objects:
            raise self.refuse(f"more than {self.limits.max_objects:,} objects")

    def push(self, obj: Any) -> None:
        self.stack.append(obj)
        if len(self.stack) > self.limits.max_stack:
            raise self.refuse("the pickle stack grew beyond its limit")

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise self.refuse("a MARK was expected on the stack")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def pop(self) -> Any:
        if not self.stack:
            raise self.refuse("pop from an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise self.refuse("the stack is empty")
        return self.stack[-1]

    def small_int(self, text: bytes) -> int:
        text = text.strip().rstrip(b"L")
        if len(text) > self.limits.max_int_bytes * 3:
            raise self.refuse("an integer with too many digits")
        try:
            return int(text)
        except ValueError:
            raise self.refuse(f"not an integer: {text[:20]!r}") from None

    def long_bytes(self, n: int) -> int:
        if n > self.limits.max_int_bytes:
            raise self.refuse(f"an integer of {n} bytes (more than {self.limits.max_int_bytes})")
        return int.from_bytes(self.take(n), "little", signed=True)

    # --- calling ------------------------------------------------------------------------------------------

    def call(self, fn: Any, args: Any, kwargs: dict | None = None) -> Any:
        if not isinstance(args, tuple):
            raise self.refuse("call arguments are not a tuple")
        self.count()
        if isinstance(fn, type) and issubclass(fn, Record):
            return fn(args, kwargs)
        if getattr(fn, "__latentlab_safe__", False):
            try:
                return fn(*args, **(kwargs or {}))
            except PickleRefused:
                raise
            except (TypeError, ValueError, OverflowError, IndexError, KeyError, RuntimeError) as exc:
                raise self.refuse(f"invalid arguments for {getattr(fn, '__name__', fn)} ({exc})") from None
        raise self.refuse(f"the pickle calls {type(fn).__name__} {fn!r:.60}, which is not a constructor")

    def build(self, obj: Any, state: Any) -> None:
        if isinstance(obj, Record):
            obj.state = state
            return
        builder = getattr(obj, "__latentlab_build__", None)
        if builder is not None:  # one of our builders (a numpy array or dtype): its state makes the real value
            try:
                value = builder(state)
            except PickleRefused:
                raise
            except (TypeError, ValueError, OverflowError, IndexError) as exc:
                raise self.refuse(f"invalid state for {type(obj).__name__} ({exc})") from None
            self.stack[-1] = value
            for index in self.builder_memo.pop(id(obj), ()):
                self.memo[index] = value
            return
        if state is None or state == {}:
            return
        import torch

        # Tensors carry Python-level state (hooks), a state_dict its `_metadata` attribute: a loader needs neither.
        if isinstance(obj, (torch.Tensor, dict, list)):
            return
        raise self.refuse(f"the pickle sets state on a {type(obj).__name__}")

    def global_(self, module: Any, name: Any) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise self.refuse("a global name that is not text")
        self.globals.append((module, name))
        return self.resolver(module, name)

    # --- the loop -------------------------------------------------------------------------------------------

    def load(self) -> tuple[Any, int]:
        ops = 0
        dispatch = _DISPATCH
        while True:
            ops += 1
            if ops > self.limits.max_ops:
                raise self.refuse(f"more than {self.limits.max_ops:,} opcodes")
            if self.pos >= len(self.data):
                raise self.refuse("the data ended before the pickle's STOP")
            code = self.data[self.pos]
            self.pos += 1
            if code == 0x2E:  # STOP
                value = self.pop()
                check_depth(value, self.limits.max_depth, self.what)
                return value, self.pos
            handler = dispatch.get(code)
            if handler is None:
                raise self.refuse(f"unknown or unsupported opcode 0x{code:02x}")
            handler(self)


def check_depth(root: Any, limit: int, what: str = "pickle") -> None:
    """Refuse object graphs nested deeper than ``limit`` (measured iteratively; back references ignored)."""
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    todo: list[tuple[Any, bool]] = [(root, False)]
    while todo:
        obj, leaving = todo.pop()
        kids = _children(obj)
        if kids is None:
            continue
        key = id(obj)
        if leaving:
            on_path.discard(key)
            d = 1 + max((depth.get(id(k), 0) for k in kids if id(k) not in on_path), default=0)
            depth[key] = d
            if d > limit:
                raise PickleRefused(f"{what}: nested more than {limit} levels deep")
            continue
        if key in depth or key in on_path:
            continue
        on_path.add(key)
        todo.append((obj, True))
        todo.extend((k, False) for k in kids)
        if len(on_path) > limit:
            raise PickleRefused(f"{what}: nested more than {limit} levels deep")


def _children(obj: Any) -> list[Any] | None:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, Record):
        return [*obj.args, *obj.kwargs.values(), obj.state, *obj.items.keys(), *obj.items.values(), *obj.list]
    return None


# --- opcodes --------------------------------------------------------------------------------------------------

def _text(vm: PickleVM, raw: memoryview | bytes) -> str:
    try:
        return bytes(raw).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise vm.refuse("text that is not valid UTF-8") from None


def _py2_str(raw: bytes) -> str:
    # Python 2 str payloads: torch.load reads them as UTF-8 text; bytes that are not UTF-8 stay readable.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin1")


def _op_string(vm: PickleVM) -> None:
    raw = vm.line()
    if len(raw) < 2 or raw[:1] != raw[-1:] or raw[:1] not in (b"'", b'"'):
        raise vm.refuse("a STRING argument that is not quoted")
    vm.count()
    vm.push(_py2_str(codecs.escape_decode(raw[1:-1])[0]))


def _op_unicode(vm: PickleVM) -> None:
    vm.count()
    vm.push(codecs.raw_unicode_escape_decode(vm.line())[0])


def _op_float(vm: PickleVM) -> None:
    try:
        vm.push(float(vm.line()))
    except ValueError:
        raise vm.refuse("a FLOAT argument that is not a number") from None


def _op_int(vm: PickleVM) -> None:
    raw = vm.line()
    if raw in (b"00", b"01"):  # protocol 0 spells booleans as INT 00 / 01
        vm.push(raw == b"01")
    else:
        vm.push(vm.small_int(raw))


def _sized(kind: str, width: int) -> Callable[[PickleVM], None]:
    def op(vm: PickleVM) -> None:
        n = vm.uint(width)
        raw = vm.take(n)
        vm.count()
        if kind == "bytes":
            vm.push(bytes(raw))
        elif kind == "bytearray":
            vm.push(bytearray(raw))
        elif kind == "str2":
            vm.push(_py2_str(bytes(raw)))
        else:
            vm.push(_text(vm, raw))
    return op


def _op_global(vm: PickleVM) -> None:
    module = vm.line().decode("utf-8", "replace")
    name = vm.line().decode("utf-8", "replace")
    vm.push(vm.global_(module, name))


def _op_stack_global(vm: PickleVM) -> None:
    name = vm.pop()
    module = vm.pop()
    vm.push(vm.global_(module, name))


def _op_inst(vm: PickleVM) -> None:
    module = vm.line().decode("utf-8", "replace")
    name = vm.line().decode("utf-8", "replace")
    cls = vm.global_(module, name)
    vm.push(vm.call(cls, tuple(vm.pop_mark())))


def _op_obj(vm: PickleVM) -> None:
    items = vm.pop_mark()
    if not items:
        raise vm.refuse("OBJ without a class")
    vm.push(vm.call(items[0], tuple(items[1:])))


def _op_reduce(vm: PickleVM) -> None:
    args = vm.pop()
    fn = vm.pop()
    vm.push(vm.call(fn, args))


def _op_newobj(vm: PickleVM) -> None:
    args = vm.pop()
    cls = vm.pop()
    vm.push(vm.call(cls, args))


def _op_newobj_ex(vm: PickleVM) -> None:
    kwargs = vm.pop()
    args = vm.pop()
    cls = vm.pop()
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise vm.refuse("NEWOBJ_EX keyword arguments are not a dict of names")
    vm.push(vm.call(cls, args, kwargs))


def _op_build(vm: PickleVM) -> None:
    state = vm.pop()
    vm.build(vm.top(), state)


def _op_persid(vm: PickleVM) -> None:
    pid = vm.line().decode("ascii", "replace")
    if vm.persistent_load is None:
        raise vm.refuse("a persistent reference where none is allowed")
    vm.push(vm.persistent_load(pid))


def _op_binpersid(vm: PickleVM) -> None:
    if vm.persistent_load is None:
        raise vm.refuse("a persistent reference where none is allowed")
    vm.push(vm.persistent_load(vm.pop()))


def _hashable(vm: PickleVM, key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise vm.refuse(f"an unhashable {type(key).__name__} used as a key") from None
    return key


def _setitems(vm: PickleVM, target: Any, pairs: list[Any]) -> None:
    if len(pairs) % 2:
        raise vm.refuse("SETITEMS with an odd number of items")
    if isinstance(target, Record):
        target = target.items
    if not isinstance(target, dict):
        raise vm.refuse(f"SETITEMS on a {type(target).__name__}")
    for i in range(0, len(pairs), 2):
        target[_hashable(vm, pairs[i])] = pairs[i + 1]


def _op_setitem(vm: PickleVM) -> None:
    value = vm.pop()
    key = vm.pop()
    _setitems(vm, vm.top(), [key, value])


def _op_setitems(vm: PickleVM) -> None:
    items = vm.pop_mark()
    _setitems(vm, vm.top(), items)


def _appends(vm: PickleVM, target: Any, values: list[Any]) -> None:
    if isinstance(target, Record):
        target = target.list
    if not isinstance(target, list):
        raise vm.refuse(f"APPEND on a {type(target).__name__}")
    target.extend(values)


def _op_append(vm: PickleVM) -> None:
    value = vm.pop()
    _appends(vm, vm.top(), [value])


def _op_appends(vm: PickleVM) -> None:
    items = vm.pop_mark()
    _appends(vm, vm.top(), items)


def _op_additems(vm: PickleVM) -> None:
    items = vm.pop_mark()
    target = vm.top()
    if not isinstance(target, set):
        raise vm.refuse(f"ADDITEMS on a {type(target).__name__}")
    target.update(_hashable(vm, x) for x in items)


def _op_dict(vm: PickleVM) -> None:
    items = vm.pop_mark()
    d: dict[Any, Any] = {}
    vm.count()
    _setitems(vm, d, items)
    vm.push(d)


def _op_frozenset(vm: PickleVM) -> None:
    items = vm.pop_mark()
    vm.count()
    vm.push(frozenset(_hashable(vm, x) for x in items))


def _op_mark(vm: PickleVM) -> None:
    vm.metastack.append(vm.stack)
    vm.stack = []
    if len(vm.metastack) > vm.limits.max_stack:
        raise vm.refuse("too many nested MARKs")


def _op_tuple_n(n: int) -> Callable[[PickleVM], None]:
    def op(vm: PickleVM) -> None:
        if len(vm.stack) < n:
            raise vm.refuse(f"TUPLE{n} needs {n} items on the stack")
        items = tuple(vm.stack[len(vm.stack) - n:]) if n else ()
        del vm.stack[len(vm.stack) - n:]
        vm.count()
        vm.push(items)
    return op


def _memo_put(vm: PickleVM, index: int) -> None:
    if len(vm.memo) >= vm.limits.max_memo and index not in vm.memo:
        raise vm.refuse("the memo grew beyond its limit")
    value = vm.top()
    vm.memo[index] = value
    if hasattr(value, "__latentlab_build__"):
        vm.builder_memo.setdefault(id(value), []).append(index)


def _memo_get(vm: PickleVM, index: int) -> None:
    if index not in vm.memo:
        raise vm.refuse(f"memo entry {index} read before it was written")
    vm.push(vm.memo[index])


def _new(factory: Callable[[], Any]) -> Callable[[PickleVM], None]:
    def op(vm: PickleVM) -> None:
        vm.count()
        vm.push(factory())
    return op


def _const(value: Any) -> Callable[[PickleVM], None]:
    return lambda vm: vm.push(value)


def _refuse_op(reason: str) -> Callable[[PickleVM], None]:
    def op(vm: PickleVM) -> None:
        raise vm.refuse(reason)
    return op


def _frame(vm: PickleVM) -> None:
    n = vm.uint(8)
    if n > len(vm.data) - vm.pos:
        raise vm.refuse("a FRAME longer than the data left")


def _dup(vm: PickleVM) -> None:
    vm.push(vm.top())


def _pop(vm: PickleVM) -> None:
    if vm.stack:
        vm.stack.pop()
    else:
        vm.pop_mark()


def _op_tuple(vm: PickleVM) -> None:
    vm.count()
    vm.push(tuple(vm.pop_mark()))


def _op_list(vm: PickleVM) -> None:
    vm.count()
    vm.push(vm.pop_mark())


# What a handler returns is ignored (the lambdas return whatever their one call does).
_DISPATCH: dict[int, Callable[[PickleVM], object]] = {
    0x80: lambda vm: vm.take(1),  # PROTO: any protocol we can read is fine
    0x95: _frame,
    0x28: _op_mark,
    0x30: _pop,
    0x31: lambda vm: vm.pop_mark(),  # POP_MARK
    0x32: _dup,
    0x4E: _const(None),
    0x88: _const(True),
    0x89: _const(False),
    0x49: _op_int,  # INT
    0x4A: lambda vm: vm.push(int.from_bytes(vm.take(4), "little", signed=True)),  # BININT
    0x4B: lambda vm: vm.push(vm.uint(1)),  # BININT1
    0x4D: lambda vm: vm.push(vm.uint(2)),  # BININT2
    0x4C: lambda vm: vm.push(vm.small_int(vm.line())),  # LONG
    0x8A: lambda vm: vm.push(vm.long_bytes(vm.uint(1))),  # LONG1
    0x8B: lambda vm: vm.push(vm.long_bytes(vm.uint(4))),  # LONG4
    0x46: _op_float,
    0x47: lambda vm: vm.push(struct.unpack(">d", vm.take(8))[0]),  # BINFLOAT
    0x53: _op_string,  # STRING
    0x54: _sized("str2", 4),  # BINSTRING
    0x55: _sized("str2", 1),  # SHORT_BINSTRING
    0x56: _op_unicode,  # UNICODE
    0x58: _sized("str", 4),  # BINUNICODE
    0x8C: _sized("str", 1),  # SHORT_BINUNICODE
    0x8D: _sized("str", 8),  # BINUNICODE8
    0x42: _sized("bytes", 4),  # BINBYTES
    0x43: _sized("bytes", 1),  # SHORT_BINBYTES
    0x8E: _sized("bytes", 8),  # BINBYTES8
    0x96: _sized("bytearray", 8),  # BYTEARRAY8
    0x29: _new(tuple),  # EMPTY_TUPLE
    0x74: _op_tuple,  # TUPLE
    0x85: _op_tuple_n(1),
    0x86: _op_tuple_n(2),
    0x87: _op_tuple_n(3),
    0x5D: _new(list),  # EMPTY_LIST
    0x6C: _op_list,  # LIST
    0x61: _op_append,
    0x65: _op_appends,
    0x7D: _new(dict),  # EMPTY_DICT
    0x64: _op_dict,  # DICT
    0x73: _op_setitem,
    0x75: _op_setitems,
    0x8F: _new(set),  # EMPTY_SET
    0x90: _op_additems,
    0x91: _op_frozenset,
    0x67: lambda vm: _memo_get(vm, vm.small_int(vm.line())),  # GET
    0x68: lambda vm: _memo_get(vm, vm.uint(1)),  # BINGET
    0x6A: lambda vm: _memo_get(vm, vm.uint(4)),  # LONG_BINGET
    0x70: lambda vm: _memo_put(vm, vm.small_int(vm.line())),  # PUT
    0x71: lambda vm: _memo_put(vm, vm.uint(1)),  # BINPUT
    0x72: lambda vm: _memo_put(vm, vm.uint(4)),  # LONG_BINPUT
    0x94: lambda vm: _memo_put(vm, len(vm.memo)),  # MEMOIZE
    0x63: _op_global,  # GLOBAL
    0x93: _op_stack_global,
    0x69: _op_inst,  # INST
    0x6F: _op_obj,  # OBJ
    0x52: _op_reduce,
    0x81: _op_newobj,
    0x92: _op_newobj_ex,
    0x62: _op_build,
    0x50: _op_persid,  # PERSID
    0x51: _op_binpersid,
    0x82: _refuse_op("the copyreg extension registry (EXT1) is not supported"),
    0x83: _refuse_op("the copyreg extension registry (EXT2) is not supported"),
    0x84: _refuse_op("the copyreg extension registry (EXT4) is not supported"),
    0x97: _refuse_op("out-of-band buffers (NEXT_BUFFER) are not supported in files"),
    0x98: _refuse_op("out-of-band buffers (READONLY_BUFFER) are not supported in files"),
}


def load(data: bytes | memoryview, resolver: Resolver, *, persistent_load: PersistentLoad | None = None,
         limits: Limits = DEFAULT_LIMITS, start: int = 0, what: str = "pickle") -> tuple[Any, int, list[tuple[str, str]]]:
    """Interpret the pickle at ``data[start:]``: (object, offset after its STOP, globals it named)."""
    vm = PickleVM(data, resolver, persistent_load, limits, start, what)
    obj, end = vm.load()
    return obj, end, vm.globals
