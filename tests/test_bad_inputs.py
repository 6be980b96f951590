"""Bad data files and arrays, each refused with a message that names the file,
says what was expected and what was received (issue 18, findings 5 and 11)."""

import os
import pickle

import numpy as np
import pytest

from tfgen import data

N = 4
MNIST_X = np.zeros((N, 28, 28), np.uint8)
MNIST_Y = np.arange(N, dtype=np.uint8)


def mnist(x=MNIST_X, y=MNIST_Y):
    return "mnist", {"x_train": x, "y_train": y}


def write_npz(directory, name, arrays):
    path = os.path.join(directory, f"{name}.npz")
    np.savez(path, **arrays)
    return path


def write_bytes(directory, name, contents):
    path = os.path.join(directory, f"{name}.npz")
    with open(path, "wb") as f:
        f.write(contents)
    return path


def zip_prefix():
    """The first 300 bytes of a valid .npz: a truncated archive."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, x_train=MNIST_X, y_train=MNIST_Y)
    return buffer.getvalue()[:300]


# id -> (dataset and arrays, or dataset and raw bytes; error type; what the
# message must say: the expectation, then what was received)
NPZ_CASES = {
    "float_off_grid": (
        mnist(x=np.full((N, 28, 28), 0.5, np.float32)),
        ValueError,
        ["on the grid k/255", "np.rint(x * 255)", "Received x[0, 0, 0, 0]"],
    ),
    "float_0_255": (
        mnist(x=np.full((N, 28, 28), 200.0)),
        ValueError,
        ["integer pixel levels 0..255 (uint8)", "values in [200.0, 200.0]"],
    ),
    "above_255": (
        mnist(x=np.full((N, 28, 28), 300, np.int32)),
        ValueError,
        ["pixel levels 0..255", "Received: int32 values in [300, 300]"],
    ),
    "negative": (
        mnist(x=np.full((N, 28, 28), -1, np.int16)),
        ValueError,
        ["pixel levels 0..255", "Received: int16 values in [-1, -1]"],
    ),
    "nan": (
        mnist(x=np.full((N, 28, 28), np.nan, np.float32)),
        ValueError,
        ["floats in [0, 1]", "finite", "nan"],
    ),
    "string_dtype": (
        mnist(x=np.full((N, 28, 28), "a")),
        TypeError,
        ["integer pixel levels", "Received: dtype=<U1"],
    ),
    "wrong_shape": (
        mnist(x=np.zeros((N, 32, 32, 3), np.uint8)),
        ValueError,
        ["(n, 28, 28) or (n, 28, 28, 1)", "Received: shape=(4, 32, 32, 3)"],
    ),
    "flat_images": (
        mnist(x=np.zeros((N, 784), np.uint8)),
        ValueError,
        ["(n, 28, 28)", "Received: shape=(4, 784)"],
    ),
    "cifar_gray": (
        (
            "cifar10",
            {"x_train": np.zeros((N, 32, 32, 1), np.uint8), "y_train": MNIST_Y},
        ),
        ValueError,
        ["(n, 32, 32, 3)", "Received: shape=(4, 32, 32, 1)"],
    ),
    "label_too_big": (
        mnist(y=np.array([0, 1, 2, 15])),
        ValueError,
        ["class id in [0, 10)", "Received labels in [0, 15]"],
    ),
    "label_negative": (
        mnist(y=np.array([0, -1, 2, 3])),
        ValueError,
        ["class id in [0, 10)", "Received labels in [-1, 3]"],
    ),
    "label_float": (
        mnist(y=np.array([0.0, 1.0, 2.5, 3.0])),
        TypeError,
        ["integer class id", "Received: dtype=float64"],
    ),
    "label_matrix": (
        mnist(y=np.zeros((N, 10), np.uint8)),
        ValueError,
        ["shape (4,) or (4, 1)", "Received: shape=(4, 10)"],
    ),
    "lengths_differ": (
        mnist(y=np.zeros(N - 1, np.uint8)),
        ValueError,
        ["for the 4 images", "Received: shape=(3,)"],
    ),
    "binarized_0_255": (
        (
            "binarized_mnist",
            {"x_train": np.full((N, 28, 28), 255, np.uint8)},
        ),
        ValueError,
        ["integer pixel levels 0..1", "Received: uint8 values in [255, 255]"],
    ),
    "missing_labels": (
        ("mnist", {"x_train": MNIST_X}),
        ValueError,
        ["y_train", "class ids 0..9", "Received keys: ['x_train']"],
    ),
    "object_array": (
        mnist(x=np.array([object()] * N, dtype=object)),
        ValueError,
        ["uint8 arrays x_train", "x_train is an object array", "refuses to unpickle"],
    ),
    "garbage": (
        ("mnist", b"\x8f\x12not an archive" * 8),
        ValueError,
        ["uint8 arrays x_train", "128-byte file starting", "neither a zip"],
    ),
    "pickle": (
        ("mnist", pickle.dumps({"x_train": [1, 2]})),
        ValueError,
        ["uint8 arrays x_train", "neither a zip", "refuses to unpickle"],
    ),
    "empty_file": (
        ("mnist", b""),
        ValueError,
        ["uint8 arrays x_train", "0-byte file", "cannot be read"],
    ),
    "truncated_zip": (
        ("mnist", zip_prefix()),
        ValueError,
        ["uint8 arrays x_train", "300-byte file", "BadZipFile"],
    ),
}


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_bad_dataset_file_is_refused(case, tmp_path):
    (name, contents), error, says = NPZ_CASES[case]
    if isinstance(contents, bytes):
        path = write_bytes(str(tmp_path), name, contents)
    else:
        path = write_npz(str(tmp_path), name, contents)
    with pytest.raises(error) as info:
        data.load(name, data_dir=str(tmp_path), labels=name != "binarized_mnist")
    message = str(info.value)
    assert path in message
    for part in says:
        assert part in message, (part, message)
    # numpy's advice to load unsafely never reaches the user.
    assert "allow_pickle=" not in message and "pickle.load" not in message


def test_unreadable_file_says_how_to_get_the_data(tmp_path):
    write_bytes(str(tmp_path), "cifar10", b"garbage")
    with pytest.raises(ValueError, match="not a valid dataset archive") as info:
        data.load_arrays("cifar10", data_dir=str(tmp_path))
    assert "tfgen.data.load('cifar10', download=True)" in str(info.value)


USER_CASES = {
    "float_off_grid": (np.full((2, 5, 5), 0.3), ValueError, "on the grid k/255"),
    "nan": (np.full((2, 5, 5, 3), np.nan), ValueError, "finite"),
    "above_255": (np.full((2, 5, 5), 256, np.uint16), ValueError, "[256, 256]"),
    "two_channels": (np.zeros((2, 5, 5, 2), np.uint8), ValueError, "(2, 5, 5, 2)"),
    "complex": (np.zeros((2, 5, 5), np.complex64), TypeError, "complex64"),
}


@pytest.mark.parametrize("case", sorted(USER_CASES))
@pytest.mark.parametrize("source", ["array", "npy", "npz"])
def test_bad_user_data_is_refused(case, source, tmp_path):
    x, error, received = USER_CASES[case]
    name = x
    if source == "npy":
        name = str(tmp_path / "mine.npy")
        np.save(name, x)
    elif source == "npz":
        name = str(tmp_path / "mine.npz")
        np.savez(name, x_train=x)
    with pytest.raises(error) as info:
        data.load_arrays(name)
    message = str(info.value)
    assert "(n, H, W) or (n, H, W, 1|3)" in message and received in message
    if source != "array":
        assert name in message


def test_user_npz_labels_are_checked(tmp_path):
    path = str(tmp_path / "mine.npz")
    np.savez(path, x_train=np.zeros((3, 5, 5), np.uint8), y_train=np.array([0, -2, 1]))
    with pytest.raises(ValueError, match=r"non-negative.*Received labels in \[-2, 1\]"):
        data.load_arrays(path)


def write_png16(path, samples):
    import tensorflow as tf

    with open(path, "wb") as f:
        f.write(tf.io.encode_png(samples.astype(np.uint16)).numpy())


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_that_is_not_8_bit_is_refused(channels, tmp_path):
    from tfgen.images import read_images

    samples = np.full((4, 4, channels), 257 * 20, np.uint16)
    samples[1, 2, -1] = 40000  # not k * 257: Pillow would clip or truncate it
    write_png16(tmp_path / "deep.png", samples)
    for reader in (
        lambda: read_images(tmp_path / "deep.png"),
        lambda: data.load_arrays(str(tmp_path)),
    ):
        with pytest.raises(ValueError) as info:
            reader()
        message = str(info.value)
        assert "deep.png is a 16-bit PNG" in message
        assert (
            f"Received sample [row, column, channel] [1, 2, {channels - 1}] = 40000"
            in message
        )


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_of_8_bit_values_reads_exactly(channels, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 6, 5, channels), np.uint8)
    for i, image in enumerate(pixels):
        write_png16(tmp_path / f"{i}.png", image.astype(np.uint16) * 257)
    x, _ = data.load_arrays(str(tmp_path))
    np.testing.assert_array_equal(x, pixels)


def test_exact_values_load_unchanged(tmp_path):
    """Floats on the grid, bools, wider ints and (n, 1) labels convert
    exactly; nothing becomes zero or wraps."""
    levels = np.arange(N * 28 * 28).reshape(N, 28, 28) % 256
    write_npz(
        str(tmp_path),
        "mnist",
        {
            "x_train": (levels / 255.0).astype(np.float32),
            "y_train": np.arange(N).reshape(N, 1),
            "x_test": levels.astype(np.int64),
            "y_test": np.arange(N, dtype=np.int8),
        },
    )
    x, y = data.load_arrays("mnist", "train+test", data_dir=str(tmp_path))
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[..., 0], np.concatenate([levels, levels]))
    np.testing.assert_array_equal(y, np.tile(np.arange(N), 2))
    write_npz(
        str(tmp_path),
        "binarized_mnist",
        {"x_train": levels > 100, "x_valid": (levels > 50).astype(np.float64)},
    )
    x, _ = data.load_arrays("binarized_mnist", "train+valid", data_dir=str(tmp_path))
    np.testing.assert_array_equal(
        x[..., 0], np.concatenate([levels > 100, levels > 50]).astype(np.uint8)
    )
    # A bool array of 8-bit images is black and white.
    x, _ = data.load_arrays(levels > 100)
    np.testing.assert_array_equal(x[..., 0], np.where(levels > 100, 255, 0))
