"""The codec's file format: header, CRC-32 checks and payload framing.

File format (little-endian), `FORMAT_VERSION` 3:

    magic b"TFGC" | version u8 | codec u8 | name length u16 | zoo name (utf-8)
    | weights sha256 (32 bytes) | height, width, channels, num_levels u16
    | count u32 | batch size u32 | chunks u32 | words per chunk u32 x chunks
    | [versions 2, 3: file names' bytes u32 | one UTF-8 file name per image,
       each ended by a NUL byte; version 3: 0 bytes for none]
    | CRC-32 of the images' levels (uint8) u32 | header CRC-32 u32
    | payload (u32 words)

The versions differ in what they hold, and each file is written in the
oldest that holds it, so older tfgen reads every file it can decode:

- version 1: no file names; an autoregressive payload is one range-coded
  chunk per batch, each ended by its own flush;
- version 2: version 1 with file names;
- version 3 (`Header.one_stack`): an autoregressive payload is one ANS
  stack over all the batches, in one chunk: one flush and one chunk-table
  entry per file instead of one per batch, and no range-coder truncation
  (`tfgen.codec.autoregressive`); file names optional. Autoregressive
  files are written as version 3; bits-back files, whose payload is the
  same in every version, as version 1 or 2.

Stored names are plain file names (`check_names`: no folders, no `.` or
`..`, no drive, no control characters, at most `MAX_FILE_NAME_BYTES` bytes,
distinct ignoring case), checked again when a file is read, so a forged
name can never point a decoder outside its output folder.

Every field is checked against the others and the payload before any model
runs (`check_header`), so a forged header with a valid CRC costs no more
than its bytes announce:

- the batch is at most the image count (`Header.batch`: older files stored
  `compress`'s argument, so a larger one is read as the count) and codes
  at most `MAX_CHUNK_VALUES` values (images x H x W x C) at once;
- a version-1 or -2 autoregressive file has one chunk per batch, any other
  file one;
- every chunk holds at least one word per `VALUES_PER_WORD` values it
  codes (`min_words`; the coders pad shorter chunks with zero words), so
  what a file can announce, and the memory decoding it takes, grow with its
  size: a 1 KB file decodes to at most 2^18 values (334 28x28 images);
- the file names take at most `MAX_FILE_NAME_BYTES` + 1 bytes per image,
  and are bytes the file holds.

Nothing here runs a model: headers read and write with NumPy alone.
"""

import dataclasses
import ntpath
import struct
import zlib

import numpy as np

__all__ = [
    "CODECS",
    "FORMAT_VERSION",
    "MAGIC",
    "UNDECODABLE",
    "MAX_CHUNK_VALUES",
    "MAX_FILE_NAME_BYTES",
    "VALUES_PER_WORD",
    "CodecError",
    "Header",
    "check_header",
    "check_names",
    "image_checksum",
    "max_batch",
    "min_words",
    "pack",
    "payload_words",
    "read_header",
]

MAGIC = b"TFGC"
#: The newest format (autoregressive files are written in it); bits-back
#: files are written as version 1 (no file names) or 2.
FORMAT_VERSION = 3
_NAMELESS_VERSION = 1
_NAMED_VERSION = 2
_ONE_STACK_VERSION = 3
#: The coders, in the order of their ids (1, 2, ...) in the header.
CODECS = ("autoregressive", "bits_back")

#: Most values (images x height x width x channels) one chunk codes: the
#: autoregressive decoder holds a chunk's images at once (the zoo's 28x28
#: PixelCNN took 6 GB for a batch of 4,096), so a header cannot ask for more.
MAX_CHUNK_VALUES = 2**18
#: A chunk holds at least one payload word per this many values it codes,
#: which bounds what a file of a given size can announce. 1/32 bit per value
#: is far below what the zoo's models spend on real images; the coders pad
#: cheaper chunks with zero words.
VALUES_PER_WORD = 1024
#: Longest zoo name a header may hold, in UTF-8 bytes.
MAX_NAME_BYTES = 255
#: Longest stored file name, in UTF-8 bytes (most file systems' limit).
MAX_FILE_NAME_BYTES = 255

#: Why a payload that fails to decode fails, for the coders' errors.
UNDECODABLE = (
    "The payload does not decode with the model's probabilities: the file is "
    "corrupted, or this software stack computes the model's probabilities "
    "differently from the one that encoded it."
)


class CodecError(ValueError):
    """A compressed file that cannot be decoded as it stands: truncated,
    corrupted, of another format version, or for another model."""


@dataclasses.dataclass
class Header:
    """What a compressed file says about itself: codec, model identity, image
    shape and count, how the payload is chunked, the images' CRC-32,
    (`names`, or None) the file name of each image, and (`one_stack`,
    version 3) whether an autoregressive payload is one ANS stack over all
    batches rather than a range-coded chunk per batch."""

    codec: str
    model_name: str
    weights_sha256: str
    image_shape: tuple
    num_levels: int
    count: int
    batch_size: int
    chunk_words: list
    checksum: int
    names: list | None = None
    one_stack: bool = False

    @property
    def version(self):
        """The format version the header is written in: the oldest that holds it."""
        if self.one_stack:
            return _ONE_STACK_VERSION
        return _NAMELESS_VERSION if self.names is None else _NAMED_VERSION

    def to_bytes(self):
        """The header's bytes, its own CRC-32 last."""
        name = self.model_name.encode("utf-8")
        version = self.version
        parts = [
            MAGIC,
            struct.pack("<BBH", version, CODECS.index(self.codec) + 1, len(name)),
            name,
            bytes.fromhex(self.weights_sha256),
            struct.pack("<4H", *self.image_shape, self.num_levels),
            struct.pack("<III", self.count, self.batch_size, len(self.chunk_words)),
            np.asarray(self.chunk_words, "<u4").tobytes(),
        ]
        if version != _NAMELESS_VERSION:
            names = self.names or []
            table = b"".join(n.encode("utf-8") + b"\0" for n in names)
            parts += [struct.pack("<I", len(table)), table]
        parts.append(struct.pack("<I", self.checksum))
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def payload_bytes(self):
        """Bytes of payload the header announces."""
        return 4 * int(sum(self.chunk_words))

    @property
    def batch(self):
        """Images decoded together: `batch_size`, at most the image count."""
        return min(self.batch_size, self.count)

    @property
    def single_chunk(self):
        """Whether the payload is one chunk: bits-back files and version 3."""
        return self.codec == "bits_back" or self.one_stack

    def chunk_counts(self):
        """Images coded in each chunk (call after `check_header`)."""
        if self.single_chunk:
            return [self.count]
        return [
            min(self.batch, self.count - s) for s in range(0, self.count, self.batch)
        ]


def max_batch(image_shape):
    """Most images of `image_shape` one chunk may code (`MAX_CHUNK_VALUES`)."""
    return max(1, MAX_CHUNK_VALUES // int(np.prod(image_shape)))


def min_words(images, image_shape):
    """Fewest payload words a chunk of `images` images holds."""
    return -(-images * int(np.prod(image_shape)) // VALUES_PER_WORD)


def _name_problem(name):
    """Why `name` is not a plain file name to write into a folder, or None."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_FILE_NAME_BYTES:
        return f"has {size} bytes"
    if name in (".", ".."):
        return "names a folder"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    if ntpath.splitdrive(name)[0]:
        return "starts with a drive"
    if not name.isprintable():
        return "holds control characters"
    return None


def check_names(names, count):
    """Raises ValueError unless `names` are `count` plain file names (see the
    module docstring), distinct ignoring case (on a case-insensitive file
    system two names that differ only in case are one file)."""
    if len(names) != count:
        raise ValueError(
            f"Expected one file name per image ({count}). Received {len(names)} names."
        )
    seen = {}
    for index, name in enumerate(names):
        problem = _name_problem(name)
        if problem:
            raise ValueError(
                f"Expected plain file names of 1 to {MAX_FILE_NAME_BYTES} UTF-8 bytes "
                "without folders, drives or control characters. Received: name "
                f"{index}, {name!r:.80}, which {problem}."
            )
        first = seen.setdefault(name.casefold(), index)
        if first != index:
            raise ValueError(
                "Expected distinct file names (ignoring case). Received: names "
                f"{first} and {index}, {names[first]!r:.80} and {name!r:.80}."
            )


def _refuse(what, expected, received):
    raise CodecError(
        f"Corrupted tfgen codec file: {what}. Expected {expected}. Received {received}."
    )


def check_header(header, payload_bytes=None):
    """Raises `CodecError` unless the header's fields fit one another, sane
    limits and (when given) the payload's size in bytes; runs no model."""
    height, width, channels = header.image_shape
    if min(height, width, channels) < 1:
        _refuse("bad image shape", "positive sides", header.image_shape)
    if not 2 <= header.num_levels <= 256:
        _refuse("bad level count", "num_levels in [2, 256]", header.num_levels)
    if not header.model_name or not header.model_name.isprintable():
        _refuse("bad model name", "a zoo name", repr(header.model_name))
    if header.count < 1:
        _refuse("no images", "an image count of at least 1", header.count)
    if header.batch_size < 1:
        _refuse("bad batch size", "a batch size of at least 1", header.batch_size)
    limit = max_batch(header.image_shape)
    if header.codec == "bits_back" and header.batch_size != 1:
        _refuse("bad batch size", "1 for bits-back coding", header.batch_size)
    if header.batch > limit:
        _refuse(
            f"a batch of {header.batch} images of shape {header.image_shape} is more "
            f"than one chunk codes ({MAX_CHUNK_VALUES} values)",
            f"at most {limit} images per batch",
            header.batch,
        )
    chunks = 1 if header.single_chunk else -(-header.count // header.batch)
    if len(header.chunk_words) != chunks:
        _refuse(
            f"{header.count} images in batches of {header.batch} with the "
            f"{header.codec} codec",
            f"{chunks} chunk(s)",
            f"{len(header.chunk_words)}",
        )
    for index, (words, images) in enumerate(
        zip(header.chunk_words, header.chunk_counts())
    ):
        fewest = min_words(images, header.image_shape)
        if words < fewest:
            _refuse(
                f"chunk {index} is too short for its {images} image(s) of shape "
                f"{header.image_shape}",
                f"at least {fewest} payload words",
                f"{words}",
            )
    if header.names is not None:
        try:
            check_names(header.names, header.count)
        except ValueError as error:
            raise CodecError(f"Corrupted tfgen codec file: {error}") from None
    if payload_bytes is not None and payload_bytes != header.payload_bytes:
        problem = "Truncated" if payload_bytes < header.payload_bytes else "Corrupted"
        raise CodecError(
            f"{problem} tfgen codec file: the header announces a payload of "
            f"{header.payload_bytes} bytes, the file has {payload_bytes}."
        )


def read_header(blob):
    """`(Header, payload offset)` of a compressed file's bytes; raises
    `CodecError` for anything that is not a whole, intact tfgen file."""
    blob = memoryview(bytes(blob))

    def take(offset, size, what):
        if offset + size > len(blob):
            raise CodecError(
                f"Truncated tfgen codec file: it ends inside the {what} (needs "
                f"{offset + size} bytes, has {len(blob)})."
            )
        return bytes(blob[offset : offset + size]), offset + size

    magic, at = take(0, 4, "magic")
    if magic != MAGIC:
        raise CodecError(
            f"Not a tfgen codec file: expected magic {MAGIC!r}. Received: {magic!r}"
        )
    fields, at = take(at, 4, "header")
    version, codec, name_length = struct.unpack("<BBH", fields)
    if not _NAMELESS_VERSION <= version <= FORMAT_VERSION:
        raise CodecError(
            f"Unsupported tfgen codec format version {version}; this tfgen reads "
            f"versions {_NAMELESS_VERSION} to {FORMAT_VERSION}."
        )
    if not 1 <= codec <= len(CODECS):
        known = ", ".join(f"{i} ({c})" for i, c in enumerate(CODECS, 1))
        raise CodecError(
            f"Unknown codec id in the tfgen codec header: expected {known}. "
            f"Received {codec}."
        )
    name, at = take(at, name_length, "model name")
    digest, at = take(at, 32, "weights sha256")
    fields, at = take(at, 8, "image shape")
    height, width, channels, num_levels = struct.unpack("<4H", fields)
    fields, at = take(at, 12, "counts")
    count, batch_size, num_chunks = struct.unpack("<III", fields)
    words, at = take(at, 4 * num_chunks, "chunk table")
    table = None
    if version != _NAMELESS_VERSION:
        fields, at = take(at, 4, "file names' size")
        table, at = take(at, struct.unpack("<I", fields)[0], "file names")
    checksum, at = take(at, 4, "image checksum")
    stored, end = take(at, 4, "header checksum")
    if struct.unpack("<I", stored)[0] != zlib.crc32(bytes(blob[:at])):
        raise CodecError(
            "Corrupted tfgen codec file: the header checksum does not match."
        )
    if not 1 <= name_length <= MAX_NAME_BYTES:
        _refuse("bad model name", f"1 to {MAX_NAME_BYTES} bytes", f"{name_length}")
    try:
        model_name = name.decode("utf-8")
    except UnicodeDecodeError:  # a forged header with a valid CRC
        _refuse("bad model name", "UTF-8 text", repr(name[:40]))
    # Version 3 stores an empty table for no names; version 2 always has names.
    named = table is not None and (table or version == _NAMED_VERSION)
    names = _parse_names(table, count) if named else None
    header = Header(
        codec=CODECS[codec - 1],
        model_name=model_name,
        weights_sha256=digest.hex(),
        image_shape=(height, width, channels),
        num_levels=num_levels,
        count=count,
        batch_size=batch_size,
        chunk_words=np.frombuffer(words, "<u4").astype(int).tolist(),
        checksum=struct.unpack("<I", checksum)[0],
        names=names,
        one_stack=version >= _ONE_STACK_VERSION,
    )
    check_header(header, len(blob) - end)
    return header, end


def _parse_names(table, count):
    """The file names of a header's table (checked by `check_header`)."""
    most = count * (MAX_FILE_NAME_BYTES + 1)
    if len(table) > most:
        _refuse(
            f"{len(table)} bytes of file names for {count} image(s)",
            f"at most {most} bytes ({MAX_FILE_NAME_BYTES} + 1 per image)",
            len(table),
        )
    if not table.endswith(b"\0"):
        _refuse("the file names do not end with a NUL byte", "b'\\x00'", table[-1:])
    try:
        return [n.decode("utf-8") for n in table[:-1].split(b"\0")]
    except UnicodeDecodeError:
        _refuse("a file name is not UTF-8", "UTF-8 text", repr(table[:40]))


def pack(header, chunks):
    """A file's bytes: `header` (its `chunk_words` those of `chunks`) and the
    chunks of uint32 words."""
    return header.to_bytes() + b"".join(np.asarray(c, "<u4").tobytes() for c in chunks)


def payload_words(blob, offset):
    """The payload of a file's bytes, from `offset` (see `read_header`), as
    uint32 words."""
    return np.frombuffer(bytes(blob)[offset:], "<u4").astype(np.uint32)


def image_checksum(levels):
    """CRC-32 of the images' levels, as uint8 bytes in order."""
    return zlib.crc32(np.ascontiguousarray(levels, "uint8").tobytes())
