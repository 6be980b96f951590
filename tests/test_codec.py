import dataclasses
import math
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import teacher_forced_logits
from codec_models import register_tiny
from PIL import Image

import tfgen
from tfgen import cli, codec, distributions, zoo
from tfgen.codec import bits_back

AR_CASES = {
    "pixelcnn_binary": (
        "PixelCNN",
        dict(image_shape=(5, 4, 1), num_levels=2, filters=6, num_blocks=1),
    ),
    "pixelcnn_rgb": (
        "PixelCNN",
        dict(image_shape=(3, 3, 3), num_levels=256, filters=6, num_blocks=1),
    ),
    "gated_levels": (
        "GatedPixelCNN",
        dict(image_shape=(4, 4, 1), num_levels=5, filters=6, num_layers=2),
    ),
    # PixelRNNs decode through the cached sampler, their layers stepping.
    "row_lstm_binary": (
        "RowLSTMPixelRNN",
        dict(image_shape=(4, 3, 1), num_levels=2, units=4, num_layers=1),
    ),
    "diagonal_rgb": (
        "DiagonalBiLSTMPixelRNN",
        dict(image_shape=(3, 3, 3), num_levels=6, units=3, num_layers=2),
    ),
}
VAE_CASES = {
    "vae_bernoulli": dict(image_shape=(6, 6, 1), likelihood="bernoulli"),
    "vae_categorical": dict(image_shape=(4, 4, 1), likelihood="categorical"),
    "vae_mixture_rgb": dict(
        image_shape=(4, 4, 3), likelihood="logistic_mixture", num_mixtures=3
    ),
}


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """`make(name)`: a registered zoo entry (weights and sha256 in tmp_path)
    of one of the tiny cases, loaded through tfgen.zoo.load."""
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))

    def make(name, seed=0):
        if name in AR_CASES:
            cls, config = AR_CASES[name]
        else:
            cls = "VAE"
            config = dict(latent_dim=2, hidden_units=(8,), **VAE_CASES[name])
        folder = tmp_path / f"{name}_{seed}"
        folder.mkdir()
        entry_name = f"{name}_{seed}".replace("_", "-")
        return register_tiny(cls, config, folder, entry_name, seed=seed)

    return make


def _levels(model, n, seed=0):
    shape = tuple(model.image_shape)
    return np.random.default_rng(seed).integers(0, model.num_levels, (n, *shape))


@pytest.mark.parametrize("name", sorted(AR_CASES) + sorted(VAE_CASES))
def test_round_trip_is_bit_exact(tiny_zoo, name):
    model = tiny_zoo(name)
    levels = _levels(model, 7)
    # Chunks of 3 for autoregressive models: two full, one partial.
    blob = codec.compress(levels, model, batch_size=3)
    header, _ = codec.read_header(blob)
    assert header.codec == ("bits_back" if name.startswith("vae") else "autoregressive")
    assert header.model_name == model.zoo_name and header.count == 7
    decoded = codec.decompress(blob)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, levels)


def test_autoregressive_rate_is_the_model_nll(tiny_zoo):
    # The payload costs -log2 p(x) bits, up to the range coder's flush
    # (at most two 32-bit words) and the rounding of the logits.
    model = tiny_zoo("pixelcnn_binary")
    levels = _levels(model, 200, seed=1)
    blob = codec.compress(levels, model, batch_size=200)
    header, _ = codec.read_header(blob)
    x = tfgen.levels.from_levels(levels, 2).numpy().astype("float32")
    nll_bits = -float(np.sum(model.log_prob(x))) / math.log(2.0)
    payload_bits = 8 * header.payload_bytes
    assert nll_bits <= payload_bits <= nll_bits * 1.002 + 64


def test_bits_back_rate_is_the_negative_elbo(tiny_zoo):
    # BB-ANS codes each image at -log p(x|z) - log p(z) + log q(z|x) for the
    # z it pops: on average the negative ELBO, plus the initial words.
    model = tiny_zoo("vae_bernoulli")
    levels = _levels(model, 300, seed=2)
    blob = codec.compress(levels, model)
    header, _ = codec.read_header(blob)
    x = levels.astype("float32")
    elbo_bits = -float(np.sum(model.log_prob(x, num_samples=1, seed=0))) / math.log(2.0)
    coded = 8 * header.payload_bytes - 32 * bits_back.INITIAL_WORDS
    assert abs(coded - elbo_bits) < 0.03 * elbo_bits


def test_logistic_mixture_tables_match_the_distribution():
    rng = np.random.default_rng(0)
    k, c, levels = 3, 3, 256
    params = rng.normal(size=(2, 2, distributions.logistic_mixture_num_params(k, c)))
    params = params.astype("float32")
    logits, tables = distributions.logistic_mixture_level_probs(params, k, c, levels)
    np.testing.assert_allclose(np.sum(tables, axis=-1), 1.0, atol=1e-5)
    x = rng.integers(0, levels, (2, 2, c))
    weights = tf.nn.softmax(logits).numpy()
    picked = np.take_along_axis(
        tables.numpy(), np.broadcast_to(x[:, :, None, :, None], (2, 2, k, c, 1)), -1
    )[..., 0]
    by_hand = np.log(np.sum(weights * np.prod(picked, axis=-1), axis=-1)).sum()
    dist = distributions.discretized_logistic_mixture(params, k, c, levels)
    np.testing.assert_allclose(by_hand, dist.log_prob(x.astype("float32")), rtol=1e-4)


def test_header_round_trip_and_integrity():
    header = codec.Header(
        codec="autoregressive",
        model_name="pixelcnn_mnist",
        weights_sha256="ab" * 32,
        image_shape=(28, 28, 1),
        num_levels=2,
        count=3,
        batch_size=2,
        chunk_words=[2, 1],
        checksum=12345,
    )
    blob = header.to_bytes() + bytes(12)
    parsed, offset = codec.read_header(blob)
    assert parsed == header and offset == len(blob) - 12
    with pytest.raises(codec.CodecError, match="Not a tfgen codec file"):
        codec.read_header(b"PNG!" + blob[4:])
    with pytest.raises(codec.CodecError, match="Truncated.*payload of 12 bytes"):
        codec.read_header(blob[:-1])
    with pytest.raises(codec.CodecError, match="Truncated.*inside the model name"):
        codec.read_header(blob[:12])
    with pytest.raises(codec.CodecError, match="Corrupted.*payload of 12 bytes"):
        codec.read_header(blob + b"\0")
    flipped = bytearray(blob)
    flipped[10] ^= 1  # inside the model name
    with pytest.raises(codec.CodecError, match="header checksum"):
        codec.read_header(bytes(flipped))
    versioned = bytearray(blob)
    versioned[4] = 9
    with pytest.raises(codec.CodecError, match="format version 9"):
        codec.read_header(bytes(versioned))


@pytest.mark.parametrize("name", ["pixelcnn_binary", "pixelcnn_rgb", "vae_bernoulli"])
def test_corrupted_payload_is_refused(tiny_zoo, name):
    # The first payload word's high byte: its bits decide the first symbols
    # (the stream's last bits may be padding that no symbol reads).
    model = tiny_zoo(name)
    blob = bytearray(codec.compress(_levels(model, 16), model))
    _, offset = codec.read_header(bytes(blob))
    blob[offset + 3] ^= 0xFF
    with pytest.raises(codec.CodecError, match="Corrupted|CRC-32|does not decode"):
        codec.decompress(bytes(blob))


@pytest.mark.parametrize(
    "name", ["pixelcnn_rgb", "gated_levels", "row_lstm_binary", "diagonal_rgb"]
)
def test_decoding_pass_sees_the_encoding_pass_logits(tiny_zoo, name):
    # The codec needs the step-by-step loop's logits to equal the parallel
    # pass's up to float64 round-off: a float32 step anywhere (the inputs'
    # k / (L - 1) * 2 - 1 computed in a graph, a float32 logits layer) shows
    # as a relative error of about 1e-7 and breaks 8-bit decoding.
    from tfgen import sampling

    model = tiny_zoo(name)
    coder = codec.coding_copy(model)
    levels = _levels(model, 3).astype(np.int32)
    n, (height, width, channels) = len(levels), model.image_shape
    full = codec.autoregressive.network_logits(coder, levels).reshape(
        n, height * width * channels, -1
    )
    build = (
        sampling.cached_sampler
        if sampling.supports_cached_sampling(coder)
        else sampling.compiled_sampler
    )
    seen = teacher_forced_logits(lambda choose: build(coder, choose=choose), levels)
    for t, logits in seen.items():
        np.testing.assert_allclose(
            logits.reshape(n, -1),
            full[:, t],
            rtol=0,
            atol=1e-12 * (1 + np.abs(full[:, t]).max()),
        )


def test_another_model_or_weights_is_refused(tiny_zoo):
    model = tiny_zoo("pixelcnn_binary", seed=0)
    retrained = tiny_zoo("pixelcnn_binary", seed=1)
    blob = codec.compress(_levels(model, 2), model)
    with pytest.raises(codec.CodecError, match="compressed with zoo model"):
        codec.decompress(blob, model=retrained)
    # Same name, other weights: the registry now points at new weights.
    header, offset = codec.read_header(blob)
    header.weights_sha256 = "00" * 32
    forged = header.to_bytes() + blob[offset:]
    with pytest.raises(codec.CodecError, match="weights sha256 000000"):
        codec.decompress(forged)


def test_bad_input_is_refused(tiny_zoo):
    model = tiny_zoo("pixelcnn_binary")
    with pytest.raises(ValueError, match=r"levels in \[0, 1\].*Received images"):
        codec.compress(np.full((2, 5, 4, 1), 2), model)
    with pytest.raises(ValueError, match="must lie on the grid k/1"):
        codec.compress(np.full((2, 5, 4, 1), 0.5, "float32"), model)
    with pytest.raises(ValueError, match=r"shape \(n, 5, 4, 1\).*\(2, 4, 4, 1\)"):
        codec.compress(np.zeros((2, 4, 4, 1), "uint8"), model)
    bare = tfgen.models.get("PixelCNN")(**AR_CASES["pixelcnn_binary"][1])
    with pytest.raises(ValueError, match="needs a zoo model"):
        codec.compress(np.zeros((1, 5, 4, 1), "uint8"), bare)
    with pytest.raises(ValueError, match="0 and 255"):
        tfgen.levels.levels_from_pixels(np.array([0, 128, 255], np.uint8), 2)
    np.testing.assert_array_equal(
        tfgen.levels.levels_from_pixels(np.array([0, 255], np.uint8), 2), [0, 1]
    )


def test_cli_compress_decompress(tiny_zoo, tmp_path, capsys):
    model = tiny_zoo("gated_levels")
    levels = _levels(model, 5).astype("uint8")
    source = tmp_path / "levels.npy"
    np.save(source, levels)
    packed = str(tmp_path / "x.tfg")
    assert cli.main(["compress", model.zoo_name, str(source), "-o", packed]) == 0
    assert "compressed 5 image(s)" in capsys.readouterr().out
    out_dir = tmp_path / "pngs"
    assert cli.main(["decompress", packed, "-o", str(out_dir)]) == 0
    # An .npy has no file names: the images are numbered.
    assert sorted(p.name for p in out_dir.iterdir())[:2] == ["00000.png", "00001.png"]
    # PNGs hold the levels as pixel values; they compress to the same
    # payload, now with their file names.
    again = str(tmp_path / "y.tfg")
    assert cli.main(["compress", model.zoo_name, str(out_dir), "-o", again]) == 0
    first, second = (open(f, "rb").read() for f in (packed, again))
    assert (
        first[codec.read_header(first)[1] :] == second[codec.read_header(second)[1] :]
    )
    assert codec.read_header(second)[0].names == [f"{i:05d}.png" for i in range(5)]
    # A truncated file: a clear error, and no output written.
    truncated = tmp_path / "t.tfg"
    truncated.write_bytes(open(packed, "rb").read()[:-4])
    target = tmp_path / "never.npy"
    assert cli.main(["decompress", str(truncated), "-o", str(target)]) == 1
    assert "Truncated" in capsys.readouterr().err and not target.exists()


def test_header_layout_is_little_endian():
    header = codec.Header("bits_back", "m", "cd" * 32, (2, 3, 1), 2, 1, 1, [4], 7)
    blob = header.to_bytes()
    assert blob[:4] == codec.MAGIC
    # Without file names: version 1, as every file before names.
    assert struct.unpack("<BBH", blob[4:8]) == (1, 2, 1)
    named = dataclasses.replace(header, names=["é.png"]).to_bytes()
    # With names: version 2 (a bits-back payload is the same in every version).
    assert struct.unpack("<BBH", named[4:8]) == (2, 2, 1)
    # The names sit after the chunk table: their size, then NUL-ended UTF-8.
    assert named[5 : len(blob) - 8] == blob[5:-8]
    table = "é.png".encode() + b"\0"
    assert named[len(blob) - 8 : -8] == struct.pack("<I", len(table)) + table


def _chunk_per_batch_file(model, levels, batch_size):
    """The file tfgen wrote before format version 3, built here by hand: a
    version-1 header and one range-coded chunk per batch, each flushed."""
    import constriction

    coder = codec.coding_copy(model)
    dims = int(np.prod(model.image_shape))
    chunks = []
    for start in range(0, len(levels), batch_size):
        batch = levels[start : start + batch_size]
        padded = np.zeros((batch_size, *batch.shape[1:]), np.int32)
        padded[: len(batch)] = batch
        logits = codec.autoregressive.network_logits(coder, padded)[: len(batch)]
        probs = codec.probabilities(logits, model.num_levels)
        order = np.arange(batch.size).reshape(len(batch), dims).T.reshape(-1)
        encoder = constriction.stream.queue.RangeEncoder()
        family = constriction.stream.model.Categorical(perfect=False)
        encoder.encode(batch.reshape(-1)[order].astype(np.int32), family, probs[order])
        words = np.asarray(encoder.get_compressed(), "<u4")
        pad = codec.container.min_words(len(batch), model.image_shape) - len(words)
        chunks.append(np.concatenate([words, np.zeros(max(0, pad), "<u4")]))
    header = codec.Header(
        "autoregressive",
        model.zoo_name,
        model.zoo_sha256,
        tuple(model.image_shape),
        model.num_levels,
        len(levels),
        batch_size,
        [len(c) for c in chunks],
        codec.image_checksum(levels),
    )
    return codec.container.pack(header, chunks)


def test_batches_are_one_ans_stack_and_older_files_still_decode(tiny_zoo):
    """Format version 3 pushes all batches onto one ANS stack: one flush and
    one chunk-table entry per file, where versions 1 and 2 range-coded each
    batch with a flush and a table entry of its own (and still decode)."""
    model = tiny_zoo("pixelcnn_binary")
    levels = _levels(model, 40, seed=3).astype(np.int32)
    blob = codec.compress(levels, model, batch_size=4)
    header, offset = codec.read_header(blob)
    assert (header.version, header.one_stack, header.chunk_words) == (
        3,
        True,
        [(len(blob) - offset) // 4],
    )
    # By hand: magic 4, version/codec/name length 4, the name, sha256 32,
    # shape and levels 8, count/batch/chunks 12, one chunk 4, names' size 4
    # (0: none), images' CRC 4, header CRC 4.
    assert offset == 4 + 4 + len(model.zoo_name) + 32 + 8 + 12 + 4 + 4 + 4 + 4
    np.testing.assert_array_equal(codec.decompress(blob), levels)
    older = _chunk_per_batch_file(model, levels, 4)
    old_header, old_offset = codec.read_header(older)
    assert (old_header.version, len(old_header.chunk_words)) == (1, 10)
    np.testing.assert_array_equal(codec.decompress(older), levels)
    # The same symbols and tables: the stack codes each exactly and pays one
    # flush of under two words; the ten chunks paid ten.
    x = tfgen.levels.from_levels(levels, 2).numpy().astype("float32")
    nll_bits = -float(np.sum(model.log_prob(x))) / math.log(2.0)
    stack_bits = 8 * (len(blob) - offset)
    assert nll_bits <= stack_bits <= nll_bits * 1.002 + 64
    assert 8 * (len(older) - old_offset) >= stack_bits
    # Nine chunk-table entries fewer, four bytes more for the names' size.
    assert old_offset - offset == 4 * 9 - 4


def test_a_stack_of_a_few_bits_is_padded_on_a_full_state(tiny_zoo, monkeypatch):
    # Tables that give the all-zero image 20 x -log2(0.999) = 0.03 bits (both
    # ends read them): its stack is the empty state, no word, where a file
    # holds at least one. The decoder would read zero words below a stack
    # pushed onto the empty state: encode pushes it onto a full one.
    model = tiny_zoo("pixelcnn_binary")
    confident = np.array([0.999, 0.001])
    monkeypatch.setattr(
        codec.autoregressive,
        "probabilities",
        lambda logits, num_levels: np.tile(confident, (np.size(logits), 1)),
    )
    levels = np.zeros((1, 5, 4, 1), np.uint8)
    for values_per_word, words in ((1024, 2), (1, 20)):
        monkeypatch.setattr(codec.container, "VALUES_PER_WORD", values_per_word)
        blob = codec.compress(levels, model)
        header, offset = codec.read_header(blob)
        payload = np.frombuffer(blob[offset:], "<u4")
        # The full state 2^32 after 0.03 bits (its high word 1 first, its low
        # word), then zero words.
        assert header.chunk_words == [words] and payload[0] == 1
        assert not payload[2:].any()
        np.testing.assert_array_equal(codec.decompress(blob), levels)


def test_a_version_1_file_still_reads():
    """A header laid out by hand as tfgen wrote it before file names (format
    version 1): it reads, without names."""
    body = b"".join(
        [
            b"TFGC",
            struct.pack("<BBH", 1, 1, 14),
            b"pixelcnn_mnist",
            bytes.fromhex("ab" * 32),
            struct.pack("<4H", 28, 28, 1, 2),
            struct.pack("<III", 3, 2, 2),
            struct.pack("<2I", 2, 1),
            struct.pack("<I", 12345),
        ]
    )
    blob = body + struct.pack("<I", zlib.crc32(body)) + bytes(12)
    header, offset = codec.read_header(blob)
    assert header.names is None and header.count == 3 and offset == len(blob) - 12
    assert header.to_bytes() == blob[:-12]  # and writes back byte for byte


def test_cli_keeps_file_names(tiny_zoo, tmp_path, capsys):
    """Issue 22: decompress wrote 00000.png, ... whatever the names were."""
    model = tiny_zoo("gated_levels")
    pixels = tfgen.levels.pixels_from_levels(_levels(model, 3), model.num_levels)
    source = tmp_path / "digits"
    source.mkdir()
    names = ["seven.png", "zéro 0.PNG", "b.jpeg"]
    for name, image in zip(names, pixels):
        Image.fromarray(image[..., 0]).save(source / name, format="PNG")
    packed = str(tmp_path / "x.tfg")
    assert cli.main(["compress", model.zoo_name, str(source), "-o", packed]) == 0
    out_dir = tmp_path / "again"
    assert cli.main(["decompress", packed, "-o", str(out_dir)]) == 0
    capsys.readouterr()
    # The images come back as PNGs: a JPEG name gets the .png extension.
    kept = {"seven.png": 0, "zéro 0.PNG": 1, "b.png": 2}
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(kept)
    for name, index in kept.items():
        with Image.open(out_dir / name) as im:
            assert im.format == "PNG"
            np.testing.assert_array_equal(np.asarray(im), pixels[index][..., 0])
    # One base name in two subfolders: not stored, said, and numbered.
    for sub in ("a", "b"):
        (source / sub).mkdir()
        Image.fromarray(pixels[0][..., 0]).save(source / sub / "x.png")
    packed = str(tmp_path / "y.tfg")
    assert cli.main(["compress", model.zoo_name, str(source), "-o", packed]) == 0
    assert "file names are not stored" in capsys.readouterr().out
    assert codec.read_header(open(packed, "rb").read())[0].names is None


@pytest.mark.parametrize(
    "names, says",
    [
        (["a.png", "../b.png"], "path separator"),
        (["a.png", "A.PNG"], "distinct file names"),
        (["a.png"], "one file name per image"),
        (["a.png", "x" * 256], "has 256 bytes"),
    ],
)
def test_compress_refuses_bad_names_before_coding(tiny_zoo, names, says, monkeypatch):
    model = tiny_zoo("pixelcnn_binary")

    def never(*args, **kwargs):
        raise AssertionError("coded images under names it then refused")

    monkeypatch.setattr(codec.autoregressive, "encode", never)
    with pytest.raises(ValueError, match=says):
        codec.compress(_levels(model, 2), model, names=names)


def _compression_script():
    import benchmark_scripts

    return benchmark_scripts.load("compression")


@pytest.mark.parametrize("num_levels, shape", [(2, (28, 28, 1)), (256, (8, 8, 3))])
def test_compression_benchmark_baselines_are_lossless(num_levels, shape):
    script = _compression_script()
    levels = np.random.default_rng(0).integers(0, num_levels, (3, *shape), np.uint8)
    rows = script.run_baselines(levels, num_levels)
    assert {"PNG", "WebP lossless", "gzip -9", "bzip2 -9", "xz -9"} <= {
        row["method"].split(" (")[0] for row in rows
    }
    for row in rows:
        assert row["exact"], row["method"]
        assert row["bpd"] == 8 * row["bytes"] / levels.size


def test_compression_benchmark_codec_row(tiny_zoo):
    script = _compression_script()
    model = tiny_zoo("pixelcnn_binary")
    levels = _levels(model, 5).astype(np.uint8)
    row = script.run_codec(zoo.get(model.zoo_name), levels, 2, 4, progress=False)
    assert row["exact"] and row["codec"] == "autoregressive"
    # The file is the payload plus its header; the payload is the NLL's bits.
    assert row["bpd"] == 8 * row["bytes"] / levels.size
    assert row["payload_bpd"] < row["bpd"]
    assert row["model_rate"] == "exact NLL"
    assert row["model_bpd"] <= row["payload_bpd"] * 1.01 + 64 / levels.size


def test_compression_benchmark_accounting_closes(tiny_zoo):
    # --account: the parts add up to each layout's file.
    script = _compression_script()
    model = tiny_zoo("pixelcnn_binary")
    levels = _levels(model, 9, seed=4).astype(np.uint8)
    nll, parts, sizes = script.account(model, levels, 2, 4)
    assert [p for p, *_ in parts] == list(script.ACCOUNT_PARTS)
    assert sizes["chunks"] == len(_chunk_per_batch_file(model, levels, 4))
    assert sizes["stack"] == len(codec.compress(levels, model, batch_size=4))
    for column, layout in enumerate(script.LAYOUTS, 1):
        total = nll + sum(part[column] for part in parts)
        assert total == pytest.approx(8 * sizes[layout], rel=1e-9)
    rows = {p: bits for p, *bits in parts}
    # Three chunk-table entries of four bytes in version 1, one in version 3.
    assert rows["header: chunk table (4 bytes a chunk)"] == [96, 32, 32]
    # The 24-bit tables cost next to nothing for these probabilities.
    assert abs(rows[script.ACCOUNT_PARTS[3]][0]) < 1e-3
    table = script.account_table(nll, parts, sizes, len(levels))
    assert "| = file |" in table and "version 3: one ANS stack" in table


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.nan, ValueError, "Expected finite `images`"),
        (np.inf, ValueError, "Expected finite `images`"),
        (1.5, ValueError, r"in \[0, 1\]"),
        (-0.5, ValueError, r"in \[0, 1\]"),
    ],
)
def test_non_finite_or_out_of_range_images_are_refused(tiny_zoo, bad, error, message):
    # Issue 18, finding 6: refused up front, not deep in TF or the coder.
    model = tiny_zoo("pixelcnn_binary")
    x = np.zeros((2, 5, 4, 1), "float32")
    x[1, 2, 3, 0] = bad
    with pytest.raises(error, match=message):
        codec.compress(x, model)
    with pytest.raises(TypeError, match="Expected uint8/int levels"):
        codec.compress(np.zeros((2, 5, 4, 1), complex), model)


@pytest.mark.parametrize("name", ["pixelcnn_binary", "vae_bernoulli"])
def test_short_chunks_are_padded_to_the_format_minimum(tiny_zoo, monkeypatch, name):
    # One word per value: both coders must pad (the range coder at the end,
    # the bits-back stack below its initial words) and still round-trip.
    model = tiny_zoo(name)
    levels = _levels(model, 4)
    natural = codec.read_header(codec.compress(levels, model, batch_size=2))[0]
    monkeypatch.setattr(codec.container, "VALUES_PER_WORD", 1)
    blob = codec.compress(levels, model, batch_size=2)
    header, _ = codec.read_header(blob)
    dims = int(np.prod(model.image_shape))
    assert all(w >= n * dims for w, n in zip(header.chunk_words, header.chunk_counts()))
    assert sum(header.chunk_words) > sum(natural.chunk_words)
    np.testing.assert_array_equal(codec.decompress(blob), levels)


def test_batch_is_clamped_to_the_images_and_the_chunk_limit(tiny_zoo):
    model = tiny_zoo("pixelcnn_binary")
    levels = _levels(model, 3)
    header, _ = codec.read_header(codec.compress(levels, model, batch_size=1000))
    assert (header.batch_size, len(header.chunk_words)) == (3, 1)
    limit = codec.container.max_batch(model.image_shape)
    assert limit == codec.container.MAX_CHUNK_VALUES // 20
    header.count, header.batch_size = limit + 1, limit + 1
    header.chunk_words = [codec.container.min_words(limit + 1, (5, 4, 1))]
    with pytest.raises(codec.CodecError, match=f"at most {limit} images per batch"):
        codec.read_header(header.to_bytes() + bytes(4 * header.chunk_words[0]))
