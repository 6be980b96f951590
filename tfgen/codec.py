"""Lossless image compression with the zoo's likelihood models.

A model with an exact likelihood is a compressor: an entropy coder driven by
its conditionals turns an image of N nats into about N / ln 2 bits.

- **Autoregressive models** (PixelCNN family): range coding with `constriction`
  (`RangeEncoder`, `Categorical` models). Encoding is one parallel forward
  pass per batch; decoding runs the sampler's loop (`tfgen.sampling`: the
  cached sampler where the network allows it) with a `choose` step that
  decodes each position's symbols instead of drawing them, for a whole
  batch at once.
- **VAEs**: bits-back coding with ANS (BB-ANS, Townsend et al. 2019), see
  `compress`.

The coded probabilities must be the same bits at both ends. The network runs
in float64 (a copy of the model, its logits layer included) on inputs
gathered from one table of level values (`level_inputs`), its logits are
cast to float32 and rounded to multiples of `LOGIT_QUANTUM`, and the
probabilities come from those by one numpy function. The parallel encoding
pass and the step-by-step decoding loop sum in different orders, so their
logits differ by float64 round-off (about 1e-13 for logits of 200); they
agree after rounding unless a logit falls that close to a rounding
boundary, about one logit in 1e11. The CRC-32 of all the images is stored
and checked, so that case (or any corruption) raises `CodecError` instead of
returning wrong pixels. Rounding to 2^-6 costs about q^2 / 24 = 1e-5 nats per
coded value (the KL divergence of the rounded distribution). Files decode
with the same model weights (their sha256 is in the header) on the same
software stack; other CPUs or library versions may round differently.

File format (little-endian), `FORMAT_VERSION` 1:

    magic b"TFGC" | version u8 | codec u8 | name length u16 | zoo name (utf-8)
    | weights sha256 (32 bytes) | height, width, channels, num_levels u16
    | count u32 | batch size u32 | chunks u32 | words per chunk u32 x chunks
    | CRC-32 of the images' levels (uint8) u32 | header CRC-32 u32
    | payload (u32 words)

```python
model = tfgen.zoo.load("pixelcnn_mnist")
x = tfgen.data.load_arrays("binarized_mnist", "test")[0][:100]  # uint8 levels
blob = tfgen.codec.compress(x, model)
same = tfgen.codec.decompress(blob)                              # == x
print(8 * len(blob) / x.size, "bits/dim")
```

References:
    Duda, Asymmetric numeral systems, arXiv 0902.0271; Bamler, constriction,
    arXiv 2201.12040; Townsend et al., Practical Lossless Compression with
    Latent Variables using Bits Back Coding, arXiv 1901.04866.
"""

import dataclasses
import struct
import zlib

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "LOGIT_QUANTUM",
    "MAGIC",
    "CodecError",
    "Header",
    "compress",
    "decompress",
    "read_header",
]

MAGIC = b"TFGC"
FORMAT_VERSION = 1
#: Logits are rounded to multiples of this before they become probabilities.
LOGIT_QUANTUM = 2.0**-6
_CODECS = ("autoregressive", "bits_back")


_UNDECODABLE = (
    "The payload does not decode with the model's probabilities: the file is "
    "corrupted, or this software stack computes the model's probabilities "
    "differently from the one that encoded it."
)


class CodecError(ValueError):
    """A compressed file that cannot be decoded as it stands: truncated,
    corrupted, of another format version, or for another model."""


def _require_constriction():
    try:
        import constriction
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ImportError(
            "tfgen.codec needs the `constriction` package: pip install constriction"
        ) from error
    return constriction


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
        name = self.model_name.encode("utf-8")
        parts = [
            MAGIC,
            struct.pack(
                "<BBH", FORMAT_VERSION, _CODECS.index(self.codec) + 1, len(name)
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
    if not 1 <= codec <= len(_CODECS):
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
        codec=_CODECS[codec - 1],
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


def image_checksum(levels):
    """CRC-32 of the images' levels, as uint8 bytes in order."""
    return zlib.crc32(np.ascontiguousarray(levels, "uint8").tobytes())


# -------------------------------------------------------------- model identity
def _identity(model):
    """`(model, zoo name, weights sha256)` of a zoo name or a model that
    `tfgen.zoo.load` returned."""
    from tfgen import zoo

    if isinstance(model, str):
        model = zoo.load(model)
    name = getattr(model, "zoo_name", None)
    digest = getattr(model, "zoo_sha256", None)
    if not name or not digest:
        raise ValueError(
            "The codec names its model in the file, so it needs a zoo model: "
            "a zoo name or a model from tfgen.zoo.load(name). Received a "
            f"{type(model).__name__} that the zoo did not load."
        )
    return model, name, digest


def _coding_copy(model):
    """The model rebuilt in float64 with the same weights (see the module
    docstring), cached on the model."""
    from tfgen import training

    copy = getattr(model, "_codec_float64", None)
    if copy is None:
        config = {**model.get_config(), "dtype": "float64"}
        with training.precision_policy("float64"):
            copy = type(model).from_config(config)
        model_weights = model.get_weights()
        if not copy.built:
            copy(np.zeros((1, *model.image_shape), "float32"))
        copy.set_weights(model_weights)
        # Not a tracked sublayer: the copy's weights stay out of the model's.
        object.__setattr__(model, "_codec_float64", copy)
    return copy


# ------------------------------------------------------------- probabilities
def probabilities(logits, num_levels):
    """float64 (m, L) probabilities from float32 logits ((m,) Bernoulli or
    (m, L) categorical), rounded to `LOGIT_QUANTUM` first: the one function
    both ends of the codec use."""
    logits = np.asarray(logits, np.float32).astype(np.float64)
    logits = np.round(logits / LOGIT_QUANTUM) * LOGIT_QUANTUM
    if num_levels == 2:
        p1 = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - p1, p1], axis=-1)
    logits = logits.reshape(-1, num_levels)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_levels(images, image_shape, num_levels):
    """int32 levels (n, H, W, C) from uint8/int levels or floats on the grid."""
    from tfgen.levels import check_levels

    x = np.asarray(images)
    gray = image_shape[-1] == 1
    if gray and x.shape[-2:] == tuple(image_shape[:2]):
        x = x[..., None]  # (n, H, W) or (H, W) grayscale
    if x.shape == tuple(image_shape):
        x = x[None]  # one image
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"Expected images of shape (n, {', '.join(map(str, image_shape))}) for "
            f"this model. Received shape {tuple(np.asarray(images).shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError("Expected at least one image. Received 0.")
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        x = x.astype(np.int64)
        if x.min() < 0 or x.max() >= num_levels:
            bad = np.unravel_index(int(np.argmax((x < 0) | (x >= num_levels))), x.shape)
            raise ValueError(
                f"Integer images are levels in [0, {num_levels - 1}] for a model "
                f"with num_levels={num_levels}. Received images{list(bad)}={x[bad]}"
            )
        return x.astype(np.int32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"Expected uint8/int levels or float images in [0, 1]. Received dtype {x.dtype}"
        )
    x = check_levels(x, num_levels, name="images")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"Float images must lie in [0, 1]. Received values in [{x.min()}, {x.max()}]"
        )
    return np.round(x * (num_levels - 1)).astype(np.int32)


# ------------------------------------------------------------ autoregressive
def _network_logits(model, levels):
    """float32 logits (n, H, W, C[, L]) of the float64 copy on int levels."""
    import tensorflow as tf

    args = model.network_args_from_levels(tf.convert_to_tensor(levels, tf.int32))
    logits = model.network(args, training=False)
    return np.asarray(tf.cast(logits, tf.float32))


def _padded(levels, batch_size):
    pad = batch_size - len(levels)
    if pad:
        levels = np.concatenate(
            [levels, np.zeros((pad, *levels.shape[1:]), levels.dtype)]
        )
    return levels


def _encode_autoregressive(model, levels, batch_size, progress):
    constriction = _require_constriction()
    family = constriction.stream.model.Categorical(perfect=False)
    num_levels = model.num_levels
    dims = int(np.prod(model.image_shape))
    chunks = []
    starts = range(0, len(levels), batch_size)
    for start in _progress(starts, len(starts), progress, "encode"):
        chunk = levels[start : start + batch_size]
        n = len(chunk)
        logits = _network_logits(model, _padded(chunk, batch_size))[:n]
        # Symbols in the decoder's order: position-major, then image.
        symbols = chunk.reshape(n, dims).T.reshape(-1)
        probs = probabilities(logits, num_levels).reshape(n, dims, -1)
        probs = probs.transpose(1, 0, 2).reshape(n * dims, -1)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols.astype(np.int32), family, probs)
        chunks.append(np.asarray(encoder.get_compressed(), "<u4"))
    return chunks


def _decoder_step(model, words, n, batch_size):
    """A `choose` for the samplers that decodes the n images' symbols at each
    position from one range-coded chunk."""
    import tensorflow as tf

    constriction = _require_constriction()
    family = constriction.stream.model.Categorical(perfect=False)
    decoder = constriction.stream.queue.RangeDecoder(np.asarray(words, np.uint32))
    num_levels = model.num_levels

    def decode(logits):
        values = np.zeros(batch_size, np.int32)
        probs = probabilities(logits[:n], num_levels)
        values[:n] = decoder.decode(family, probs)
        return values

    def choose(logits, t, noise, temperature):
        values = tf.numpy_function(decode, [logits], tf.int32, stateful=True)
        return tf.reshape(values, [batch_size])

    return choose, decoder


def _decode_autoregressive(model, header, payload, progress):
    import tensorflow as tf

    from tfgen import sampling

    batch_size = header.batch_size
    shape = tuple(model.image_shape)
    build = (
        sampling.cached_sampler
        if sampling.supports_cached_sampling(model)
        else sampling.compiled_sampler
    )
    noise_shape = (batch_size, *shape) + ((1,) if model.num_levels > 2 else ())
    noise = tf.zeros(noise_shape, tf.float32)
    labels = tf.zeros([batch_size, 0], tf.float32)
    out, offset = [], 0
    starts = range(0, header.count, batch_size)
    for index, start in enumerate(_progress(starts, len(starts), progress, "decode")):
        n = min(batch_size, header.count - start)
        words = payload[offset : offset + header.chunk_words[index]]
        offset += header.chunk_words[index]
        choose, _ = _decoder_step(model, words, n, batch_size)
        run = build(model, jit_compile=False, choose=choose)
        try:
            levels = run(
                tf.zeros((batch_size, *shape), tf.int32),
                tf.zeros((batch_size, *shape), tf.bool),
                noise,
                labels,
                tf.constant(1.0, tf.float32),
            )
        except tf.errors.OpError as error:
            # The range decoder refused its input (raised inside the loop).
            raise CodecError(_UNDECODABLE) from error
        out.append(np.asarray(levels)[:n])
    return np.concatenate(out)


def _progress(iterable, total, enabled, desc, unit="batch"):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, unit=unit, desc=desc)


# ------------------------------------------------------------------- public
def _kind(model):
    from tfgen.models import VAE, AutoregressiveModel

    if isinstance(model, AutoregressiveModel):
        if model.num_classes is not None:
            raise ValueError(
                "The codec supports unconditional autoregressive models. "
                f"Received a class-conditional {type(model).__name__}."
            )
        return "autoregressive"
    if isinstance(model, VAE):
        return "bits_back"
    raise ValueError(
        "The codec needs a model with an exact or bits-back likelihood: an "
        f"autoregressive model or a VAE. Received {type(model).__name__}."
    )


def compress(images, model, batch_size=256, progress=False):
    """Compresses images losslessly with a zoo model's likelihood.

    Args:
        images: uint8/int levels (n, H, W[, C]) in [0, num_levels), or floats
            in [0, 1] on the model's level grid.
        model: a zoo name, or a model from `tfgen.zoo.load`.
        batch_size: images coded together (one range-coded chunk each for
            autoregressive models); decoding uses the same.
        progress: a progress bar over batches.

    Returns:
        `bytes`: the header (model name, weights sha256, shape, count,
        CRC-32) and the payload.
    """
    from tfgen.validation import check_positive_int

    model, name, digest = _identity(model)
    kind = _kind(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    levels = _check_levels(images, tuple(model.image_shape), model.num_levels)
    coder = _coding_copy(model)
    if kind == "autoregressive":
        chunks = _encode_autoregressive(coder, levels, batch_size, progress)
    else:
        from tfgen.bits_back import encode

        chunks = encode(coder, levels, progress=progress)
        batch_size = 1
    header = Header(
        codec=kind,
        model_name=name,
        weights_sha256=digest,
        image_shape=tuple(int(d) for d in model.image_shape),
        num_levels=int(model.num_levels),
        count=len(levels),
        batch_size=batch_size,
        chunk_words=[len(c) for c in chunks],
        checksum=image_checksum(levels),
    )
    return header.to_bytes() + b"".join(np.asarray(c, "<u4").tobytes() for c in chunks)


def decompress(blob, model=None, progress=False):
    """The uint8 levels (n, H, W, C) that `compress` coded into `blob`.

    Args:
        blob: the bytes of a compressed file.
        model: the zoo name or model to decode with; default the one the
            header names. A model whose name or weights sha256 differs from
            the header's is refused: it would decode garbage.
        progress: a progress bar over batches.

    Raises:
        CodecError: a truncated or corrupted file, another model, or decoded
            images whose CRC-32 does not match.
    """
    header, offset = read_header(blob)
    model, name, digest = _identity(model if model is not None else header.model_name)
    if (name, digest) != (header.model_name, header.weights_sha256):
        raise CodecError(
            f"This file was compressed with zoo model {header.model_name!r} (weights "
            f"sha256 {header.weights_sha256[:16]}...). Received model {name!r} (weights "
            f"sha256 {digest[:16]}...); decoding with it would give wrong pixels."
        )
    if (tuple(model.image_shape), model.num_levels) != (
        header.image_shape,
        header.num_levels,
    ):
        raise CodecError(
            f"The header's image shape {header.image_shape} and {header.num_levels} "
            f"levels do not fit model {name!r}."
        )
    payload = np.frombuffer(bytes(blob)[offset:], "<u4").astype(np.uint32)
    coder = _coding_copy(model)
    if header.codec == "autoregressive":
        levels = _decode_autoregressive(coder, header, payload, progress)
    else:
        from tfgen.bits_back import decode

        try:
            levels = decode(coder, header, payload, progress=progress)
        except CodecError:
            raise
        except (AssertionError, ValueError) as error:  # the ANS coder refused
            raise CodecError(_UNDECODABLE) from error
    if image_checksum(levels) != header.checksum:
        raise CodecError(f"The decoded images fail their CRC-32. {_UNDECODABLE}")
    return levels.astype(np.uint8)
