import os

import numpy as np
import pytest

from tfgen import data


def first(ds):
    return next(iter(ds))


def test_local_npz_unit_range(fake_data_dir):
    x, y = data.load_arrays("cifar10", "train", data_dir=fake_data_dir)
    assert x.shape == (32, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (32,)
    batch = first(data.load("cifar10", data_dir=fake_data_dir, batch_size=4)).numpy()
    np.testing.assert_allclose(batch, x[:4] / 255.0, rtol=1e-6)


def test_value_ranges_and_levels(fake_data_dir):
    x, _ = data.load_arrays("mnist", "test", data_dir=fake_data_dir)
    sym = first(
        data.load(
            "mnist",
            "test",
            data_dir=fake_data_dir,
            value_range="symmetric",
            batch_size=16,
        )
    )
    np.testing.assert_allclose(sym.numpy(), x / 127.5 - 1.0, atol=1e-6)
    lv = first(
        data.load(
            "mnist",
            "test",
            data_dir=fake_data_dir,
            value_range="levels",
            num_levels=4,
            batch_size=16,
        )
    ).numpy()
    assert lv.dtype == np.int32
    np.testing.assert_array_equal(lv, x // 64)
    unit4 = first(
        data.load("mnist", "test", data_dir=fake_data_dir, num_levels=4, batch_size=16)
    ).numpy()
    np.testing.assert_allclose(unit4, (x // 64) / 3.0, atol=1e-6)


def test_labels_and_splits(fake_data_dir):
    images, labels = first(
        data.load(
            "mnist", "train+test", data_dir=fake_data_dir, labels=True, batch_size=64
        )
    )
    assert images.shape == (48, 28, 28, 1) and labels.shape == (48,)
    x, _ = data.load_arrays("binarized_mnist", "train+valid", data_dir=fake_data_dir)
    assert x.shape == (48, 28, 28, 1) and set(np.unique(x)) <= {0, 1}
    b = first(
        data.load("binarized_mnist", "test", data_dir=fake_data_dir, batch_size=16)
    ).numpy()
    xt, _ = data.load_arrays("binarized_mnist", "test", data_dir=fake_data_dir)
    np.testing.assert_array_equal(b, xt.astype("float32"))


def test_dynamic_binarization_is_seeded(fake_data_dir):
    def draw(seed):
        return first(
            data.load(
                "mnist",
                data_dir=fake_data_dir,
                binarize="dynamic",
                seed=seed,
                batch_size=32,
            )
        ).numpy()

    a, b, c = draw(1), draw(1), draw(2)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # The mean of the binary draws tracks the intensities.
    x, _ = data.load_arrays("mnist", data_dir=fake_data_dir)
    assert abs(a.mean() - x.mean() / 255.0) < 0.02


def test_shuffle_is_seeded(fake_data_dir):
    def order(seed):
        return first(
            data.load(
                "mnist", data_dir=fake_data_dir, shuffle=True, seed=seed, batch_size=32
            )
        ).numpy()

    np.testing.assert_array_equal(order(3), order(3))
    assert not np.array_equal(order(3), order(4))


def _stream(ds, batches):
    return np.concatenate([b.numpy() for b in ds.take(batches)])


@pytest.mark.parametrize("binarize", [None, "dynamic"])
def test_a_stream_started_at_epoch_k_continues_an_interrupted_one(
    fake_data_dir, binarize
):
    """A resumed run's data: epoch k of a seeded, repeated stream depends on
    (seed, k) alone, so `first_epoch=k` gives exactly the images (order and
    binarization noise) that epochs k, k+1, ... of the whole stream hold."""
    n = len(data.load_arrays("mnist", data_dir=fake_data_dir)[0])

    def stream(first_epoch, batches):
        ds = data.load(
            "mnist",
            data_dir=fake_data_dir,
            binarize=binarize,
            shuffle=True,
            seed=5,
            repeat=True,
            batch_size=n // 2,
            first_epoch=first_epoch,
        )
        return _stream(ds, batches)

    whole = stream(0, 8)
    np.testing.assert_array_equal(stream(2, 4), whole[2 * n :])
    epochs = whole.reshape(4, n, -1)
    # Every epoch is a permutation of the data, and no two are the same order.
    if binarize is None:
        x, _ = data.load_arrays("mnist", data_dir=fake_data_dir)
        flat = x.reshape(n, -1).astype("float32") / 255.0
        for epoch in epochs:
            assert sorted(map(bytes, epoch)) == sorted(map(bytes, flat))
    assert not np.array_equal(epochs[0], epochs[1])


def test_an_unpaired_stream_started_at_epoch_k_continues_an_interrupted_one():
    """Domains of 6 and 4 images: an epoch is 6 pairs, so the smaller domain
    is part-way through its own epoch where epoch 1 starts."""
    a = (np.arange(6, dtype=np.uint8) * 40).reshape(6, 1, 1, 1)
    b = (np.arange(4, dtype=np.uint8) * 60).reshape(4, 1, 1, 1)

    def pairs(first_epoch, batches):
        ds = data.load_unpaired(
            a,
            b,
            batch_size=3,
            shuffle=True,
            seed=1,
            repeat=True,
            first_epoch=first_epoch,
        )
        return [
            np.concatenate(side) for side in zip(*(list(p) for p in ds.take(batches)))
        ]

    whole_a, whole_b = pairs(0, 6)
    later_a, later_b = pairs(1, 4)
    np.testing.assert_array_equal(later_a, whole_a[6:])
    np.testing.assert_array_equal(later_b, whole_b[6:])
    # The finite dataset still reshuffles on every pass.
    finite = data.load_unpaired(a, b, batch_size=6, shuffle=True, seed=1)
    first_pass, second_pass = (next(iter(finite))[0].numpy() for _ in range(2))
    assert not np.array_equal(first_pass, second_pass)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"first_epoch": 1, "seed": 0}, ValueError, "needs repeat=True and a seed"),
        (
            {"first_epoch": 1, "repeat": True},
            ValueError,
            "needs repeat=True and a seed",
        ),
        ({"first_epoch": -1, "repeat": True, "seed": 0}, ValueError, ">= 0"),
        ({"first_epoch": 1.5, "repeat": True, "seed": 0}, TypeError, "must be an int"),
    ],
)
def test_first_epoch_is_checked(fake_data_dir, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load("mnist", data_dir=fake_data_dir, **kwargs)


def test_env_var_data_dir(fake_data_dir, monkeypatch):
    monkeypatch.setenv("TFGEN_DATA_DIR", fake_data_dir)
    x, _ = data.load_arrays("fashion_mnist", "test")
    assert x.shape == (16, 28, 28, 1)


def test_user_folder_and_arrays(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    for i, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
    x, y = data.load_arrays(str(tmp_path))
    np.testing.assert_array_equal(x, images)
    assert y is None
    np.save(tmp_path / "a.npy", images[..., 0])
    assert data.load_arrays(str(tmp_path / "a.npy"))[0].shape == (5, 8, 8, 1)
    batch = first(data.load(images, batch_size=5)).numpy()
    np.testing.assert_allclose(batch, images / 255.0, rtol=1e-6)
    # Float images on the 8-bit grid are taken exactly, not rounded or zeroed.
    x, _ = data.load_arrays(images / 255.0)
    np.testing.assert_array_equal(x, images)


def test_grayscale_pngs_have_one_channel(tmp_path):
    from PIL import Image

    gray = np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(gray > 127).save(tmp_path / "mono.png")  # 1-bit
    x, _ = data.load_arrays(str(tmp_path))
    np.testing.assert_array_equal(x[0, ..., 0], gray)
    np.testing.assert_array_equal(x[1, ..., 0], np.where(gray > 127, 255, 0))


class TestBadInput:
    def test_missing_dataset_says_how_to_get_it(self, tmp_path):
        with pytest.raises(data.DatasetNotFoundError) as info:
            data.load(
                "cifar10", data_dir=str(tmp_path), tfds_data_dir=str(tmp_path / "tfds")
            )
        message = str(info.value)
        assert (
            "cifar10.npz" in message
            and "TFGEN_DATA_DIR" in message
            and "download=True" in message
            and "`tfgen data download cifar10`" in message
            and "`tfgen data prepare cifar10 --from DIR`" in message
        )
        # What the file must hold, so a hand-made one is right the first time.
        assert (
            "uint8 arrays x_train, x_test of shape (n, 32, 32, 3) with pixels "
            "0..255 and y_train, y_test of class ids 0..9" in message
        )

    def test_unknown_name(self):
        with pytest.raises(data.DatasetNotFoundError, match="Unknown dataset"):
            data.load("imagenet_9000")

    def test_unknown_split(self, fake_data_dir):
        with pytest.raises(ValueError, match="Unknown split 'valid'"):
            data.load("mnist", "valid", data_dir=fake_data_dir)

    def test_bad_options(self, fake_data_dir):
        with pytest.raises(ValueError, match="value_range"):
            data.load("mnist", data_dir=fake_data_dir, value_range="0-255")
        with pytest.raises(ValueError, match="binarize"):
            data.load("mnist", data_dir=fake_data_dir, binarize="otsu")
        with pytest.raises(ValueError, match="no labels"):
            data.load("binarized_mnist", data_dir=fake_data_dir, labels=True)

    def test_npz_missing_keys(self, tmp_path):
        np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28), np.uint8))
        with pytest.raises(ValueError, match="lacks the arrays"):
            data.load("mnist", data_dir=str(tmp_path))

    def test_pickled_npz_is_refused(self, tmp_path):
        np.savez(
            tmp_path / "mnist.npz",
            x_train=np.array([object()], dtype=object),
            y_train=np.zeros(1, np.uint8),
        )
        with pytest.raises(ValueError, match="refuses to unpickle"):
            data.load_arrays("mnist", data_dir=str(tmp_path))

    def test_bad_user_array(self):
        with pytest.raises(ValueError, match=r"shape \(n, H, W\).*shape=\(4, 8\)"):
            data.load(np.zeros((4, 8), np.uint8))
        with pytest.raises(ValueError, match=r"uint8.*values in \[300.0, 300.0\]"):
            data.load(np.full((2, 4, 4), 300.0))

    def test_empty_folder(self, tmp_path):
        os.makedirs(tmp_path / "empty")
        with pytest.raises(data.DatasetNotFoundError, match="No PNG/JPEG"):
            data.load(str(tmp_path / "empty"))
