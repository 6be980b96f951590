"""Reads the tensors of a PyTorch archive without PyTorch and without running code.

A `.pt`/`.pth` file is a pickle whose tensors point at raw storages. Two
layouts exist:

- the zip layout (torch >= 1.6, and every TorchScript file): entries
  `<prefix>/data.pkl` and `<prefix>/data/<key>`, one raw little-endian
  storage per key (`<prefix>/byteorder` says otherwise when present);
- the legacy layout: five pickles in a row (magic number, protocol, system
  info, the object, the storage keys), then every storage as an int64
  element count followed by its bytes.

Unpickling an arbitrary file can run arbitrary code, so the pickles here go
through `RestrictedUnpickler`, which resolves only the few globals that
rebuild tensors (mapped to numpy builders written here), plain containers and
TorchScript's `__torch__.*` module records (mapped to inert placeholders).
Any other global, `os.system` included, raises `UnsafeArchiveError` before
anything is called.

A small forged file must not cost much either. Before anything is unpickled,
its opcodes are walked (`check_pickle`) to bound the objects it builds, their
nesting and its memo; storages must lie inside zip members whose sizes and
compression ratios look like a real archive's; tensors must lie inside their
storages; shared references are rebuilt once; and the decoded bytes stay
under `max_bytes`. Every refusal is an `UnsafeArchiveError` (a limit, or code)
or a `CorruptArchiveError` (truncated or malformed), both `ValueError`s that
name the file.

```python
archive = read_torch_archive("fid_inception_2015_12_05.pt")
archive.tensors["net.layers.conv.weight"].shape  # (32, 3, 3, 3)
archive.attributes["net.layers.conv.stride"]     # 2
```
"""

import dataclasses
import errno
import io
import math
import os
import pickle
import pickletools
import re
import reprlib
import struct
import zipfile
import zlib

import numpy as np

__all__ = [
    "CorruptArchiveError",
    "RestrictedUnpickler",
    "TorchArchive",
    "UnsafeArchiveError",
    "check_pickle",
    "read_torch_archive",
]

# torch's legacy storage class names and the numpy dtypes of their elements.
# bfloat16 has no numpy dtype: its raw 16 bits are widened to float32.
STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
_ITEMSIZE = {
    name: (2 if d == "bfloat16" else np.dtype(d).itemsize)
    for name, d in STORAGE_DTYPES.items()
}

# Limits, each far above what a real weights file needs: the FID Inception
# TorchScript file (87 MB) decodes to 174 MB (storages and tensors), its 28 kB
# data.pkl builds objects of at most 9,943 parts nested 17 deep, and it
# names 710 tensors, attributes and modules, the longest in 48 characters.
DEFAULT_MAX_BYTES = 1 << 30  # storages plus tensors, decoded
MAX_PICKLE_BYTES = 64 << 20
MAX_OBJECTS = 1_000_000  # parts of one object, counting shared ones each time
MAX_DEPTH = 100
MAX_NAME_LENGTH = 1000
MAX_NDIM = 64  # numpy's limit
# torch stores its members uncompressed (ratio 1); TorchScript's deflated
# code files reach ~6. Members this small are not held to the ratio.
MAX_COMPRESSION_RATIO = 100
RATIO_EXEMPT_BYTES = 1 << 20

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_ZIP_MAGIC = b"PK\x03\x04"
_TORCHSCRIPT_CLASS = re.compile(r"^__torch__(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Module attributes that say nothing about the network.
_SKIPPED_ATTRIBUTES = {"training", "_is_full_backward_hook", "_is_full_backward_hook_"}

# Error messages quote file contents through a bounded repr: a plain repr of
# a forged object can take exponential time.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 80
_short = _REPR.repr


class UnsafeArchiveError(pickle.UnpicklingError, ValueError):
    """An archive asked for something a weights file never needs.

    Raised for globals other than the tensor builders (code), and for
    anything past this module's limits (sizes, ratios, nesting, sharing).
    """


class CorruptArchiveError(ValueError):
    """An archive is truncated or malformed: it cannot be a complete PyTorch file."""


@dataclasses.dataclass
class TorchArchive:
    """The contents of a PyTorch archive, as numpy.

    Args:
        tensors: dotted name -> numpy array, e.g. `"net.layers.conv.weight"`
            (TorchScript) or `"Mixed_7c.branch_pool.conv.weight"` (a state dict).
        attributes: dotted name -> plain value of TorchScript module attributes
            (e.g. `"net.layers.conv.stride": 2`); empty for a state dict.
        module_types: dotted module name -> TorchScript class name
            (e.g. `"net.layers.mixed": "__torch__.inceptionv3.InceptionA"`).
        layout: `"zip"` or `"legacy"`.
        torchscript: whether the root object is a TorchScript module.
    """

    tensors: dict
    attributes: dict
    module_types: dict
    layout: str
    torchscript: bool


# ------------------------------------------------------- the opcode walk
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}
_SPECIAL = {"PROTO", "FRAME", "MARK", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_SPECIAL |= {"GET", "BINGET", "LONG_BINGET", "DUP", "POP", "STOP"}
# Every other opcode pops `below` items (and, after a MARK, the items above
# it) and pushes at most one object built from them, or grows the first.
_STACK_EFFECTS = {
    op.name: (
        op.stack_before.index(pickletools.markobject)
        if pickletools.markobject in op.stack_before
        else len(op.stack_before),
        pickletools.markobject in op.stack_before,
        bool(op.stack_after),
        op.name in _MUTATORS,
    )
    for op in pickletools.opcodes
    if op.name not in _SPECIAL
}
# Opcodes that hash what they receive (every `step`-th part): dict keys and
# set items. Tuples of tuples hash in time proportional to their parts.
_HASHED = {"SETITEM": 2, "SETITEMS": 2, "ADDITEMS": 1, "FROZENSET": 1}


def check_pickle(file, source="a pickle"):
    """Walks one pickle's opcodes, building nothing, and returns its bytes.

    Every object the pickle would build is followed as a `[parts, depth]`
    pair, where parts counts shared references once per reference: hashing
    or printing an object costs that much, so a few hundred bytes of tuples
    of tuples (2**100 parts) are refused here instead of hanging the
    unpickler. Memo indices are bounded by the opcode count (the C unpickler
    allocates up to twice the largest index), and a pickle cut short is
    reported as truncated rather than by whatever opcode its tail resembles.

    Args:
        file: a seekable binary file positioned at a pickle; it is left just
            past the pickle's STOP. Length-prefixed arguments are read whole,
            so pass an in-memory file (`io.BytesIO`) for untrusted data.
        source: how messages name the pickle.

    Returns:
        The pickle's bytes, from its first opcode to its STOP.

    Raises:
        UnsafeArchiveError: an object past `MAX_OBJECTS` parts or
            `MAX_DEPTH` levels, or a memo index past the opcode count.
        CorruptArchiveError: the pickle is truncated or malformed.
    """
    start = file.tell()
    stack, marks, memo = [], [], {}
    count, offset, hashed = 0, 0, 0

    def corrupt(problem):
        return CorruptArchiveError(
            f"{source} is truncated or corrupt: {problem} (at byte {offset} of "
            "the pickle). Expected a complete pickle ending in STOP, as torch.save "
            "writes."
        )

    def too_big(node, name):
        return UnsafeArchiveError(
            f"{source} builds an object past the limits of {MAX_OBJECTS} parts "
            f"and {MAX_DEPTH} levels at byte {offset} (opcode {name}): shared "
            "references multiply when it is read. A weights file needs far "
            f"fewer. Received: at least {node[0]} parts, {node[1]} levels"
        )

    try:
        for opcode, arg, pos in pickletools.genops(file):
            count += 1
            offset = pos - start
            name = opcode.name
            fence = marks[-1] if marks else 0
            effect = _STACK_EFFECTS.get(name)
            if effect is not None:
                below, marked, pushes, mutates = effect
                if not below and not marked:
                    stack.append([1, 1])  # a constant, a global, an empty container
                    continue
                children = ()
                if marked:
                    if not marks:
                        raise corrupt(f"{name} without a MARK")
                    fence = marks.pop()
                    children = stack[fence:]
                    del stack[fence:]
                    fence = marks[-1] if marks else 0
                if len(stack) - fence < below:
                    raise corrupt(f"{name} on a stack of {len(stack) - fence} items")
                parts = stack[len(stack) - below :]
                del stack[len(stack) - below :]
                parts.extend(children)
                # A mutator grows its target, and whoever holds it sees the
                # growth; any other opcode builds a new object of its parts.
                node = parts.pop(0) if mutates else [1, 1]
                step = _HASHED.get(name)
                if step:
                    hashed += sum(part[0] for part in parts[::step])
                    if hashed > MAX_OBJECTS:
                        raise UnsafeArchiveError(
                            f"{source} uses dict keys or set items of more than "
                            f"{MAX_OBJECTS} parts in all (at byte {offset}): hashing "
                            "them would take that long. A weights file uses short "
                            f"names. Received: at least {hashed} parts"
                        )
                for part in parts:
                    node[0] += part[0]
                    if part[1] >= node[1]:
                        node[1] = part[1] + 1
                if node[0] > MAX_OBJECTS or node[1] > MAX_DEPTH:
                    raise too_big(node, name)
                if pushes:
                    stack.append(node)
            elif name == "MARK":  # PROTO and FRAME change nothing here
                marks.append(len(stack))
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                if len(stack) <= fence:
                    raise corrupt(f"{name} with nothing to remember")
                index = len(memo) if name == "MEMOIZE" else arg
                if index > count:
                    raise UnsafeArchiveError(
                        f"{source} stores memo entry {index} after only {count} "
                        "opcodes, which would make the unpickler allocate memory "
                        "for every index below it. Expected: an index below the "
                        f"opcode count. Received: {index}"
                    )
                memo[index] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise corrupt(f"{name} of memo entry {arg}, which was never stored")
                stack.append(memo[arg])
            elif name in ("DUP", "STOP"):
                if len(stack) <= fence:
                    raise corrupt(f"{name} with an empty stack")
                if name == "DUP":
                    stack.append(stack[-1])
            elif name == "POP":
                if len(stack) > fence:
                    stack.pop()
                elif marks:
                    marks.pop()  # as the unpickler does
                else:
                    raise corrupt("POP of an empty stack")
    except ValueError as e:
        if isinstance(e, UnsafeArchiveError | CorruptArchiveError):
            raise
        # pickletools: "pickle exhausted before seeing STOP", a length past
        # the end, an unknown opcode.
        raise corrupt(str(e)) from None
    end = file.tell()
    file.seek(start)
    return file.read(end - start)


# ----------------------------------------------------------- safe builders
class _Sealed:
    """Refuses pickle's BUILD, so a file cannot rewrite a checked object."""

    def __setstate__(self, state):
        raise UnsafeArchiveError(
            f"An archive may not set the state of a {type(self).__name__.lstrip('_')}. "
            f"Received: {_short(state)}"
        )


@dataclasses.dataclass(eq=False)
class _StorageType(_Sealed):
    name: str


@dataclasses.dataclass(eq=False)
class _Storage(_Sealed):
    """One raw storage; `data` is filled from the archive once it is read."""

    type_name: str
    key: str
    numel: int
    data: np.ndarray | None = None


@dataclasses.dataclass(eq=False)
class _StorageView(_Sealed):
    """A legacy view into another storage (offset and size in elements)."""

    base: _Storage
    offset: int
    numel: int


@dataclasses.dataclass(eq=False)
class _TensorRef(_Sealed):
    """A tensor whose storage may not be read yet; see `_materialize`."""

    storage: object
    offset: int
    size: tuple
    stride: tuple


class _ModuleRecord:
    """An inert stand-in for a TorchScript module: it only keeps its state."""

    torch_type = "__torch__"
    state = None

    def __init__(self, *args):
        self.state = {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise UnsafeArchiveError(
                f"TorchScript module {self.torch_type} has a state that is not a dict. "
                f"Received: {type(state).__name__}"
            )
        self.state = state


def _check_int_tuple(value, what):
    if isinstance(value, tuple | list) and len(value) > MAX_NDIM:
        raise UnsafeArchiveError(
            f"A tensor may have at most {MAX_NDIM} dimensions. Received: a {what} "
            f"of length {len(value)}"
        )
    if not isinstance(value, tuple | list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise UnsafeArchiveError(
            f"A tensor's {what} must be a tuple of non-negative ints. Received: {_short(value)}"
        )
    return tuple(value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    if not isinstance(storage, _Storage | _StorageView):
        raise UnsafeArchiveError(
            "A tensor must be rebuilt from a storage. "
            f"Received: {type(storage).__name__}"
        )
    if (
        not isinstance(storage_offset, int)
        or isinstance(storage_offset, bool)
        or storage_offset < 0
    ):
        raise UnsafeArchiveError(
            "A tensor's storage offset must be a non-negative int. "
            f"Received: {_short(storage_offset)}"
        )
    size = _check_int_tuple(size, "size")
    stride = _check_int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise UnsafeArchiveError(
            f"A tensor's size and stride must have one length. Received: size={size}, stride={stride}"
        )
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    if not isinstance(data, _TensorRef):
        raise UnsafeArchiveError(
            f"A parameter must wrap a tensor. Received: {type(data).__name__}"
        )
    return data


def _build_list(items):
    # As torch.jit._pickle does, the list itself: a copy per call would let
    # a pickle multiply one long list by cheap REDUCEs.
    if not isinstance(items, list):
        raise UnsafeArchiveError(f"Expected a list. Received: {type(items).__name__}")
    return items


def _ordered_dict(*args):
    # A state dict's OrderedDict is rebuilt as a plain dict (insertion order
    # is kept). Its SETITEMS fill it afterwards.
    if args and not (len(args) == 1 and isinstance(args[0], list) and not args[0]):
        raise UnsafeArchiveError(
            f"OrderedDict must be rebuilt empty. Received arguments: {_short(args)}"
        )
    return {}


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch.jit._pickle", "build_intlist"): _build_list,
    ("torch.jit._pickle", "build_doublelist"): _build_list,
    ("torch.jit._pickle", "build_boollist"): _build_list,
    ("torch.jit._pickle", "build_tensorlist"): _build_list,
    ("torch.jit._pickle", "build_strlist"): _build_list,
}
_ALLOWED_GLOBALS.update(
    {("torch", name): _StorageType(name) for name in STORAGE_DTYPES}
)


class RestrictedUnpickler(pickle.Unpickler):
    """A `pickle.Unpickler` that resolves only tensor-rebuilding globals.

    `find_class` maps `torch._utils._rebuild_tensor_v2` (and
    `_rebuild_tensor`, `_rebuild_parameter`), the typed storage classes
    (`torch.FloatStorage`, ...), `collections.OrderedDict`, TorchScript's
    `torch.jit._pickle.build_*list` helpers and `__torch__.*` module classes
    to inert numpy-side builders; it refuses every other global with
    `UnsafeArchiveError`, so no code named by the file ever runs.
    `persistent_load` accepts only storage references. The pickle is first
    read through `check_pickle`, so its size and nesting are bounded before
    anything is built, and `load` reports a malformed pickle as a
    `CorruptArchiveError`.

    Args:
        file: a seekable binary file positioned at a pickle (for untrusted
            data an `io.BytesIO`); it is left just past the pickle.
        storages: dict in which the storages met are collected by key.
        legacy: whether persistent ids follow the legacy (non-zip) layout.
        source: how messages name the pickle, e.g. the file's path.

    Example:

    ```python
    storages = {}
    root = RestrictedUnpickler(io.BytesIO(data_pkl), storages).load()
    ```
    """

    def __init__(self, file, storages, legacy=False, source="a pickle"):
        data = check_pickle(file, source)
        super().__init__(io.BytesIO(data))
        self.size = len(data)
        self.storages = storages
        self.legacy = legacy
        self.source = source
        self._record_classes = {}

    def load(self):
        try:
            return super().load()
        except (UnsafeArchiveError, CorruptArchiveError) as e:
            # The builders do not know the file: say which one it was.
            if self.source in str(e):
                raise
            raise type(e)(f"{self.source}: {e}") from None
        except (
            pickle.UnpicklingError,
            EOFError,
            TypeError,
            ValueError,
            AttributeError,
            KeyError,
            IndexError,
        ) as e:
            raise CorruptArchiveError(
                f"{self.source} is corrupt: unpickling it failed with "
                f"{type(e).__name__}: {_short(str(e))}"
            ) from None

    def find_class(self, module, name):
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is not None:
            return found
        full = f"{module}.{name}"
        if _TORCHSCRIPT_CLASS.match(module) and _IDENTIFIER.match(name):
            if full not in self._record_classes:
                self._record_classes[full] = type(
                    "TorchScriptModule", (_ModuleRecord,), {"torch_type": full}
                )
            return self._record_classes[full]
        allowed = sorted(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
        raise UnsafeArchiveError(
            f"Refusing to load the global {_short(full)} from {self.source}: tfgen "
            "reads only tensors and TorchScript module records, and never runs code "
            f"named by the file. Expected one of {allowed} or a __torch__.* module "
            f"class. Received: {_short(full)}"
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeArchiveError(
                f"A persistent id must be a ('storage', ...) tuple. Received: {_short(pid)}"
            )
        expected_length = 6 if self.legacy else 5
        if len(pid) != expected_length:
            raise UnsafeArchiveError(
                f"A storage reference must have {expected_length} fields. "
                f"Received: {_short(pid)}"
            )
        storage_type, key, location, numel = pid[1:5]
        if (
            not isinstance(storage_type, _StorageType)
            or not isinstance(key, str)
            or not _IDENTIFIER.match("k" + key)
            or not isinstance(location, str)
            or not isinstance(numel, int)
            or numel < 0
        ):
            raise UnsafeArchiveError(
                "A storage reference must be ('storage', <torch.*Storage>, key, "
                f"location, numel). Received: {_short(pid)}"
            )
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(storage_type.name, key, numel)
        elif storage.type_name != storage_type.name or storage.numel != numel:
            raise UnsafeArchiveError(
                f"Storage {key!r} is referenced with two types or sizes: "
                f"{storage.type_name}[{storage.numel}] and {storage_type.name}[{numel}]"
            )
        if self.legacy and pid[5] is not None:
            view = pid[5]
            if (
                not isinstance(view, tuple)
                or len(view) != 3
                or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0
                    for v in view[1:]
                )
                or view[1] + view[2] > numel
            ):
                raise UnsafeArchiveError(
                    f"A storage view must be (key, offset, size) inside its storage. "
                    f"Received: {_short(view)}"
                )
            return _StorageView(storage, view[1], view[2])
        return storage


# ------------------------------------------------------------------ reading
class _Budget:
    """The decoded bytes a read may still allocate (`max_bytes` in all)."""

    def __init__(self, limit, source):
        self.limit = self.left = limit
        self.source = source

    def spend(self, nbytes, what):
        if nbytes > self.left:
            raise UnsafeArchiveError(
                f"{self.source}: {what} would take the decoded size past the limit "
                f"of {self.limit} bytes (max_bytes). Received: {nbytes} more bytes "
                f"with {self.left} left"
            )
        self.left -= nbytes


def _widened_nbytes(storage):
    # bfloat16 is decoded into a new float32 array; other dtypes are views.
    return 4 * storage.numel if STORAGE_DTYPES[storage.type_name] == "bfloat16" else 0


def _decode_storage(raw, storage, byteorder, source):
    itemsize = _ITEMSIZE[storage.type_name]
    nbytes = storage.numel * itemsize
    if len(raw) < nbytes:
        raise CorruptArchiveError(
            f"Storage {storage.key!r} of {source} is truncated. Expected "
            f"{nbytes} bytes ({storage.numel} x {storage.type_name}). Received: {len(raw)} bytes"
        )
    dtype = STORAGE_DTYPES[storage.type_name]
    if dtype == "bfloat16":
        bits = np.frombuffer(
            raw, dtype=f"{'>' if byteorder == 'big' else '<'}u2", count=storage.numel
        )
        return (bits.astype("<u4") << 16).view("<f4")
    dtype = np.dtype(dtype)
    if byteorder == "big" and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    return np.frombuffer(raw, dtype=dtype, count=storage.numel)


def _tensor(ref, budget):
    storage = ref.storage
    offset = ref.offset
    if isinstance(storage, _StorageView):
        offset += storage.offset
        limit = storage.offset + storage.numel
        storage = storage.base
    else:
        limit = storage.numel
    if storage.data is None:
        raise CorruptArchiveError(
            f"{budget.source}: storage {storage.key!r} was referenced but never stored"
        )
    dtype = storage.data.dtype.newbyteorder("=")
    numel = math.prod(ref.size)
    if numel == 0:
        if any(n >= 1 << 62 for n in ref.size):
            raise UnsafeArchiveError(
                f"{budget.source}: an empty tensor has a dimension past 2**62. "
                f"Received: size {ref.size}"
            )
        return np.zeros(ref.size, dtype=dtype)
    # A tensor may not hold more elements than its storage has from its
    # offset on: stride 0 or overlapping strides would let a few stored
    # bytes stand for gigabytes. Strided views are also checked against the
    # storage's bounds before numpy touches memory.
    last = offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if offset + numel > limit or last >= limit:
        raise UnsafeArchiveError(
            f"{budget.source}: a tensor of size {ref.size} and stride {ref.stride} at "
            f"offset {offset} reaches past its storage of {limit} elements "
            f"({numel} elements, the last at index {last}). Expected: every element "
            "inside the storage, and no more elements than the storage holds"
        )
    budget.spend(numel * dtype.itemsize, f"tensor of size {ref.size}")
    data = storage.data
    view = np.lib.stride_tricks.as_strided(
        data[offset:],
        shape=ref.size,
        strides=tuple(s * data.dtype.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=dtype, order="C")


def _too_deep(source, depth):
    return UnsafeArchiveError(
        f"{source} nests objects deeper than {MAX_DEPTH} levels. Received: a path "
        f"of at least {depth} levels"
    )


def _materialize(root, budget):
    """Replaces tensor references by arrays, all the way down.

    Each object is rebuilt once and shared wherever the pickle shares it, so
    the work is linear in the pickle however often references repeat.
    """
    done = {}  # id -> rebuilt object
    active = set()  # ids being rebuilt: meeting one again is a cycle

    def visit(obj, depth):
        if isinstance(obj, str | int | float | bytes | type(None)):
            return obj
        key = id(obj)
        if key in done:
            return done[key]
        if key in active:
            raise UnsafeArchiveError(
                f"{budget.source} holds an object that contains itself "
                f"(a {type(obj).__name__}); a weights file never does"
            )
        if depth > MAX_DEPTH:
            raise _too_deep(budget.source, depth)
        active.add(key)
        if isinstance(obj, _TensorRef):
            result = _tensor(obj, budget)
        elif isinstance(obj, dict):
            result = {k: visit(v, depth + 1) for k, v in obj.items()}
        elif isinstance(obj, list):
            result = [visit(v, depth + 1) for v in obj]
        elif isinstance(obj, tuple):
            result = tuple(visit(v, depth + 1) for v in obj)
        elif isinstance(obj, _ModuleRecord):
            obj.state = visit(obj.state or {}, depth + 1)
            result = obj
        else:
            result = obj
        active.discard(key)
        done[key] = result
        return result

    return visit(root, 0)


def _flatten(root, source, pickle_size):
    """Names every tensor and attribute by its dotted path from the root.

    In a tree each entry costs its pickle at least one opcode, so a walk
    longer than the pickle's size means shared dicts multiplying the paths.
    """
    tensors, attributes, module_types = {}, {}, {}
    visits = 0

    def walk(obj, prefix, depth):
        nonlocal visits
        visits += 1
        if visits > pickle_size:
            raise UnsafeArchiveError(
                f"{source} names more entries than its pickle has bytes "
                f"({pickle_size}): shared modules or dicts multiply its paths, "
                "which a weights file never does"
            )
        if depth > MAX_DEPTH:
            raise _too_deep(source, depth)
        if len(prefix) > MAX_NAME_LENGTH:
            raise UnsafeArchiveError(
                f"{source} names an entry in more than {MAX_NAME_LENGTH} characters. "
                f"Received: {_short(prefix)}"
            )
        if isinstance(obj, np.ndarray):
            tensors[prefix] = obj
            return
        if isinstance(obj, _ModuleRecord):
            module_types[prefix] = obj.torch_type
            items = (obj.state or {}).items()
        elif isinstance(obj, dict):
            items = obj.items()
        elif prefix:
            attributes[prefix] = obj
            return
        else:
            raise CorruptArchiveError(
                f"{source}: a PyTorch archive of weights must hold a state dict or a "
                f"TorchScript module. Received: {type(obj).__name__}"
            )
        for key, value in items:
            if not isinstance(key, str | int):
                raise CorruptArchiveError(
                    f"{source}: names in a state dict or module must be strings. "
                    f"Received: a {type(key).__name__} key"
                )
            if isinstance(obj, _ModuleRecord) and key in _SKIPPED_ATTRIBUTES:
                continue
            walk(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)

    walk(root, "", 0)
    return tensors, attributes, module_types


def _member(archive, info, path, limit=None, most=None):
    """One zip member's bytes (the first `limit` of them), read within bounds.

    A member larger than `most` bytes is refused.
    """
    what = f"{path}: member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"{what} is encrypted; torch never encrypts")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsafeArchiveError(
            f"{what} uses compression method {info.compress_type}. Expected: stored "
            f"({zipfile.ZIP_STORED}, as torch writes) or deflated ({zipfile.ZIP_DEFLATED})"
        )
    if (
        info.file_size > RATIO_EXEMPT_BYTES
        and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size
    ):
        raise UnsafeArchiveError(
            f"{what} inflates {info.compress_size} bytes to {info.file_size}, a ratio "
            f"past {MAX_COMPRESSION_RATIO} (a zip bomb). torch stores members "
            "uncompressed. Expected: a ratio of at most "
            f"{MAX_COMPRESSION_RATIO}. Received: "
            f"{info.file_size / max(info.compress_size, 1):.0f}"
        )
    if most is not None and info.file_size > most:
        raise UnsafeArchiveError(
            f"{what} is {info.file_size} bytes. Expected: at most {most}"
        )
    size = info.file_size if limit is None else min(limit, info.file_size)
    with archive.open(info) as f:
        data = f.read(size)
    if len(data) != size:
        raise CorruptArchiveError(
            f"{what} is truncated. Expected {size} bytes. Received: {len(data)}"
        )
    return data


def _read_zip(path, budget):
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        pickles = [n for n in infos if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CorruptArchiveError(
                f"{path} is a zip file but not a PyTorch archive. Expected one "
                f"'<prefix>/data.pkl' entry. Received entries: {_short(list(infos))}"
            )
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in infos:
            byteorder = _member(archive, infos[prefix + "byteorder"], path, 16)
            byteorder = byteorder.decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise CorruptArchiveError(
                    f"{path} names an unknown byte order. Expected 'little' or 'big'. "
                    f"Received: {byteorder!r}"
                )
        storages = {}
        unpickler = RestrictedUnpickler(
            io.BytesIO(
                _member(archive, infos[pickles[0]], path, most=MAX_PICKLE_BYTES)
            ),
            storages,
            source=f"{path} (member {pickles[0]!r})",
        )
        root = unpickler.load()
        # Every declared size is checked against its member, and all of them
        # against the budget, before any storage is read.
        members = {}
        for key, storage in storages.items():
            entry = f"{prefix}data/{key}"
            if entry not in infos:
                raise CorruptArchiveError(
                    f"{path} references storage {key!r} but lacks the entry {entry!r}"
                )
            nbytes = storage.numel * _ITEMSIZE[storage.type_name]
            if infos[entry].file_size < nbytes:
                raise CorruptArchiveError(
                    f"{path}: storage {key!r} is truncated. Expected {nbytes} bytes "
                    f"({storage.numel} x {storage.type_name}). Received: a member of "
                    f"{infos[entry].file_size} bytes"
                )
            budget.spend(nbytes + _widened_nbytes(storage), f"storage {key!r}")
            members[key] = infos[entry], nbytes
        for key, (entry, nbytes) in members.items():
            raw = _member(archive, entry, path, nbytes)
            storages[key].data = _decode_storage(raw, storages[key], byteorder, path)
    return root, unpickler.size


def _read_legacy(path, budget):
    size = os.path.getsize(path)
    budget.spend(size, "the legacy file, read whole")
    with open(path, "rb") as f:
        data = f.read(size)
    f = io.BytesIO(data)
    header = RestrictedUnpickler(f, {}, source=f"{path} (magic number)").load()
    if header != _LEGACY_MAGIC:
        raise CorruptArchiveError(
            f"{path} is neither a zip nor a legacy PyTorch archive. Expected the "
            f"magic number {_LEGACY_MAGIC:#x}. Received: {_short(header)}"
        )
    protocol = RestrictedUnpickler(f, {}, source=f"{path} (protocol)").load()
    if protocol != 1001:
        raise CorruptArchiveError(
            f"{path} uses legacy protocol {_short(protocol)}. Expected: 1001"
        )
    sys_info = RestrictedUnpickler(f, {}, source=f"{path} (system info)").load()
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    byteorder = "little" if little else "big"
    storages = {}
    unpickler = RestrictedUnpickler(f, storages, legacy=True, source=path)
    root = unpickler.load()
    keys = RestrictedUnpickler(f, {}, source=f"{path} (storage keys)").load()
    if (
        not isinstance(keys, list)
        or not all(isinstance(k, str) for k in keys)
        or len(keys) != len(storages)
        or set(keys) != set(storages)
    ):
        raise CorruptArchiveError(
            f"{path}: the stored keys do not match the referenced storages. "
            f"Expected: {_short(sorted(storages))} Received: {_short(keys)}"
        )
    for key in keys:
        storage = storages[key]
        budget.spend(_widened_nbytes(storage), f"storage {key!r}")
        head = f.read(8)
        if len(head) != 8:
            raise CorruptArchiveError(
                f"{path} is truncated: storage {key!r} has no element count. "
                f"Expected 8 bytes at byte {f.tell() - len(head)}. Received: {len(head)}"
            )
        (numel,) = struct.unpack("<q" if little else ">q", head)
        if numel != storage.numel:
            raise CorruptArchiveError(
                f"{path}: storage {key!r} holds {numel} elements. Expected: {storage.numel}"
            )
        nbytes = numel * _ITEMSIZE[storage.type_name]
        start = f.tell()
        raw = memoryview(data)[start : start + nbytes]
        f.seek(start + len(raw))
        storage.data = _decode_storage(raw, storage, byteorder, path)
    return root, unpickler.size


def read_torch_archive(path, max_bytes=DEFAULT_MAX_BYTES):
    """Reads a PyTorch state dict or TorchScript file into a `TorchArchive`.

    Nothing from the file is executed: see `RestrictedUnpickler`. Tensors
    come back as C-contiguous numpy arrays in native byte order. The work
    is bounded by the file's size (see the module's limits), whatever the
    file claims.

    Args:
        path: a `.pt`/`.pth` file in the zip or the legacy layout.
        max_bytes: the most bytes the decoded storages and tensors may take.

    Raises:
        UnsafeArchiveError: the file names a global other than the tensor
            builders, describes a tensor outside its storage, or passes a
            limit (`max_bytes`, compression ratio, nesting, shared references).
        CorruptArchiveError: the file is not a PyTorch archive, or is
            truncated or malformed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No PyTorch archive at {path!r}")
    budget = _Budget(max_bytes, path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK") or (head and _ZIP_MAGIC.startswith(head)):
        try:
            if not zipfile.is_zipfile(path):
                raise zipfile.BadZipFile("no end of central directory record")
            root, pickle_size = _read_zip(path, budget)
        except (UnsafeArchiveError, CorruptArchiveError):
            raise
        except (
            zipfile.BadZipFile,
            EOFError,
            zlib.error,
            struct.error,
            ValueError,
            NotImplementedError,  # zip features torch never uses
            OSError,  # a seek past any file, from a forged offset
        ) as e:
            if isinstance(e, OSError) and e.errno != errno.EINVAL:
                raise  # a failing disk, not a bad file
            # A cut .pt loses the zip's directory, which sits at its end.
            raise CorruptArchiveError(
                f"{path} starts like a zip archive (torch's layout) but cannot be "
                f"read as one: the file is truncated or corrupt ({e}). Expected a "
                f"complete zip archive. Received: {size} bytes; download or copy it "
                "again"
            ) from None
        layout = "zip"
    elif head.startswith(b"\x80"):
        root, pickle_size = _read_legacy(path, budget)
        layout = "legacy"
    else:
        raise CorruptArchiveError(
            f"{path} is not a PyTorch archive (it is truncated, corrupt or another "
            "kind of file). Expected a zip archive (starting PK\\x03\\x04) or a "
            f"legacy pickle (starting \\x80). Received: {size} bytes starting {head!r}"
        )
    root = _materialize(root, budget)
    tensors, attributes, module_types = _flatten(root, path, pickle_size)
    return TorchArchive(
        tensors=tensors,
        attributes=attributes,
        module_types=module_types,
        layout=layout,
        torchscript=isinstance(root, _ModuleRecord),
    )
