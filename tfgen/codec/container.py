"""The codec's file format: header, CRC-32 checks and payload framing.

File format (little-endian), `FORMAT_VERSION` 1:

    magic b"TFGC" | version u8 | codec u8 | name length u16 | zoo name (utf-8)
    | weights sha256 (32 bytes) | height, width, channels, num_levels u16
    | count u32 | batch size u32 | chunks u32 | words per chunk u32 x chunks
    | CRC-32 of the images' levels (uint8) u32 | header CRC-32 u32
    | payload (u32 words)

Nothing here runs a model: headers read and write with NumPy alone.
"""

import dataclasses
import struct
import zlib

import numpy as np

__all__ = [
    "CODECS",
    "FORMAT_VERSION",
    "MAGIC",
    "UNDECODABLE",
    "CodecError",
    "Header",
    "image_checksum",
    "pack",
    "payload_words",
    "read_header",
]

MAGIC = b"TFGC"
FORMAT_VERSION = 1
#: The coders, in the order of their ids (1, 2, ...) in the header.
CODECS = ("autoregressive", "bits_back")

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
    shape and count, how the payload is chunked, and the images' CRC-32."""

    codec: str
    model_name: str
    weights_sha256: str
    image_shape: tuple
    num_levels: int
    count: int
    batch_size: int
    chunk_words: list
    checksum: int

    def to_bytes(self):
        """The header's bytes, its own CRC-32 last."""
        name = self.model_name.encode("utf-8")
        parts = [
            MAGIC,
            struct.pack(
                "<BBH", FORMAT_VERSION, CODECS.index(self.codec) + 1, len(name)
            ),
            name,
            bytes.fromhex(self.weights_sha256),
            struct.pack("<4H", *self.image_shape, self.num_levels),
            struct.pack("<III", self.count, self.batch_size, len(self.chunk_words)),
            np.asarray(self.chunk_words, "<u4").tobytes(),
            struct.pack("<I", self.checksum),
        ]
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))

    @property
    def payload_bytes(self):
        """Bytes of payload the header announces."""
        return 4 * int(sum(self.chunk_words))


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
    if version != FORMAT_VERSION:
        raise CodecError(
            f"Unsupported tfgen codec format version {version}; this tfgen reads "
            f"version {FORMAT_VERSION}."
        )
    if not 1 <= codec <= len(CODECS):
        raise CodecError(f"Unknown codec id {codec} in the header.")
    name, at = take(at, name_length, "model name")
    digest, at = take(at, 32, "weights sha256")
    fields, at = take(at, 8, "image shape")
    height, width, channels, num_levels = struct.unpack("<4H", fields)
    fields, at = take(at, 12, "counts")
    count, batch_size, num_chunks = struct.unpack("<III", fields)
    words, at = take(at, 4 * num_chunks, "chunk table")
    checksum, at = take(at, 4, "image checksum")
    stored, end = take(at, 4, "header checksum")
    if struct.unpack("<I", stored)[0] != zlib.crc32(bytes(blob[:at])):
        raise CodecError(
            "Corrupted tfgen codec file: the header checksum does not match."
        )
    try:
        model_name = name.decode("utf-8")
    except UnicodeDecodeError as error:  # pragma: no cover - caught by the CRC
        raise CodecError("Corrupted tfgen codec file: bad model name.") from error
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
    )
    if len(blob) != end + header.payload_bytes:
        problem = "Truncated" if len(blob) < end + header.payload_bytes else "Corrupted"
        raise CodecError(
            f"{problem} tfgen codec file: the header announces a payload of "
            f"{header.payload_bytes} bytes, the file has {len(blob) - end}."
        )
    return header, end


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
