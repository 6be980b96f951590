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

```python
archive = read_torch_archive("fid_inception_2015_12_05.pt")
archive.tensors["net.layers.conv.weight"].shape  # (32, 3, 3, 3)
archive.attributes["net.layers.conv.stride"]     # 2
```
"""

import dataclasses
import io
import os
import pickle
import re
import struct
import zipfile

import numpy as np

__all__ = [
    "RestrictedUnpickler",
    "TorchArchive",
    "UnsafeArchiveError",
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

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCHSCRIPT_CLASS = re.compile(r"^__torch__(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Module attributes that say nothing about the network.
_SKIPPED_ATTRIBUTES = {"training", "_is_full_backward_hook", "_is_full_backward_hook_"}


class UnsafeArchiveError(pickle.UnpicklingError):
    """An archive asked for something a weights file never needs."""


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


# ----------------------------------------------------------- safe builders
class _Sealed:
    """Refuses pickle's BUILD, so a file cannot rewrite a checked object."""

    def __setstate__(self, state):
        raise UnsafeArchiveError(
            f"An archive may not set the state of a {type(self).__name__.lstrip('_')}. "
            f"Received: {str(state)[:100]}"
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
    if not isinstance(value, tuple | list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise UnsafeArchiveError(
            f"A tensor's {what} must be a tuple of non-negative ints. Received: {value!r}"
        )
    return tuple(value)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    if not isinstance(storage, _Storage | _StorageView):
        raise UnsafeArchiveError(
            "A tensor must be rebuilt from a storage. "
            f"Received: {type(storage).__name__}"
        )
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise UnsafeArchiveError(
            f"A tensor's storage offset must be a non-negative int. Received: {storage_offset!r}"
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
    if not isinstance(items, list):
        raise UnsafeArchiveError(f"Expected a list. Received: {type(items).__name__}")
    return list(items)


def _ordered_dict(*args):
    # A state dict's OrderedDict is rebuilt as a plain dict (insertion order
    # is kept). Its SETITEMS fill it afterwards.
    if args not in ((), ([],)):
        raise UnsafeArchiveError(
            f"OrderedDict must be rebuilt empty. Received arguments: {args!r}"
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
    `persistent_load` accepts only storage references.

    Args:
        file: a binary file object positioned at a pickle.
        storages: dict in which the storages met are collected by key.
        legacy: whether persistent ids follow the legacy (non-zip) layout.
    """

    def __init__(self, file, storages, legacy=False):
        super().__init__(file)
        self.storages = storages
        self.legacy = legacy
        self._record_classes = {}

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
            f"Refusing to load the global {full!r} from a PyTorch archive: tfgen reads "
            "only tensors and TorchScript module records, and never runs code named "
            f"by the file. Expected one of {allowed} or a __torch__.* module class. "
            f"Received: {full}"
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeArchiveError(
                f"A persistent id must be a ('storage', ...) tuple. Received: {pid!r}"[
                    :300
                ]
            )
        expected_length = 6 if self.legacy else 5
        if len(pid) != expected_length:
            raise UnsafeArchiveError(
                f"A storage reference must have {expected_length} fields. Received: {pid!r}"
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
                f"location, numel). Received: {pid!r}"
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
                or not all(isinstance(v, int) for v in view[1:])
                or view[1] < 0
                or view[1] + view[2] > numel
            ):
                raise UnsafeArchiveError(
                    f"A storage view must be (key, offset, size) inside its storage. "
                    f"Received: {view!r}"
                )
            return _StorageView(storage, view[1], view[2])
        return storage


# ------------------------------------------------------------------ reading
def _decode_storage(raw, storage, byteorder, source):
    itemsize = _ITEMSIZE[storage.type_name]
    nbytes = storage.numel * itemsize
    if len(raw) < nbytes:
        raise ValueError(
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


def _tensor(ref):
    storage = ref.storage
    offset = ref.offset
    if isinstance(storage, _StorageView):
        offset += storage.offset
        limit = storage.offset + storage.numel
        storage = storage.base
    else:
        limit = storage.numel
    if storage.data is None:
        raise ValueError(f"Storage {storage.key!r} was referenced but never stored")
    # Strided views are checked against the storage's bounds before numpy
    # touches memory: a crafted size/stride must not read past the buffer.
    last = offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride) if n > 0)
    if any(n == 0 for n in ref.size):
        return np.zeros(ref.size, dtype=storage.data.dtype.newbyteorder("="))
    if last >= limit:
        raise UnsafeArchiveError(
            f"A tensor of size {ref.size} and stride {ref.stride} at offset {offset} "
            f"reaches past its storage of {limit} elements"
        )
    data = storage.data
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[offset:],
        shape=ref.size,
        strides=tuple(s * itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=data.dtype.newbyteorder("="), order="C")


def _materialize(obj):
    """Replaces tensor references by arrays, all the way down."""
    if isinstance(obj, _TensorRef):
        return _tensor(obj)
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    if isinstance(obj, _ModuleRecord):
        obj.state = _materialize(obj.state or {})
    return obj


def _flatten(obj, prefix, tensors, attributes, module_types):
    if isinstance(obj, np.ndarray):
        tensors[prefix] = obj
    elif isinstance(obj, _ModuleRecord):
        module_types[prefix] = obj.torch_type
        for key, value in (obj.state or {}).items():
            if key in _SKIPPED_ATTRIBUTES:
                continue
            _flatten(
                value,
                f"{prefix}.{key}" if prefix else str(key),
                tensors,
                attributes,
                module_types,
            )
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(
                value,
                f"{prefix}.{key}" if prefix else str(key),
                tensors,
                attributes,
                module_types,
            )
    elif prefix:
        attributes[prefix] = obj
    else:
        raise ValueError(
            "A PyTorch archive of weights must hold a state dict or a TorchScript "
            f"module. Received: {type(obj).__name__}"
        )


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(
                f"{path} is a zip file but not a PyTorch archive. Expected one "
                f"'<prefix>/data.pkl' entry. Received entries: {names[:10]}"
            )
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode("ascii").strip()
            if byteorder not in ("little", "big"):
                raise ValueError(
                    f"{path} names an unknown byte order. Expected 'little' or 'big'. "
                    f"Received: {byteorder!r}"
                )
        storages = {}
        root = RestrictedUnpickler(
            io.BytesIO(archive.read(pickles[0])), storages
        ).load()
        for key, storage in storages.items():
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise ValueError(
                    f"{path} references storage {key!r} but lacks the entry {entry!r}"
                )
            storage.data = _decode_storage(
                archive.read(entry), storage, byteorder, path
            )
    return root, "zip"


def _read_legacy(path):
    with open(path, "rb") as f:
        header = RestrictedUnpickler(f, {}).load()
        if header != _LEGACY_MAGIC:
            raise ValueError(
                f"{path} is neither a zip nor a legacy PyTorch archive. Expected the "
                f"magic number {_LEGACY_MAGIC:#x}. Received: {header!r}"[:300]
            )
        protocol = RestrictedUnpickler(f, {}).load()
        if protocol != 1001:
            raise ValueError(
                f"{path} uses legacy protocol {protocol!r}. Expected: 1001"
            )
        sys_info = RestrictedUnpickler(f, {}).load()
        little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
        byteorder = "little" if little else "big"
        storages = {}
        root = RestrictedUnpickler(f, storages, legacy=True).load()
        keys = RestrictedUnpickler(f, {}).load()
        if not isinstance(keys, list) or set(keys) != set(storages):
            raise ValueError(
                f"{path}: the stored keys do not match the referenced storages. "
                f"Expected: {sorted(storages)[:5]}... Received: {str(keys)[:100]}"
            )
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q" if little else ">q", f.read(8))
            if numel != storage.numel:
                raise ValueError(
                    f"{path}: storage {key!r} holds {numel} elements. Expected: {storage.numel}"
                )
            raw = f.read(numel * _ITEMSIZE[storage.type_name])
            storage.data = _decode_storage(raw, storage, byteorder, path)
    return root, "legacy"


def read_torch_archive(path):
    """Reads a PyTorch state dict or TorchScript file into a `TorchArchive`.

    Nothing from the file is executed: see `RestrictedUnpickler`. Tensors
    come back as C-contiguous numpy arrays in native byte order.

    Args:
        path: a `.pt`/`.pth` file in the zip or the legacy layout.

    Raises:
        UnsafeArchiveError: the file names a global other than the tensor
            builders, or describes a tensor outside its storage.
        ValueError: the file is not a PyTorch archive, or is truncated.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No PyTorch archive at {path!r}")
    if zipfile.is_zipfile(path):
        root, layout = _read_zip(path)
    else:
        root, layout = _read_legacy(path)
    root = _materialize(root)
    tensors, attributes, module_types = {}, {}, {}
    _flatten(root, "", tensors, attributes, module_types)
    return TorchArchive(
        tensors=tensors,
        attributes=attributes,
        module_types=module_types,
        layout=layout,
        torchscript=isinstance(root, _ModuleRecord),
    )
