"""The PyTorch archive reader: it reads real layouts and refuses forged ones.

Every forged file here is built by hand (torch is not needed) and must be
refused quickly, in little memory, with a message naming the file: billion-
laughs pickles, memo and length bombs, stride-0 tensors, storages larger than
their members, a deflate bomb, code-execution pickles, and every truncation
and byte flip of a small valid archive.
"""

import io
import os
import pickle
import re
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from reliability_log import record
from torch_archive_writers import (
    EMPTY_ORDERED_DICT,
    LEGACY_MAGIC,
    int_op,
    ints_op,
    state_dict_pickle,
    storage_id_op,
    text_op,
    write_torch_legacy,
    write_torch_zip,
)

from tfgen import metrics
from tfgen.metrics.torch_archive import (
    CorruptArchiveError,
    UnsafeArchiveError,
    read_torch_archive,
)

pytestmark = pytest.mark.timeout(120)

# The bar is 10 s and 1 GB for any file of 1 kB; these are far below.
SECONDS = 2.0
PEAK_BYTES = 64 << 20


def measured_read(path, trace=True, **kwargs):
    """read_torch_archive(path): its error (or None), seconds and peak traced bytes.

    Tracing makes a read ~5 times slower, so loops over many files trace
    only some of them (`trace=False` gives a peak of 0).
    """
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        read_torch_archive(path, **kwargs)
        error = None
    except Exception as e:  # noqa: BLE001 - the callers check the type
        error = e
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
    record(
        None,  # named after the test
        "read" if error is None else f"refused: {type(error).__name__}",
        seconds=seconds,
        clock="wall",
        peak_bytes=peak if trace else None,
        memory="peak traced Python allocations",
        max_seconds=SECONDS,
        max_bytes=PEAK_BYTES,
    )
    return error, seconds, peak


def assert_refused(path, match, error=ValueError, **kwargs):
    caught, seconds, peak = measured_read(path, **kwargs)
    assert caught is not None, f"{path} was read, not refused"
    assert isinstance(caught, error), repr(caught)
    assert isinstance(caught, UnsafeArchiveError | CorruptArchiveError), repr(caught)
    assert str(path) in str(caught), str(caught)
    assert re.search(match, str(caught)), str(caught)
    assert seconds < SECONDS, f"refused after {seconds:.1f} s"
    assert peak < PEAK_BYTES, f"refused after tracing {peak / 2**20:.0f} MiB"
    return caught


def forged_zip(tmp_path, data_pkl, name="forged.pt", storages=None):
    """A zip of data.pkl and its storages only, as small as torch's layout allows."""
    members = [stored("archive/data.pkl", data_pkl)]
    for key, storage in (storages or {}).items():
        members.append(stored(f"archive/data/{key}", storage.tobytes()))
    path = tmp_path / name
    path.write_bytes(raw_zip(members))
    return str(path)


def binget(i):
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def binput(i):
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def raw_zip(members):
    """A zip archive from (name, method, payload, file_size, crc) members.

    The payload is written as given, so a member may claim any size: this is
    how a deflate bomb is made without inflating it here.
    """
    out = io.BytesIO()
    central = b""
    for name, method, payload, file_size, crc in members:
        name = name.encode()
        offset = out.tell()
        sizes = (crc, len(payload), file_size, len(name))
        out.write(
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 33, *sizes, 0)
        )
        out.write(name + payload)
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                33,
                *sizes,
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    start = out.tell()
    out.write(central)
    out.write(
        struct.pack(
            "<IHHHHIIH",
            0x06054B50,
            0,
            0,
            len(members),
            len(members),
            len(central),
            start,
            0,
        )
    )
    return out.getvalue()


def stored(name, data):
    return (name, zipfile.ZIP_STORED, data, len(data), zlib.crc32(data))


# ------------------------------------------------------------ real layouts
def test_state_dict_layouts_read_back(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "w": rng.normal(size=(2, 3, 4)).astype("float32"),
        "n": np.arange(5, dtype="int64"),
        "h": rng.normal(size=(3,)).astype("float16"),
        "scalar": np.array(7, dtype="int64"),
        "empty": np.zeros((0, 4), "float32"),
    }
    for path in (
        write_torch_zip(str(tmp_path / "z.pth"), tensors),
        write_torch_zip(
            str(tmp_path / "d.pth"), tensors, compression=zipfile.ZIP_DEFLATED
        ),
        write_torch_legacy(str(tmp_path / "l.pth"), tensors),
    ):
        archive = metrics.read_torch_archive(path)
        assert list(archive.tensors) == list(tensors) and not archive.torchscript
        for name, array in tensors.items():
            np.testing.assert_array_equal(archive.tensors[name], array)
            assert archive.tensors[name].dtype == array.dtype
            assert archive.tensors[name].shape == array.shape


def test_strided_views_and_their_bounds(tmp_path):
    storage = np.arange(12, dtype="float32")
    # A transposed 3x2 view starting at element 2 of one storage.
    entries = {"t": ("0", storage, 2, (3, 2), (1, 3))}
    path = write_torch_zip(
        str(tmp_path / "v.pth"), entries=entries, storages={"0": storage}
    )
    np.testing.assert_array_equal(
        metrics.read_torch_archive(path).tensors["t"], storage[2:8].reshape(2, 3).T
    )
    entries = {"t": ("0", storage, 2, (3, 4), (1, 3))}  # would read element 13
    path = write_torch_zip(
        str(tmp_path / "oob.pth"), entries=entries, storages={"0": storage}
    )
    assert_refused(path, "reaches past its storage", UnsafeArchiveError)


def test_the_real_fid_archive_reads(tmp_path):
    data_dir = os.environ.get("TFGEN_DATA_DIR") or os.path.expanduser("~/tfgen_data")
    path = os.path.join(data_dir, "fid_inception_2015_12_05.pt")
    if not os.path.isfile(path):
        pytest.skip(f"no {path} (written by shared/datasets/prepare.py)")
    archive = read_torch_archive(path)
    assert archive.layout == "zip" and archive.torchscript
    assert (len(archive.tensors), len(archive.attributes)) == (376, 188)
    assert archive.tensors["net.layers.conv.weight"].shape == (32, 3, 3, 3)
    # Finding 11: a cut copy is called truncated, not a bad persistent id.
    with open(path, "rb") as f:
        head = f.read(100_000)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(head)
    caught = assert_refused(str(cut), "truncated", CorruptArchiveError)
    assert "persistent" not in str(caught)


# ------------------------------------------------------------------- code
def test_code_execution_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    command = text_op(f"touch {marker}")
    payloads = {
        "GLOBAL and REDUCE": b"\x80\x02cos\nsystem\n(" + command + b"tR.",
        "INST": b"(S'touch " + str(marker).encode() + b"'\nios\nsystem\n.",
        "OBJ": b"\x80\x02(cos\nsystem\n" + command + b"o.",
        "NEWOBJ": b"\x80\x02cos\nsystem\n" + command + b"\x85\x81.",
    }

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payloads["STACK_GLOBAL"] = pickle.dumps({"w": Evil()}, protocol=4)
    payloads["in a state dict"] = pickle.dumps({"w": Evil()}, protocol=2)
    for how, payload in payloads.items():
        path = forged_zip(tmp_path, payload, name=f"{how}.pt")
        caught = assert_refused(path, "Refusing to load the global", UnsafeArchiveError)
        assert "os.system" in str(caught) or "posix.system" in str(caught), how
    # The legacy layout goes through the same unpickler, first pickle included.
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(payloads["GLOBAL and REDUCE"])
    assert_refused(str(legacy), "os.system", UnsafeArchiveError)
    # So does the FID loader, whose error the CLI prints as a ValueError.
    with pytest.raises(ValueError, match="os.system"):
        metrics.load_fid_inception(
            forged_zip(tmp_path, payloads["GLOBAL and REDUCE"]), cache_dir=str(tmp_path)
        )
    # A TorchScript class name is only ever an inert record.
    inert = b"\x80\x02c__torch__.os\nsystem\n(" + command + b"tR."
    archive = read_torch_archive(forged_zip(tmp_path, inert, name="inert.pt"))
    assert archive.torchscript and archive.tensors == {}
    assert not marker.exists()


def test_persistent_ids_must_be_storages(tmp_path):
    payload = b"\x80\x02(" + text_op("module") + text_op("os") + b"tQ."
    assert_refused(forged_zip(tmp_path, payload), "persistent id", UnsafeArchiveError)
    # Storage keys name zip entries: no paths.
    storage = np.zeros(2, "float32")
    entries = {"t": ("../../etc/passwd", storage, 0, (2,), (1,))}
    path = tmp_path / "path.pt"
    path.write_bytes(raw_zip([stored("archive/data.pkl", state_dict_pickle(entries))]))
    assert_refused(str(path), "storage reference", UnsafeArchiveError)


# ------------------------------------------------------ shared references
def list_laughs(levels=40, width=2):
    """{"x": l40}, where l(i+1) holds l(i) twice: 2**40 lists once expanded."""
    p = b"\x80\x02}" + text_op("x") + b"]" + binput(0) + b"0"
    for i in range(levels):
        p += b"](" + binget(i) * width + b"e" + binput(i + 1) + b"0"
    return p + binget(levels) + b"s."


def tuple_key_laughs(levels=40):
    """A dict keyed by a tuple of tuples of ... 2**40 parts to hash."""
    p = b"\x80\x02}" + b")" + binput(0) + b"0"
    for i in range(levels):
        p += binget(i) * 2 + b"\x86" + binput(i + 1) + b"0"
    return p + binget(levels) + b"Ns."


def dict_laughs_top_down(levels=30):
    """Empty dicts d0..d30, then d(i)["a"] = d(i)["b"] = d(i+1), in that order.

    Each dict is still empty when its parent takes it, so the growth shows
    only once the pickle is read: 2**30 dotted names.
    """
    p = b"\x80\x02" + b"".join(b"}" + binput(i) + b"0" for i in range(levels + 1))
    for i in range(levels):
        p += binget(i) + b"(" + text_op("a") + binget(i + 1)
        p += text_op("b") + binget(i + 1) + b"u0"
    return p + binget(0) + b"."


def test_shared_references_do_not_multiply_the_work(tmp_path):
    for name, payload, match in (
        ("lists.pt", list_laughs(), "past the limits of"),
        ("tuples.pt", tuple_key_laughs(), "past the limits of"),
        ("dicts.pt", dict_laughs_top_down(), "names more entries than"),
    ):
        path = forged_zip(tmp_path, payload, name=name)
        assert os.path.getsize(path) <= 1024
        assert_refused(path, match, UnsafeArchiveError)
    # A tuple of 2**19 parts may be built, but not hashed as a key 100 times.
    key = tuple_key_laughs(18)[: -len(b"Ns.")]
    p = key + b"0" + b"".join(b"}" + binget(18) + b"Ns0" for _ in range(99))
    p += b"}" + binget(18) + b"Ns."
    assert_refused(
        forged_zip(tmp_path, p), "dict keys or set items", UnsafeArchiveError
    )
    # Lists shared top-down are read once each and stay shared: linear work.
    levels = 40
    p = b"\x80\x02" + b"".join(b"]" + binput(i) + b"0" for i in range(levels + 1))
    for i in range(levels):
        p += binget(i) + b"(" + binget(i + 1) * 2 + b"e0"
    p += b"}" + text_op("x") + binget(0) + b"s."
    path = forged_zip(tmp_path, p, name="shared.pt")
    start = time.perf_counter()
    value = read_torch_archive(path).attributes["x"]
    assert time.perf_counter() - start < SECONDS
    for _ in range(levels):
        assert value[0] is value[1]
        value = value[0]
    assert value == []


def test_nesting_cycles_and_memo_bombs(tmp_path):
    deep = b"\x80\x02}" + text_op("x") + b"(" * 400 + b"]" + b"l" * 400 + b"s."
    assert_refused(forged_zip(tmp_path, deep), "past the limits of", UnsafeArchiveError)
    # Nested top-down, the walk over the unpickled objects finds the depth.
    n = 150
    p = b"\x80\x02" + b"".join(b"]" + binput(i) + b"0" for i in range(n + 1))
    p += b"".join(binget(i) + binget(i + 1) + b"a0" for i in range(n))
    p += b"}" + text_op("x") + binget(0) + b"s."
    assert_refused(forged_zip(tmp_path, p), "deeper than", UnsafeArchiveError)
    for cycle in (
        b"\x80\x02}" + text_op("x") + b"]" + binput(0) + binget(0) + b"as.",
        b"\x80\x02}" + binput(0) + text_op("x") + binget(0) + b"s.",
    ):
        assert_refused(
            forged_zip(tmp_path, cycle), "contains itself", UnsafeArchiveError
        )
    # An 11-byte pickle whose memo index would make the C unpickler clear
    # 2**31 slots (16 GiB).
    memo = b"\x80\x02}r" + struct.pack("<I", 2**30) + b"."
    assert_refused(forged_zip(tmp_path, memo), "memo entry", UnsafeArchiveError)
    # Lengths past the end are truncations, never allocations.
    for huge in (
        b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b".",  # BINBYTES8
        b"\x80\x04\x8d" + struct.pack("<Q", 2**40) + b".",  # BINUNICODE8
        b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"}.",  # FRAME
    ):
        assert_refused(forged_zip(tmp_path, huge), "truncated", CorruptArchiveError)


# -------------------------------------------------------- tensors, storages
def one_tensor_pickle(storage_name, numel, offset, size, stride, key="0"):
    return (
        b"\x80\x02}"
        + text_op("t")
        + b"ctorch._utils\n_rebuild_tensor_v2\n("
        + storage_id_op(key, storage_name, numel)
        + int_op(offset)
        + ints_op(size)
        + ints_op(stride)
        + b"\x89"
        + EMPTY_ORDERED_DICT
        + b"tRs."
    )


def test_tensors_must_fit_their_storages(tmp_path):
    one = {"0": np.ones(1, "float32")}
    # 4 stored bytes standing for 1 GiB through stride 0.
    p = one_tensor_pickle("FloatStorage", 1, 0, (2**28,), (0,))
    path = forged_zip(tmp_path, p, name="stride0.pt", storages=one)
    assert os.path.getsize(path) <= 1024
    assert_refused(path, "no more elements than the storage holds", UnsafeArchiveError)
    # Overlapping strides: a million elements from two thousand.
    square = {"0": np.ones(2000, "float32")}
    p = one_tensor_pickle("FloatStorage", 2000, 0, (1000, 1000), (1, 1))
    assert_refused(
        forged_zip(tmp_path, p, storages=square), "reaches past", UnsafeArchiveError
    )
    p = one_tensor_pickle("FloatStorage", 2000, 1999, (2,), (1,))
    assert_refused(
        forged_zip(tmp_path, p, storages=square), "reaches past", UnsafeArchiveError
    )
    p = one_tensor_pickle("FloatStorage", 1, 0, (1,) * 65, (1,) * 65)
    assert_refused(
        forged_zip(tmp_path, p, storages=one),
        "at most 64 dimensions",
        UnsafeArchiveError,
    )
    # A stride-0 tensor no larger than its storage is still read.
    p = one_tensor_pickle("FloatStorage", 2000, 0, (3, 2), (0, 1))
    archive = read_torch_archive(forged_zip(tmp_path, p, storages=square))
    np.testing.assert_array_equal(archive.tensors["t"], np.ones((3, 2)))


def test_storages_must_fit_their_members_and_the_budget(tmp_path):
    one = {"0": np.ones(1, "float32")}
    for numel in (2**28, 2**40):
        p = one_tensor_pickle("FloatStorage", numel, 0, (1,), (1,))
        path = forged_zip(tmp_path, p, storages=one)
        assert_refused(
            path,
            f"Expected {numel * 4} bytes.*a member of 4 bytes",
            CorruptArchiveError,
        )
    # Many tensors over one storage are counted against max_bytes.
    storage = np.arange(1000, dtype="float32")
    entries = {f"t{i}": ("0", storage, 0, (1000,), (1,)) for i in range(10)}
    path = write_torch_zip(
        str(tmp_path / "views.pt"), entries=entries, storages={"0": storage}
    )
    assert len(read_torch_archive(path).tensors) == 10
    assert_refused(path, "max_bytes", UnsafeArchiveError, max_bytes=20_000)
    legacy = write_torch_legacy(str(tmp_path / "l.pth"), {"w": storage})
    assert_refused(legacy, "max_bytes", UnsafeArchiveError, max_bytes=1000)


def test_deflate_bombs_are_refused_before_inflating(tmp_path):
    # 1 GiB of zeros as 1 MB of deflate: one 1 MiB block, repeated after
    # full flushes, so the bomb is built without compressing 1 GiB here.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = b"\0" * (1 << 20)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    bomb = block * 1024 + compressor.flush()
    crc = 0x5B64C2B0  # zlib.crc32 of 2**30 zero bytes
    assert len(bomb) < 1.1e6
    p = one_tensor_pickle("FloatStorage", 2**28, 0, (2**28,), (1,))
    path = tmp_path / "bomb.pt"
    path.write_bytes(
        raw_zip(
            [
                stored("archive/data.pkl", p),
                ("archive/data/0", zipfile.ZIP_DEFLATED, bomb, 1 << 30, crc),
            ]
        )
    )
    assert_refused(str(path), "zip bomb", UnsafeArchiveError)
    # The pickle itself as a bomb.
    path.write_bytes(
        raw_zip([("archive/data.pkl", zipfile.ZIP_DEFLATED, bomb, 1 << 30, crc)])
    )
    assert_refused(str(path), "zip bomb", UnsafeArchiveError)
    # A member too small for its storage is refused before it is read.
    data = np.arange(4, dtype="float32").tobytes()
    honest = stored("archive/data/0", data)
    lying = honest[:3] + (4, zlib.crc32(data[:4]))
    p = one_tensor_pickle("FloatStorage", 4, 0, (4,), (1,))
    path.write_bytes(raw_zip([stored("archive/data.pkl", p), lying]))
    assert_refused(str(path), "truncated", CorruptArchiveError)


# ------------------------------------------------- truncations, corruptions
def small_archives(tmp_path):
    tensors = {
        "w": np.arange(6, dtype="float32").reshape(2, 3),
        "n": np.arange(2, dtype="int64"),
    }
    return {
        "zip": write_torch_zip(str(tmp_path / "small.pt"), tensors),
        "legacy": write_torch_legacy(str(tmp_path / "small_legacy.pt"), tensors),
    }


def test_every_truncation_is_called_truncated(tmp_path):
    for layout, path in small_archives(tmp_path).items():
        with open(path, "rb") as f:
            data = f.read()
        assert read_torch_archive(path).layout == layout
        for length in range(len(data)):
            # New files: rewriting one would flush the disk each time (ext4).
            cut = str(tmp_path / f"cut_{layout}_{length}.pt")
            with open(cut, "wb") as f:
                f.write(data[:length])
            caught, seconds, peak = measured_read(cut, trace=length % 5 == 0)
            assert isinstance(caught, CorruptArchiveError), (length, repr(caught))
            assert "truncated" in str(caught) and cut in str(caught), str(caught)
            assert seconds < SECONDS and peak < PEAK_BYTES, length


def test_every_byte_flip_is_read_or_refused(tmp_path):
    for layout, path in small_archives(tmp_path).items():
        with open(path, "rb") as f:
            data = f.read()
        for position in range(len(data)):
            flipped = str(tmp_path / f"flipped_{layout}_{position}.pt")
            with open(flipped, "wb") as f:
                f.write(
                    data[:position]
                    + bytes([data[position] ^ 0xFF])
                    + data[position + 1 :]
                )
            caught, seconds, peak = measured_read(flipped, trace=position % 5 == 0)
            assert caught is None or isinstance(
                caught, UnsafeArchiveError | CorruptArchiveError
            ), (layout, position, repr(caught))
            assert seconds < SECONDS and peak < PEAK_BYTES, (layout, position)


def test_random_small_pickles_are_read_or_refused(tmp_path):
    # Random opcodes, including every memo, length and container opcode.
    rng = np.random.default_rng(0)
    for i in range(300):
        path = str(tmp_path / f"random_{i}.pt")
        body = rng.integers(0, 256, int(rng.integers(1, 1000)), dtype=np.uint8)
        write_torch_zip(path, data_pkl=b"\x80\x02" + body.tobytes() + b".")
        caught, seconds, peak = measured_read(path, trace=i % 5 == 0)
        assert caught is None or isinstance(
            caught, UnsafeArchiveError | CorruptArchiveError
        ), repr(caught)
        assert seconds < SECONDS and peak < PEAK_BYTES


def test_other_files_say_what_they_are(tmp_path):
    for content, match in (
        (b"", "not a PyTorch archive.*0 bytes"),
        (b"hello world", "not a PyTorch archive"),
        (b"P", "truncated"),
        (pickle.dumps(123, protocol=2), "magic number"),
        (pickle.dumps(LEGACY_MAGIC, protocol=2), "truncated"),
    ):
        path = tmp_path / "other.pt"
        path.write_bytes(content)
        assert_refused(str(path), match, CorruptArchiveError)
