"""Tiny writers of PyTorch's two file layouts, for tests that do without torch.

They emit pickle opcodes by hand: the globals they name live in torch, which
the tests do not import. `tests/test_torch_archive.py` builds forged files
from the same pieces.
"""

import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
EMPTY_ORDERED_DICT = b"ccollections\nOrderedDict\n)R"
STORAGE_NAMES = {
    "float32": "FloatStorage",
    "int64": "LongStorage",
    "float16": "HalfStorage",
}


def text_op(s):
    """BINUNICODE: pushes the string `s`."""
    data = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def int_op(i):
    """BININT, or LONG1 past 32 bits: pushes the int `i`."""
    if -(2**31) <= i < 2**31:
        return b"J" + struct.pack("<i", i)
    data = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def ints_op(values):
    """Pushes a tuple of ints."""
    return b"(" + b"".join(int_op(v) for v in values) + b"t"


def storage_id_op(key, storage_name, numel, legacy=False):
    """BINPERSID of torch's ('storage', torch.<Type>Storage, key, 'cpu', numel)."""
    return (
        b"("
        + text_op("storage")
        + f"ctorch\n{storage_name}\n".encode()
        + text_op(key)
        + text_op("cpu")
        + int_op(numel)
        + (b"N" if legacy else b"")
        + b"tQ"
    )


def tensor_opcodes(key, storage, offset, size, stride, legacy=False):
    """Pushes torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""
    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n("
        + storage_id_op(key, STORAGE_NAMES[str(storage.dtype)], storage.size, legacy)
        + int_op(offset)
        + ints_op(size)
        + ints_op(stride)
        + b"\x89"
        + EMPTY_ORDERED_DICT
        + b"tR"
    )


def state_dict_pickle(entries, legacy=False):
    """entries: name -> (storage_key, flat storage, offset, size, stride)."""
    body = b"".join(
        text_op(name) + tensor_opcodes(*spec, legacy=legacy)
        for name, spec in entries.items()
    )
    return b"\x80\x02" + EMPTY_ORDERED_DICT + b"(" + body + b"u."


def contiguous_entries(tensors):
    """name -> array as `state_dict_pickle` entries, one storage per tensor."""
    entries, storages = {}, {}
    for i, (name, array) in enumerate(tensors.items()):
        array = np.asarray(array, order="C")  # ascontiguousarray makes 0-d 1-d
        strides = tuple(s // array.itemsize for s in array.strides)
        entries[name] = (str(i), array.reshape(-1), 0, array.shape, strides)
        storages[str(i)] = array.reshape(-1)
    return entries, storages


def write_torch_zip(
    path,
    tensors=None,
    entries=None,
    storages=None,
    data_pkl=None,
    compression=zipfile.ZIP_STORED,
):
    """Writes torch's zip layout: archive/data.pkl and archive/data/<key>."""
    if tensors is not None:
        entries, storages = contiguous_entries(tensors)
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("archive/data.pkl", data_pkl or state_dict_pickle(entries))
        z.writestr("archive/byteorder", "little")
        for key, storage in (storages or {}).items():
            z.writestr(
                f"archive/data/{key}",
                storage.astype(storage.dtype.newbyteorder("<")).tobytes(),
            )
        z.writestr("archive/version", "3\n")
    return path


def write_torch_legacy(path, tensors):
    """Writes torch's legacy layout: five pickles, then the raw storages."""
    entries, storages = contiguous_entries(tensors)
    with open(path, "wb") as f:
        f.write(pickle.dumps(LEGACY_MAGIC, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(
            pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
        )
        f.write(state_dict_pickle(entries, legacy=True))
        f.write(pickle.dumps(list(storages), protocol=2))
        for storage in storages.values():
            f.write(struct.pack("<q", storage.size))
            f.write(storage.astype(storage.dtype.newbyteorder("<")).tobytes())
    return path
