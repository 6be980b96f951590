"""Fault injection for tfgen.codec (issue 18): damaged, truncated, forged and
random files raise `CodecError` (or, where the damage misses every coded
bit, decode to the original images), quickly, in bounded memory, and
`tfgen decompress -o PATH` leaves nothing at PATH.

Two small real files, one per codec, from tiny seeded zoo entries: an
autoregressive PixelCNN file (5 binary 6x6 images in batches of 2: a
header, one ANS stack (format version 3)) and a bits-back VAE file
(3 binary 6x6 images, 8 latents: an 82-byte header, 36 payload words).
The default run checks, for both files together:

- every single-bit flip of the headers (760 + 656) and every truncation
  (127 + 226 shorter prefixes): refused before any model runs;
- 12 payload bit flips (per file the first, the last and four seeded
  others), which run the decoder;
- 50 forged headers with valid CRC-32s (zero, one, huge and u32 "-1"
  counts and batches, empty, zero and huge chunk tables, other shapes,
  levels and codec ids; unknown, path and non-UTF-8 names), 21 forged
  file-name tables per file (paths, `..`, drives, control characters,
  over-long, duplicate, too few, non-UTF-8, badly framed), a forged 1 KB
  file announcing 6,542 images, a clamped oversized batch, 40 random files,
  and `tfgen decompress` to an .npy and to a folder for 5 broken files each;

about 1,900 cases, in about 20 s of one core. The slow version
(`--runslow`) also flips every payload bit (256 + 1,152 decodes) and tries
400 more random files.

Each case must finish within 10 CPU seconds (the core may be shared) and
raise the process's peak resident memory by less than 256 MB (Linux; read
from /proc).
"""

import os
import struct
import time
import zlib

import numpy as np
import pytest
from codec_models import register_tiny
from reliability_log import record

from tfgen import cli, codec, zoo

SECONDS = 10.0
PEAK_BYTES = 256 * 2**20
SHAPE = (6, 6, 1)

KINDS = {
    "pixelcnn": (
        "PixelCNN",
        dict(image_shape=SHAPE, num_levels=2, filters=4, num_blocks=1),
        5,
        2,
    ),
    "vae": (
        "VAE",
        dict(
            image_shape=SHAPE, likelihood="bernoulli", latent_dim=8, hidden_units=(8,)
        ),
        3,
        1,
    ),
}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{kind: (model, original levels, file bytes)}, the models registered
    as zoo entries for the module's tests."""
    saved = dict(zoo._REGISTRY)
    made = {}
    for kind, (cls, config, count, batch) in KINDS.items():
        folder = tmp_path_factory.mktemp(kind)
        model = register_tiny(cls, config, folder, f"faults-{kind}")
        levels = np.random.default_rng(1).integers(0, 2, (count, *SHAPE))
        blob = codec.compress(levels, model, batch_size=batch)
        made[kind] = (model, levels.astype(np.uint8), blob)
    yield made
    zoo._REGISTRY.clear()
    zoo._REGISTRY.update(saved)


# ------------------------------------------------------------------- helpers
def _peak_probe():
    """`(start, peak)` functions measuring the peak RSS, or None off Linux."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM, the peak, to the current RSS
    except OSError:
        return None

    def read(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    return read


def _decode_or_refuse(blob, original, model=None, kind="damaged file"):
    """Decodes `blob`: `CodecError`, or exactly the original images, within
    SECONDS and PEAK_BYTES. Returns True when it was refused. `kind` names
    the damage in the reliability log."""
    read = _peak_probe()
    before = read("VmRSS:") if read else 0
    start = time.process_time()  # CPU seconds: other processes share the core
    try:
        out = codec.decompress(blob, model)
    except codec.CodecError:
        out = None
    elapsed = time.process_time() - start
    grown = read("VmHWM:") - before if read else None
    record(
        kind,
        "refused" if out is None else "decoded",
        seconds=elapsed,
        clock="CPU",
        peak_bytes=grown,
        memory="peak RSS growth",
        max_seconds=SECONDS,
        max_bytes=PEAK_BYTES,
    )
    assert elapsed < SECONDS, f"took {elapsed:.1f} CPU seconds"
    if read:
        assert grown < PEAK_BYTES, f"peak RSS grew by {grown / 2**20:.0f} MB"
    if out is not None:
        np.testing.assert_array_equal(out, original)
    return out is None


def _flip(blob, bit):
    damaged = bytearray(blob)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def _with_crc(body):
    """A header body (everything before its CRC-32) with a valid CRC."""
    return body + struct.pack("<I", zlib.crc32(body))


def _forged_headers(model, blob):
    """(label, file) pairs: the file's header with one field forged and the
    CRC-32 recomputed, so only the field checks can refuse it."""
    header, offset = codec.read_header(blob)
    payload = blob[offset:]
    fields = {
        "count": [0, 1, 2**20, 2**31, 2**32 - 1],
        "batch_size": [0, 2**20, 2**32 - 1],
        "chunk_words": [[], [0] * len(header.chunk_words), [2**32 - 1]],
        "image_shape": [(0, 6, 1), (6, 6, 3), (2**16 - 1,) * 3],
        "num_levels": [0, 1, 256, 2**16 - 1],
    }
    for field, values in fields.items():
        for value in values:
            forged = codec.Header(**{**header.__dict__, field: value})
            yield f"{field}={value!r}"[:60], forged.to_bytes() + payload
    other = "autoregressive" if header.codec == "bits_back" else "bits_back"
    yield (
        "codec",
        codec.Header(**{**header.__dict__, "codec": other}).to_bytes() + payload,
    )
    for name in ["no-such-model", "../escape", "/tmp/x", "pixelcnn_mnist"]:
        forged = codec.Header(**{**header.__dict__, "model_name": name})
        yield f"model_name={name}", forged.to_bytes() + payload
    # Fields the Header class cannot hold: raw bytes, CRC recomputed.
    body = header.to_bytes()[:-4]
    name_length = len(header.model_name.encode())
    yield "codec id 9", _with_crc(body[:5] + b"\x09" + body[6:]) + payload
    bad_name = b"\xff" * name_length
    yield (
        "non-utf8 name",
        _with_crc(body[:8] + bad_name + body[8 + name_length :]) + payload,
    )


#: File names a forged file may hold in the place of image 1's.
BAD_NAMES = [
    "../escape.png",
    "..",
    ".",
    "/etc/passwd",
    "sub/x.png",
    "sub\\x.png",
    "C:x.png",
    "",
    "x" * 256,
    "é" * 128,  # 256 bytes
    "a\n.png",
    "\x1b[2J.png",
    "0.png",  # image 0's
    "0.PNG",  # image 0's, on a case-insensitive file system
]


def _names_table(header, table, size=None):
    """`header` in its own version (at least 2, the first with names) with a
    raw file-names table (its size field `size`, default the table's), CRC
    recomputed."""
    body = codec.Header(**{**header.__dict__, "names": None}).to_bytes()[:-8]
    if header.one_stack:  # version 3 writes an empty table for no names
        body = body[:-4]
    size = len(table) if size is None else size
    version = bytes([max(header.version, 2)])
    body = body[:4] + version + body[5:] + struct.pack("<I", size) + table
    return _with_crc(body + struct.pack("<I", header.checksum))


def _forged_names(blob):
    """(label, file) pairs: the file with forged file names, CRC recomputed."""
    header, offset = codec.read_header(blob)
    payload = blob[offset:]
    plain = [f"{i}.png" for i in range(header.count)]
    for name in BAD_NAMES:
        names = [plain[0], name, *plain[2:]]
        forged = codec.Header(**{**header.__dict__, "names": names})
        yield f"name={name!r}"[:60], forged.to_bytes() + payload
    forged = codec.Header(**{**header.__dict__, "names": plain[:-1]})
    yield "a name short", forged.to_bytes() + payload
    table = b"".join(n.encode() + b"\0" for n in plain)
    yield "no final NUL", _names_table(header, table[:-1]) + payload
    yield "NUL inside", _names_table(header, b"a\0" + table) + payload
    yield "non-utf8", _names_table(header, b"\xff" + table) + payload
    too_long = b"".join(n.encode() + b"\0" for n in ["x" * 255] * header.count)
    yield "table past the bound", _names_table(header, b"x" + too_long) + payload
    yield "size past the file", _names_table(header, table, 2**32 - 1) + payload


# --------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_header_bit_flip_and_truncation_is_refused(files, kind):
    model, levels, blob = files[kind]
    _, offset = codec.read_header(blob)
    for bit in range(8 * offset):
        assert _decode_or_refuse(_flip(blob, bit), levels, model, "header bit flip"), (
            bit
        )
    for length in range(len(blob)):
        with pytest.raises(codec.CodecError, match="Truncated|Not a tfgen"):
            codec.decompress(blob[:length], model)
        record("truncation", "refused")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_forged_headers_with_valid_crc_are_refused(files, kind):
    model, levels, blob = files[kind]
    np.testing.assert_array_equal(codec.decompress(blob), levels)
    for label, forged in _forged_headers(model, blob):
        # The header names the model: decompress loads (or refuses) it.
        assert _decode_or_refuse(forged, levels, kind="forged header"), label


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_forged_file_names_are_refused(files, kind, tmp_path, capsys):
    """Issue 22: file names are stored, so a forged file may name paths."""
    model, levels, blob = files[kind]
    named = codec.compress(
        levels, model, batch_size=2, names=[f"{i}.png" for i in range(len(levels))]
    )
    assert _decode_or_refuse(named, levels, model, "file names") is False
    target = tmp_path / "out" / "pngs"
    for label, forged in _forged_names(blob):
        with pytest.raises(codec.CodecError, match="Corrupted|Truncated"):
            codec.read_header(forged)
        assert _decode_or_refuse(forged, levels, kind="forged file name"), label
        source = tmp_path / "forged.tfg"
        source.write_bytes(forged)
        assert cli.main(["decompress", str(source), "-o", str(target)]) == 1, label
        assert "tfgen: error: " in capsys.readouterr().err
        # Nothing written, there or beside it.
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["forged.tfg"], label


def test_a_batch_beyond_the_images_is_read_as_the_images(files):
    # Older files stored compress's batch_size; decoding clamps it.
    model, levels, blob = files["pixelcnn"]
    single = codec.compress(levels, model, batch_size=5)
    header, offset = codec.read_header(single)
    assert header.batch_size == 5 and len(header.chunk_words) == 1
    header.batch_size = 2**32 - 1
    np.testing.assert_array_equal(
        codec.decompress(header.to_bytes() + single[offset:], model), levels
    )
    # compress clamps too: the file is the same for any batch >= the count.
    assert codec.compress(levels, model, batch_size=1000) == single


def _payload_bits(blob, sample, seed=0):
    _, offset = codec.read_header(blob)
    bits = np.arange(8 * offset, 8 * len(blob))
    if sample is None:
        return bits.tolist()
    rng = np.random.default_rng(seed)
    picked = rng.choice(bits[1:-1], sample - 2, replace=False)
    return [int(bits[0]), *sorted(int(b) for b in picked), int(bits[-1])]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_payload_bit_flips_are_refused_or_harmless(files, kind):
    model, levels, blob = files[kind]
    refused = [
        _decode_or_refuse(_flip(blob, bit), levels, model, "payload bit flip")
        for bit in _payload_bits(blob, sample=6)
    ]
    assert sum(refused) >= 3  # the first word's bits decide the first symbols


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_payload_bit_flip_is_refused_or_harmless(files, kind):
    model, levels, blob = files[kind]
    for bit in _payload_bits(blob, sample=None):
        _decode_or_refuse(_flip(blob, bit), levels, model, "payload bit flip")


def _random_files(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        size = int(rng.integers(0, 2048))
        noise = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        if rng.random() < 0.5:  # past the magic and version
            noise = codec.MAGIC + struct.pack("<BB", codec.FORMAT_VERSION, 1) + noise
        yield noise


def test_random_files_are_refused(files):
    for noise in _random_files(40, seed=0):
        assert _decode_or_refuse(noise, None, kind="random file")


@pytest.mark.slow
def test_many_random_files_are_refused(files):
    for noise in _random_files(400, seed=1):
        assert _decode_or_refuse(noise, None, kind="random file")


def test_a_forged_1kb_file_stays_small(files):
    # About the most a 1 KB file with valid fields can announce: one chunk of
    # 6,500 images at 1/32 bit per value, garbage in its 230 words.
    model, levels, blob = files["pixelcnn"]
    header, _ = codec.read_header(blob)
    words = 230
    count = words * codec.container.VALUES_PER_WORD // int(np.prod(SHAPE))
    assert count <= codec.container.max_batch(SHAPE)
    forged = codec.Header(
        **{
            **header.__dict__,
            "count": count,
            "batch_size": count,
            "chunk_words": [words],
        }
    )
    noise = np.random.default_rng(0).integers(1, 2**32, words, dtype=np.uint64)
    blob = forged.to_bytes() + noise.astype("<u4").tobytes()
    assert len(blob) <= 1024
    assert _decode_or_refuse(blob, None, model, "forged 1 KB file")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cli_writes_nothing_for_a_broken_file(files, kind, tmp_path, capsys):
    model, levels, blob = files[kind]
    _, offset = codec.read_header(blob)
    broken = {
        "truncated": blob[:-4],
        "header_flip": _flip(blob, 8 * 20),
        "payload_flip": _flip(blob, 8 * offset + 7),
        "forged_count": codec.Header(
            **{**codec.read_header(blob)[0].__dict__, "count": 2**31}
        ).to_bytes()
        + blob[offset:],
        "random": bytes(range(256)) * 3,
    }
    for label, data in broken.items():
        source = tmp_path / f"{label}.tfg"
        source.write_bytes(data)
        for target in (tmp_path / f"{label}.npy", tmp_path / f"{label}_pngs"):
            code = cli.main(["decompress", str(source), "-o", str(target)])
            assert code == 1 and capsys.readouterr().err, label
            assert not os.path.exists(target), label
            record("tfgen decompress of a broken file", "exit 1", exit_code=code)
    leftovers = sorted(p.name for p in tmp_path.iterdir() if not p.suffix == ".tfg")
    assert leftovers == []
