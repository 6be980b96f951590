"""Lossless image compression with the zoo's likelihood models.

A model with an exact likelihood is a compressor: an entropy coder driven by
its conditionals turns an image of N nats into about N / ln 2 bits.

- **Autoregressive models** (PixelCNN family): ANS coding of their
  conditionals with `constriction`, a batch of images at a time on one
  stack (`tfgen.codec.autoregressive`; files before format version 3 were
  range-coded, and still decode).
- **VAEs**: bits-back coding with ANS (BB-ANS, Townsend et al. 2019),
  image by image (`tfgen.codec.bits_back`).

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

The file format (header, CRC-32s, framing) is `tfgen.codec.container`; the
entropy-coding library both coders share is wrapped by `tfgen.codec.coder`.

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

import numpy as np

from tfgen import levels as grid
from tfgen import training, zoo
from tfgen.codec import autoregressive, bits_back
from tfgen.codec.autoregressive import LOGIT_QUANTUM, probabilities
from tfgen.codec.container import (
    FORMAT_VERSION,
    MAGIC,
    UNDECODABLE,
    CodecError,
    Header,
    check_names,
    image_checksum,
    max_batch,
    pack,
    payload_words,
    read_header,
)
from tfgen.models import VAE, AutoregressiveModel
from tfgen.validation import check_positive_int

__all__ = [
    "FORMAT_VERSION",
    "LOGIT_QUANTUM",
    "MAGIC",
    "CodecError",
    "Header",
    "coding_copy",
    "compress",
    "decompress",
    "image_checksum",
    "probabilities",
    "read_header",
]


# -------------------------------------------------------------- model identity
def _identity(model):
    """`(model, zoo name, weights sha256)` of a zoo name or a model that
    `tfgen.zoo.load` returned."""
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


def coding_copy(model):
    """The model rebuilt in float64 with the same weights (see the module
    docstring), cached on the model: the network both ends of the codec run."""
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


def _check_levels(images, image_shape, num_levels):
    """int32 levels (n, H, W, C) from uint8/int levels or floats on the grid."""
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
        raise TypeError(
            f"Expected uint8/int levels or float images in [0, 1]. Received dtype {x.dtype}"
        )
    return grid.levels_of(x, num_levels, name="images")


# ------------------------------------------------------------------- public
def _kind(model):
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


def compress(images, model, batch_size=256, progress=False, names=None):
    """Compresses images losslessly with a zoo model's likelihood.

    Args:
        images: uint8/int levels (n, H, W[, C]) in [0, num_levels), or floats
            in [0, 1] on the model's level grid.
        model: a zoo name, or a model from `tfgen.zoo.load`.
        batch_size: images coded together (autoregressive models: one
            network pass each, all batches on one ANS stack);
            decoding uses the same. At most the number of images and
            `container.MAX_CHUNK_VALUES` values: a larger one is lowered to
            that (it changes the speed and memory, not the images).
        progress: a progress bar over batches.
        names: a file name per image, stored in the header (`read_header(
            blob)[0].names`; `tfgen decompress` writes the images under
            them): plain names without folders, distinct ignoring case
            (`container.check_names`); None stores none. Autoregressive
            files are format version 3; bits-back files version 1 without
            names (which tfgen before file names also reads), else 2.

    Returns:
        `bytes`: the header (model name, weights sha256, shape, count,
        CRC-32, file names) and the payload.
    """
    model, name, digest = _identity(model)
    kind = _kind(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    levels = _check_levels(images, tuple(model.image_shape), model.num_levels)
    if names is not None:
        names = [*names]
        check_names(names, len(levels))  # before minutes of coding
    # A batch beyond the images would only pad them (and cost its memory).
    batch_size = min(batch_size, len(levels), max_batch(model.image_shape))
    coder = coding_copy(model)
    if kind == "autoregressive":
        chunks = autoregressive.encode(coder, levels, batch_size, progress=progress)
    else:
        chunks = bits_back.encode(coder, levels, progress=progress)
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
        names=names,
        one_stack=kind == "autoregressive",
    )
    return pack(header, chunks)


def _named(header):
    """The zoo model a header names, refused (as `CodecError`) unless it is a
    registered entry with the header's weights: a file never loads a path or
    another model."""
    try:
        entry = zoo.get(zoo.check_name(header.model_name))
    except (KeyError, ValueError) as error:
        message = error.args[0] if error.args else error
        raise CodecError(
            f"This file names zoo model {header.model_name!r}, which cannot be "
            f"used: {message}"
        ) from None
    if entry.sha256 != header.weights_sha256:
        raise CodecError(
            f"This file was compressed with zoo model {entry.name!r} with weights "
            f"sha256 {header.weights_sha256[:16]}... The zoo's {entry.name!r} has "
            f"weights sha256 {str(entry.sha256)[:16]}...; decoding with them would "
            "give wrong pixels."
        )
    try:
        return zoo.load(entry.name)
    except (OSError, ValueError) as error:
        raise CodecError(
            f"This file needs zoo model {entry.name!r}, which does not load: {error}"
        ) from error


def decompress(blob, model=None, progress=False):
    """The uint8 levels (n, H, W, C) that `compress` coded into `blob`; their
    file names, when stored, are `read_header(blob)[0].names`.

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
    model, name, digest = _identity(model if model is not None else _named(header))
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
            f"levels do not fit model {name!r}: expected "
            f"{tuple(model.image_shape)} and {model.num_levels} levels."
        )
    try:
        kind = _kind(model)
    except ValueError as error:
        raise CodecError(f"{error} The file names it: it is corrupted.") from None
    if kind != header.codec:
        raise CodecError(
            f"Corrupted tfgen codec file: model {name!r} is coded with the {kind} "
            f"codec. Received a header for the {header.codec} codec."
        )
    payload = payload_words(blob, offset)
    coder = coding_copy(model)
    if header.codec == "autoregressive":
        levels = autoregressive.decode(coder, header, payload, progress=progress)
    else:
        try:
            levels = bits_back.decode(coder, header, payload, progress=progress)
        except CodecError:
            raise
        except (AssertionError, ValueError) as error:  # the ANS coder refused
            raise CodecError(UNDECODABLE) from error
    if image_checksum(levels) != header.checksum:
        raise CodecError(f"The decoded images fail their CRC-32. {UNDECODABLE}")
    return levels.astype(np.uint8)
