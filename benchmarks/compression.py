"""Lossless compression with the zoo's likelihood models, against everyday codecs.

What it measures, per dataset (binarized MNIST, 8-bit MNIST, CIFAR-10 and,
where a zoo model exists, Fashion-MNIST), on the same test images:

- **tfgen.codec** with every zoo entry trained on that dataset that has an
  exact or bits-back likelihood: range coding of an autoregressive model's
  conditionals, or BB-ANS with a VAE. The size on disk is the whole file
  `tfgen.codec.compress` writes (header included), in bits per dimension;
  beside it the payload alone and the model's own rate on the same images:
  its exact NLL (autoregressive models) or its negative ELBO (VAEs: the rate
  BB-ANS tends to; the IWAE NLL, where the entry records one, is a lower
  bound on what bits-back coding can reach). Every file is decoded again and
  compared with the input, pixel by pixel.
- **Baselines**, in the same run on the same images: PNG (Pillow,
  `optimize=True`; 1-bit for binary images) and WebP lossless (Pillow,
  `method=6`) one file per image as the BB-ANS paper does; JPEG-XL lossless
  (imagecodecs, effort 9) one file per image, where imagecodecs is installed
  (`pip install ".[bench]"`); gzip -9, bzip2 -9 and xz -9 of the whole set's
  raw bytes (one byte per pixel value, the set as one stream). Binary images
  are given to the image codecs as 0/255 pixels, to the stream compressors as
  0/1 bytes.
- **Speed**: images per second for encoding and decoding, wall clock, one
  process, after one warm-up call; each dataset's subsection gives its run's
  date, hardware (cores used when pinned), load average and `--note` lines.

`--datasets` reruns some datasets: their subsections of RESULTS.md, lines of
the README summary and entries' `compressed_bits_per_dim` records are
replaced, the other datasets' kept as their runs wrote them.

`--account` measures nothing else and writes nothing: for each
autoregressive entry it prints where its file's bits go beyond the model's
NLL, in bits per image (`account`): float64 against float32 networks, the
logits' rounding, the coder's 24-bit tables, the entropy coder's
arithmetic and flushes, padding, and the header's fixed fields and chunk
table, for the file format before version 3 (a range-coded chunk per
batch), a range-coded stream, and version 3 (one ANS stack).

Anchor: BB-ANS paper (Townsend et al. 2019, arXiv 1901.04866), Table 2:
binarized MNIST, BB-ANS 0.19 bits/dim, bz2 0.25, gzip 0.33, PNG 0.78, WebP 0.44.

Run from the repository root (with $TFGEN_DATA_DIR holding the datasets):

    python3 benchmarks/compression.py                         # every dataset
    python3 benchmarks/compression.py --datasets binarized_mnist --limit 100 --no-write
    python3 benchmarks/compression.py --datasets binarized_mnist --entries pixelcnn_mnist \
        --limit 200 --batch-size 50 --account                   # where the bits go
    python3 benchmarks/compression.py --helpfull                # every flag
"""

import bz2
import dataclasses
import datetime
import gzip
import io
import lzma
import math
import os
import re
import time

# First: common sets TensorFlow's log level and Keras' backend before they load.
import common
import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from PIL import Image  # noqa: E402

from tfgen import codec, data, models, zoo  # noqa: E402
from tfgen.levels import pixels_from_levels  # noqa: E402
from tfgen.reporting import replace_metrics, write_section  # noqa: E402

MARK_START = "<!-- compression:start -->"
MARK_END = "<!-- compression:end -->"
README_START = "<!-- compression_summary:start -->"
README_END = "<!-- compression_summary:end -->"

DATASETS = ("binarized_mnist", "mnist", "fashion_mnist", "cifar10")
# Test images per dataset by default: all of them, but CIFAR-10's 3,072
# sequential decoding steps per batch make 10,000 images hours on a CPU.
DEFAULT_IMAGES = {"cifar10": 500}
ANCHOR = (
    "BB-ANS paper (Townsend et al. 2019, arXiv 1901.04866), Table 2, binarized "
    "MNIST: BB-ANS 0.19, bz2 0.25, gzip 0.33, PNG 0.78, WebP 0.44 bits/dim"
)


# ------------------------------------------------------------------- images
def test_levels(name, data_dir, count):
    """uint8 levels (n, H, W, C) of `count` evenly spaced test images (all of
    them when count is None): binarized MNIST's test split is sorted by class,
    so a prefix would be biased."""
    num_levels = 2 if name == "binarized_mnist" else 256
    x = np.concatenate(
        [
            np.asarray(batch)
            for batch in data.load(
                name, "test", data_dir=data_dir, num_levels=num_levels, batch_size=1000
            )
        ]
    )
    if count and count < len(x):
        x = x[np.linspace(0, len(x) - 1, count).round().astype(int)]
    return np.round(x * (num_levels - 1)).astype(np.uint8), num_levels


def pixels(levels, num_levels):
    return pixels_from_levels(levels, num_levels)


# ---------------------------------------------------------------- baselines
def _timed(fn, items):
    start = time.perf_counter()
    out = [fn(item) for item in items]
    return out, time.perf_counter() - start


def _pil_image(image, binary):
    image = image[..., 0] if image.shape[-1] == 1 else image
    pil = Image.fromarray(image)
    return pil.convert("1") if binary else pil


def _pil_codec(fmt, **options):
    def encode(image, binary):
        buffer = io.BytesIO()
        _pil_image(image, binary).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(blob, binary, shape):
        out = np.asarray(
            Image.open(io.BytesIO(blob)).convert("L" if shape[-1] == 1 else "RGB")
        )
        return out.reshape(shape)

    return encode, decode


def _jpegxl_codec():
    try:
        import imagecodecs
    except ImportError:
        return None
    if not imagecodecs.JPEGXL.available:
        return None

    def encode(image, binary):
        return imagecodecs.jpegxl_encode(
            image[..., 0] if image.shape[-1] == 1 else image, lossless=True, effort=9
        )

    def decode(blob, binary, shape):
        return np.asarray(imagecodecs.jpegxl_decode(blob)).reshape(shape)

    return encode, decode


def per_image_baselines():
    codecs = {
        "PNG (Pillow, optimize, one file per image)": _pil_codec("PNG", optimize=True),
        "WebP lossless (Pillow, method 6, one file per image)": _pil_codec(
            "WEBP", lossless=True, quality=100, method=6
        ),
    }
    jpegxl = _jpegxl_codec()
    if jpegxl is not None:
        codecs["JPEG-XL lossless (imagecodecs, effort 9, one file per image)"] = jpegxl
    return codecs


STREAM_CODECS = {
    "gzip -9 (raw bytes, whole set)": (
        lambda b: gzip.compress(b, 9, mtime=0),
        gzip.decompress,
    ),
    "bzip2 -9 (raw bytes, whole set)": (lambda b: bz2.compress(b, 9), bz2.decompress),
    "xz -9 (raw bytes, whole set)": (
        lambda b: lzma.compress(b, preset=9),
        lzma.decompress,
    ),
}


def run_baselines(levels, num_levels):
    n = len(levels)
    binary = num_levels == 2
    images = pixels(levels, num_levels)
    dims = levels.size
    rows = []
    for name, (encode, decode) in per_image_baselines().items():
        blobs, t_enc = _timed(lambda im, e=encode: e(im, binary), images)
        decoded, t_dec = _timed(
            lambda b, d=decode: d(b, binary, images.shape[1:]), blobs
        )
        size = sum(len(b) for b in blobs)
        rows.append(
            dict(
                method=name,
                bytes=size,
                bpd=8 * size / dims,
                encode=n / t_enc,
                decode=n / t_dec,
                exact=bool(np.array_equal(np.stack(decoded), images)),
            )
        )
    raw = np.ascontiguousarray(levels, np.uint8).tobytes()
    for name, (encode, decode) in STREAM_CODECS.items():
        start = time.perf_counter()
        blob = encode(raw)
        t_enc = time.perf_counter() - start
        start = time.perf_counter()
        back = decode(blob)
        t_dec = time.perf_counter() - start
        rows.append(
            dict(
                method=name,
                bytes=len(blob),
                bpd=8 * len(blob) / dims,
                encode=n / t_enc,
                decode=n / t_dec,
                exact=back == raw,
            )
        )
    return rows


# -------------------------------------------------------------------- codec
def why_not(entry):
    """None for an entry the codec can use, else why it cannot."""
    cls = models.get(entry.model)
    if issubclass(cls, models.AutoregressiveModel):
        if entry.config.get("num_classes"):
            return "is class-conditional (the codec codes unlabelled images)"
    elif not issubclass(cls, models.VAE):
        return f"has no likelihood (model={entry.model})"
    return None if entry.weights else "has no weights"


def codec_entries(dataset, patterns=None):
    """Zoo entries with weights on `dataset` that the codec can use, among the
    `--entries` names or globs (all without them). Without them,
    autoregressive models with no cached sampler are left out: their
    decoder reruns the whole network at each of the H x W x C positions,
    hours for a test set on a CPU."""
    what = "zoo entry with weights that tfgen.codec can use"
    selected, _ = common.select_entries(common.zoo_entries(), patterns, why_not, what)
    found = []
    for entry in selected:
        if entry.dataset.get("name") != dataset:
            continue
        if issubclass(models.get(entry.model), models.AutoregressiveModel):
            if not patterns and not zoo.load(entry.name).supports_cached_sampling:
                logging.info(
                    "%s: %s left out (no cached sampler; pass --entries)",
                    dataset,
                    entry.name,
                )
                continue
        found.append(entry)
    return found


def model_rate(model, levels, num_levels, batch_size):
    """`(nats per image, what)`: the exact NLL of an autoregressive model, or
    the negative ELBO of a VAE (one posterior draw per image, seed 0)."""
    x = pixels_from_levels(levels, num_levels).astype("float32") / 255.0
    if isinstance(model, models.AutoregressiveModel):
        return -model.log_prob(x, batch_size=batch_size).astype("float64"), "exact NLL"
    return -model.elbo(x, num_samples=1, seed=0).astype("float64"), "negative ELBO"


def run_codec(entry, levels, num_levels, batch_size, progress):
    keras.config.set_dtype_policy("float32")
    model = zoo.load(entry.name)
    if model.num_levels != num_levels:
        raise ValueError(
            f"{entry.name} models {model.num_levels} levels; the test images have "
            f"{num_levels}."
        )
    n, dims = len(levels), levels.size
    rate, what = model_rate(model, levels, num_levels, 500)
    # Warm-up: builds the float64 coding copy and traces the graphs.
    warm = levels[: min(2, n)]
    codec.decompress(codec.compress(warm, model, batch_size=batch_size), model)
    start = time.perf_counter()
    blob = codec.compress(levels, model, batch_size=batch_size, progress=progress)
    t_enc = time.perf_counter() - start
    start = time.perf_counter()
    back = codec.decompress(blob, model, progress=progress)
    t_dec = time.perf_counter() - start
    header, offset = codec.read_header(blob)
    rate_bpd = float(rate.mean()) / (dims / n * math.log(2.0))
    return dict(
        entry=entry,
        method=f"tfgen.codec, `{entry.name}` ({header.codec})",
        codec=header.codec,
        bytes=len(blob),
        header_bytes=offset,
        bpd=8 * len(blob) / dims,
        payload_bpd=8 * (len(blob) - offset) / dims,
        model_bpd=rate_bpd,
        model_rate=what,
        overhead=(8 * len(blob) / dims) / rate_bpd - 1.0,
        encode=n / t_enc,
        decode=n / t_dec,
        exact=bool(np.array_equal(back, levels)),
        batch_size=header.batch_size,
    )


# --------------------------------------------------------- bit accounting
# `--account`: where a tfgen.codec file's bits go beyond the model's NLL, part
# by part, for the file format before version 3 (one range-coded chunk per
# batch) and this tfgen's (one stream).
def fixed_point_probabilities(probs, precision=24):
    """The probabilities (m, L) the range coder codes with: constriction's
    `Categorical(perfect=False)` tables, each value one 2^-precision unit
    plus its share of the rest, by its float64 CDF, rounded down."""
    probs = np.asarray(probs, np.float64)
    num_levels = probs.shape[-1]
    free = 2.0**precision - num_levels
    cdf = np.cumsum(probs[:, :-1], axis=-1)  # left edges, summed in order
    cdf = np.concatenate([np.zeros((len(probs), 1)), cdf], -1)
    left = np.floor(cdf * (free / probs.sum(-1, keepdims=True)))
    left += np.arange(num_levels)
    right = np.concatenate([left[:, 1:], np.full((len(left), 1), 2.0**precision)], -1)
    return (right - left) / 2.0**precision


#: The payload layouts `account` compares: tfgen's before format version 3,
#: a range-coded stream without the per-batch flushes (no tfgen format: it
#: separates the range coder's flushes from its truncation), and version 3.
LAYOUTS = {
    "chunks": "version 1: a range-coded chunk per batch",
    "stream": "one range-coded stream (no format)",
    "stack": "version 3: one ANS stack (this tfgen)",
}


def _coded_words(tables, symbols, layout, least):
    """Payload words of each chunk of the batches' `(tables, symbols)` in
    `layout` (a key of `LAYOUTS`); `least`: the fewest words of a stack."""
    constriction = codec.coder.require_constriction()
    family = codec.coder.categorical()
    if layout == "stack":  # as tfgen.codec.autoregressive.encode pushes it
        for state in ([], [0, 1]):  # [0, 1]: a full state, for a padded stack
            stack = constriction.stream.stack.AnsCoder(np.array(state, np.uint32))
            for probs, values in zip(tables[::-1], symbols[::-1]):
                stack.encode_reverse(values, family, probs)
            words = len(stack.get_compressed())
            if words >= least:
                return [words]
    chunks = []
    for probs, values in zip(tables, symbols):
        if layout == "chunks" or not chunks:
            chunks.append(constriction.stream.queue.RangeEncoder())
        chunks[-1].encode(values, family, probs)
    return [len(e.get_compressed()) for e in chunks]


def _bits(logits, values, num_levels):
    """-log2 p of `values` (m,) under float64 `logits` ((m, 1) Bernoulli or
    (m, L)), without rounding."""
    if num_levels == 2:  # log-sigmoid, exact in float64
        signed = np.where(values == 1, -logits[:, 0], logits[:, 0])
        return np.logaddexp(0.0, signed) / math.log(2.0)
    shifted = logits - logits.max(-1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(-1))
    return (log_z - shifted[np.arange(len(values)), values]) / math.log(2.0)


ACCOUNT_PARTS = (
    "float64 network instead of float32",
    "logits cast to float32",
    f"logits rounded to multiples of 2^{int(math.log2(codec.LOGIT_QUANTUM))}",
    "24-bit fixed-point tables (every value >= 2^-24)",
    "entropy coder: arithmetic and flushes",
    "padding to the format's minimum",
    "header: fixed fields (magic ... sha256 ... CRC-32s)",
    "header: chunk table (4 bytes a chunk)",
)


def account(model, levels, num_levels, batch_size):
    """Where the bits of autoregressive `model`'s file of `levels` (n, H, W,
    C) go beyond its float32 NLL (the benchmark's model rate).

    Returns `(nll, parts, sizes)`: the NLL in bits (the whole set), the
    parts in `ACCOUNT_PARTS` order as `(part, bits in each of LAYOUTS)`,
    and the file sizes in bytes by layout; version 3's is checked to be
    the length of the file `codec.compress` writes.
    """
    ar = codec.autoregressive
    coder = codec.coding_copy(model)
    n, shape = len(levels), tuple(model.image_shape)
    dims = int(np.prod(shape))
    batch_size = min(batch_size, n, codec.container.max_batch(shape))
    nll = float(model_rate(model, levels, num_levels, batch_size)[0].sum())
    nll /= math.log(2.0)
    rates = np.zeros(4)  # float64, float32 logits, rounded, fixed point
    tables, symbols = [], []
    for start in range(0, n, batch_size):
        chunk = levels[start : start + batch_size].astype(np.int32)
        m = len(chunk)
        padded = np.zeros((batch_size, *shape), np.int32)
        padded[:m] = chunk  # the batch shape the coder runs
        logits = ar.network_logits(coder, padded)[:m]  # float32, as coded
        wide = coder.network(coder.network_args_from_levels(padded), training=False)
        # Symbols in the decoder's order: position-major, then image.
        order = np.arange(m * dims).reshape(m, dims).T.reshape(-1)
        values = chunk.reshape(-1)[order]
        wide = np.asarray(wide, np.float64)[:m].reshape(m * dims, -1)[order]
        logits = logits.reshape(m * dims, -1)[order]
        probs = ar.probabilities(logits, num_levels)
        pick = (np.arange(len(values)), values)
        rates += [
            _bits(wide, values, num_levels).sum(),
            _bits(logits.astype(np.float64), values, num_levels).sum(),
            -np.log2(probs[pick]).sum(),
            -np.log2(fixed_point_probabilities(probs)[pick]).sum(),
        ]
        tables.append(probs)
        symbols.append(values)
    blob = codec.compress(levels, model, batch_size=batch_size)
    written = codec.read_header(blob)[0]
    # The same images as tfgen wrote them before version 3: a chunk per batch.
    before = dataclasses.replace(
        written, one_stack=False, chunk_words=[0] * len(symbols)
    )
    parts, sizes = [], {}
    for layout in LAYOUTS:
        header = before if layout == "chunks" else written
        least = [codec.container.min_words(c, shape) for c in header.chunk_counts()]
        words = _coded_words(tables, symbols, layout, least[0])
        payload = [max(w, f) for w, f in zip(words, least)]
        header_bytes = len(header.to_bytes())
        part = [rates[0] - nll, *np.diff(rates)]
        part += [32 * sum(words) - rates[3], 32 * (sum(payload) - sum(words))]
        part += [8 * header_bytes - 32 * len(words), 32 * len(words)]
        parts.append(part)
        sizes[layout] = header_bytes + 4 * sum(payload)
    if sizes["stack"] != len(blob):
        raise RuntimeError(
            f"The accounting's version-3 file has {sizes['stack']} bytes; "
            f"codec.compress wrote {len(blob)}."
        )
    return nll, list(zip(ACCOUNT_PARTS, *parts)), sizes


def print_accounts(entries, levels, num_levels, batch_size, dataset):
    """Prints `account`'s table for each autoregressive entry."""
    n = len(levels)
    for entry in entries:
        model = zoo.load(entry.name)
        if not isinstance(model, models.AutoregressiveModel):
            logging.info("%s: no accounting for bits-back coding; skipped", entry.name)
            continue
        batch = min(batch_size, n)
        nll, parts, sizes = account(model, levels, num_levels, batch)
        print(
            f"\n`{entry.name}`, {describe(dataset, n, num_levels)}, batches of "
            f"{batch} ({-(-n // batch)} chunks before version 3); bits per image:\n"
        )
        print(account_table(nll, parts, sizes, n))


def account_table(nll, parts, sizes, n):
    """The Markdown table of `account`'s result for n images, bits per image."""
    files = [8 * sizes[layout] / n for layout in LAYOUTS]

    def row(label, cells):
        return f"| {label} | {' | '.join(cells)} |"

    lines = [
        row("part", LAYOUTS.values()),
        row("---", ["---:"] * len(LAYOUTS)),
        row("model NLL, float32 (the model rate)", [f"{nll / n:.4f}"] * len(files)),
        *(row(f"+ {part}", [f"{b / n:+.4f}" for b in bits]) for part, *bits in parts),
        row("= file", [f"{f:.4f}" for f in files]),
        row("file vs model rate", [f"{100 * (f * n / nll - 1):+.3f}%" for f in files]),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ report
# How each dataset's subsection heading (RESULTS.md) and summary lines
# (README) begin: a run of some datasets finds the others' by these.
DESCRIPTIONS = {
    "binarized_mnist": "binarized MNIST test split, the fixed Larochelle-Murray binarization",
    "mnist": "8-bit MNIST test split",
    "fashion_mnist": "8-bit Fashion-MNIST test split",
    "cifar10": "CIFAR-10 test split, 8-bit RGB",
}


def describe(dataset, n, num_levels):
    what = DESCRIPTIONS[dataset]
    return f"{what}, {n:,} images ({'all' if n == 10000 else 'evenly spaced'}), {num_levels} levels"


def dataset_of(text):
    """The dataset whose description `text` (a heading or summary line without
    its '### ' or '- ') starts with, else None."""
    for name, what in DESCRIPTIONS.items():
        if text.startswith(what + ","):
            return name
    return None


def table(rows):
    lines = [
        "| Method | bits/dim on disk | model rate (bits/dim) | vs model rate | "
        "encode img/s | decode img/s | lossless |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "model_bpd" in r:
            model = f"{r['model_bpd']:.4f} ({r['model_rate']})"
            vs = f"{100 * r['overhead']:+.2f}%"
        else:
            model, vs = "–", "–"
        lines.append(
            f"| {r['method']} | {r['bpd']:.4f} | {model} | {vs} | "
            f"{r['encode']:,.1f} | {r['decode']:,.1f} | {'yes' if r['exact'] else 'NO'} |"
        )
    return "\n".join(lines)


def entry_record(result, dataset, n, num_levels, date, load, notes):
    protocol = {
        "dataset": dataset,
        "split": "test",
        "images": n,
        "subset": None if n == 10000 else f"{n} evenly spaced test images",
        "data": describe(dataset, n, num_levels),
        "file": "whole tfgen.codec file, header included "
        f"({result['header_bytes']} header bytes; batch size {result['batch_size']})",
        "model_rate": f"{result['model_bpd']:.4f} bits/dim ({result['model_rate']}) on the same images",
        "round_trip": "every image decoded bit-exact" if result["exact"] else "FAILED",
        "encode_images_per_second": round(result["encode"], 1),
        "decode_images_per_second": round(result["decode"], 1),
        "script": "benchmarks/compression.py",
        "hardware": common.hardware_line(),
        "load": load,
        "notes": list(notes),
        "date": date,
    }
    return {
        "name": "compressed_bits_per_dim",
        "value": round(result["bpd"], 4),
        "unit": "bits/dim",
        "protocol": protocol,
    }


# ------------------------------------------------------------------ merging
# A run of some datasets (`--datasets`) rewrites their subsections and
# summary lines and keeps the other datasets' as they were, each with the
# run lines of the run that measured it.
def marked_text(path, start_mark, end_mark):
    """The text between the marks in `path`; '' without the file or marks."""
    if not os.path.isfile(path):
        return ""
    with open(path) as f:
        text = f.read()
    start, end = text.find(start_mark), text.find(end_mark)
    return text[start + len(start_mark) : end] if start != -1 and end > start else ""


def kept_subsections(old, measured):
    """{dataset: subsection} of the datasets of the RESULTS.md section `old`
    not in `measured`. A subsection written when the section had one
    Hardware and Date line for all datasets gets those lines as its own."""
    header, *parts = re.split(r"^### ", old, flags=re.M)
    shared = {
        line.split(": ", 1)[0]: line.split(": ", 1)[1]
        for line in header.splitlines()
        if line.startswith(("- Date: ", "- Hardware: "))
    }
    kept = {}
    for part in parts:
        name = dataset_of(part)
        if name is None or name in measured:
            continue
        heading, _, body = part.partition("\n")
        body = body.strip("\n")
        if not body.startswith("- Run: ") and shared:
            run = [
                f"- Run: {shared.get('- Date', 'date unknown')}, for all the datasets of that run"
            ]
            if "- Hardware" in shared:
                run.append(f"- Hardware: {shared['- Hardware']}")
            body = "\n".join(run) + "\n\n" + body
        kept[name] = f"### {heading}\n\n{body}\n"
    return kept


def kept_summary_lines(old, measured):
    """[(dataset, line)] of the README summary `old` for the datasets not in
    `measured`, each ending with its run's date (the lead line's, for lines
    written before each line carried one)."""
    found = re.search(r"\((\d{4}-\d{2}-\d{2})\b", old)
    kept = []
    for line in old.splitlines():
        name = dataset_of(line[2:]) if line.startswith("- ") else None
        if name is None or name in measured:
            continue
        if found and not re.search(r"\(\d{4}-\d{2}-\d{2}\)\.$", line):
            line = f"{line.rstrip('.')} ({found.group(1)})."
        kept.append((name, line))
    return kept


def in_dataset_order(items):
    """`(dataset, text)` pairs sorted by DATASETS' order, stable within one."""
    return sorted(items, key=lambda item: DATASETS.index(item[0]))


def results_section(subsections):
    """The RESULTS.md section around `subsections` ({dataset: text})."""
    return "\n".join(
        [
            "## Lossless compression",
            "",
            "`python3 benchmarks/compression.py`; one subsection per dataset, each "
            "with the run that measured it (`--datasets` reruns some and keeps the "
            "others).",
            "",
            "- bits/dim on disk: the whole file (tfgen: header with model name and "
            "weights sha256 included) x 8 / (images x H x W x C). Model rate: the "
            "same images' exact NLL (autoregressive) or negative ELBO with one "
            "posterior draw (VAE), float32. Every method's output was decoded and "
            "compared with the input.",
            "- Per-image codecs write one standalone file per image; gzip, bzip2 and "
            "xz compress the whole set's raw bytes (one byte per value) as one stream.",
            "- The coders' fixed-point probabilities (constriction's "
            "`Categorical(perfect=False)`, 24 bits) give every value at least about "
            "2^-24: where a model puts less on the true value, the file pays about 24 "
            "bits instead of -log2 p, so a badly calibrated model can be beaten on "
            "disk (a negative 'vs model rate').",
            "- An autoregressive file (format version 3, one ANS stack) is the "
            "model's NLL plus its header (76 bytes and the zoo name a file: weights "
            "sha256, shape, counts, CRC-32s) and one flush of under 64 bits; "
            "`--account` prints the bits part by part. Runs before 2026-12-03 wrote "
            "format version 1, a range-coded chunk per batch, whose flushes, chunk "
            "table and range truncation added about 0.29 bits per binarized MNIST "
            "image (0.23%).",
            f"- Anchor: {ANCHOR}.",
            "",
            *(text for _, text in in_dataset_order(subsections.items())),
        ]
    )


def readme_summary(lines):
    """The README summary around `lines` ([(dataset, line)])."""
    return "\n".join(
        [
            "Lossless compression of test images (`python3 benchmarks/compression.py`, "
            "the date of its run at the end of each line; protocol and every codec in "
            "benchmarks/RESULTS.md):",
            "",
            *(line for _, line in in_dataset_order(lines)),
        ]
    )


flags.DEFINE_multi_string(
    "datasets",
    list(DATASETS),
    "datasets to compress, comma-separated or the flag repeated "
    f"(default: {', '.join(DATASETS)})",
)
common.define_entries_flag("every usable entry")
flags.DEFINE_integer(
    "limit",
    None,
    "evenly spaced test images per dataset (default: all; CIFAR-10 500)",
)
common.define_data_dir_flag()
flags.DEFINE_integer("batch-size", 250, "images per batch of the model's conditionals")
flags.DEFINE_boolean("progress", False, "progress bars")
flags.DEFINE_boolean(
    "account",
    False,
    "print where each autoregressive entry's file spends its bits beyond the "
    "model's NLL (bits per image, part by part, for the chunk-per-batch format "
    "before version 3 and for one stream) instead of benchmarking; writes nothing",
)
common.define_output_flags(readme="a summary per dataset")
common.define_note_flag()


def main(argv):
    # Words after the flags stay an error: --datasets and --entries both list.
    args = common.script_args(__name__, argv, arguments=None)
    if not (args.no_write or args.account):  # it writes: measure this checkout
        common.require_checkout_tfgen()
    command = common.command_line(__name__, argv)  # notes are written as notes
    hardware = common.hardware_line()
    subsections, summary, records = {}, [], {}
    patterns = common.entry_patterns(args.entries)
    for dataset in common.entry_patterns(args.datasets):
        if dataset not in DATASETS:
            raise common.usage_error(
                f"Expected --datasets among {', '.join(DATASETS)}. Received: {dataset!r}"
            )
        entries = codec_entries(dataset, patterns)
        if not entries:
            logging.info(
                "%s: no zoo model with a likelihood and weights; skipped", dataset
            )
            continue
        start = time.perf_counter()
        date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        load = common.load_line()
        count = args.limit or DEFAULT_IMAGES.get(dataset)
        levels, num_levels = test_levels(dataset, args.data_dir, count)
        n = len(levels)
        if args.account:
            print_accounts(entries, levels, num_levels, args.batch_size, dataset)
            continue
        rows = []
        for entry in entries:
            result = run_codec(
                entry, levels, num_levels, args.batch_size, args.progress
            )
            logging.info(
                "%s %s: %.4f bits/dim on disk, model %.4f (%+.2f%%), exact=%s",
                dataset,
                entry.name,
                result["bpd"],
                result["model_bpd"],
                100 * result["overhead"],
                result["exact"],
            )
            rows.append(result)
            records.setdefault(entry.directory, []).append(
                entry_record(result, dataset, n, num_levels, date, load, args.note)
            )
        rows += run_baselines(levels, num_levels)
        for row in rows:
            logging.info("  %s: %.4f bits/dim", row["method"], row["bpd"])
        wall = time.perf_counter() - start
        subsections[dataset] = "\n".join(
            [
                f"### {describe(dataset, n, num_levels)}",
                "",
                f"- Run: {date}; wall time {wall:.0f} s; `{command}`",
                f"- Hardware: {hardware}; one process; {load}",
                *(f"- Note: {note}" for note in args.note),
                "",
                table(rows),
                "",
            ]
        )
        best = min(rows, key=lambda r: r["bpd"] if "model_bpd" not in r else math.inf)
        for r in rows:
            if "model_bpd" in r:
                summary.append(
                    (
                        dataset,
                        f"- {describe(dataset, n, num_levels)}: `{r['entry'].name}` "
                        f"{r['bpd']:.4f} bits/dim on disk ({100 * r['overhead']:+.2f}% "
                        f"over its {r['model_rate']}), best classical codec "
                        f"{best['bpd']:.4f} ({best['method'].split(' (')[0]}); every "
                        f"image decoded exactly: {'yes' if r['exact'] else 'NO'} "
                        f"({date[:10]}).",
                    )
                )
    if args.account:
        return 0
    if not subsections:
        return 1
    old = marked_text(args.output, MARK_START, MARK_END)
    section = results_section({**kept_subsections(old, subsections), **subsections})
    print(section)
    if args.no_write:
        return 0
    for directory, entry_records in records.items():
        replace_metrics(os.path.join(directory, "entry.json"), entry_records)
    write_section(args.output, section, MARK_START, MARK_END)
    old = marked_text(args.readme, README_START, README_END)
    readme = readme_summary(kept_summary_lines(old, subsections) + summary)
    write_section(args.readme, readme, README_START, README_END)
    logging.info("wrote %s, %s and the entries' metrics", args.output, args.readme)
    return 0


if __name__ == "__main__":
    app.run(main)
