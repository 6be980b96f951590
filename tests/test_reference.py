import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfgen import data, metrics, zoo
from tfgen.metrics import reference
from tfgen.metrics.features import FEATURE_NETWORK


class _CountingNetwork:
    """Per-channel pixel statistics (fast), counting the images it sees."""

    output_layer = None

    def __init__(self):
        self.seen = 0

    def __call__(self, x):
        x = tf.cast(x, tf.float32)
        return tf.concat(
            [tf.reduce_mean(x, axis=(1, 2)), tf.reduce_max(x, axis=(1, 2))], axis=1
        )


def _extractor():
    network = _CountingNetwork()
    extractor = metrics.FeatureExtractor(network=network, batch_size=8, progress=False)
    calls = []
    features = extractor.features

    def counted(source, **kwargs):
        calls.append(len(source))
        return features(source, **kwargs)

    extractor.features = counted
    extractor.calls = calls
    extractor.protocol = {
        "feature_network": "pixel stats",
        "feature_dim": 2,
        "weights_sha256": "ab" * 32,
        "resize": "none",
        "input_dtype": "uint8",
    }
    return extractor


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    return tmp_path / "cache"


def test_computed_once_then_cached(cache, fake_data_dir):
    extractor = _extractor()
    stats = metrics.reference_statistics(
        "mnist", "train", data_dir=fake_data_dir, extractor=extractor
    )
    images = data.load_arrays("mnist", "train", data_dir=fake_data_dir)[0]
    expected = metrics.compute_statistics(
        metrics.FeatureExtractor(network=_CountingNetwork(), progress=False).features(
            images
        )
    )
    np.testing.assert_allclose(stats.mu, expected.mu)
    np.testing.assert_allclose(stats.sigma, expected.sigma)
    assert stats.num_samples == len(images) == 32
    meta = stats.metadata
    assert meta["dataset"] == "mnist" and meta["split"] == "train"
    assert meta["subset"] == "all" and meta["num_samples"] == 32
    assert meta["feature_network"] == "pixel stats"
    assert meta["weights_sha256"] == "ab" * 32
    assert {"resize", "input_dtype", "data_sha256", "tfgen_version"} <= set(meta)
    files = os.listdir(cache / "reference_stats")
    assert files == ["mnist-train-all-pixel-stats-abababababababab.npz"]

    again = metrics.reference_statistics(
        "mnist", "train", data_dir=fake_data_dir, extractor=extractor
    )
    assert extractor.calls == [32]  # the cache answered
    np.testing.assert_array_equal(again.sigma, stats.sigma)
    assert again.metadata == meta
    # The stored file is plain arrays and a JSON string.
    with np.load(cache / "reference_stats" / files[0], allow_pickle=False) as f:
        assert json.loads(str(f["metadata"]))["split"] == "train"


def test_keyed_by_split_n_and_weights(cache, fake_data_dir):
    extractor = _extractor()
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor)
    first = metrics.reference_statistics("mnist", "train", 10, **kwargs)
    assert first.num_samples == 10 and first.metadata["subset"] == "first 10"
    metrics.reference_statistics("mnist", "test", **kwargs)
    extractor.protocol["weights_sha256"] = "cd" * 32
    metrics.reference_statistics("mnist", "train", 10, **kwargs)
    assert extractor.calls == [10, 16, 10]
    assert len(os.listdir(cache / "reference_stats")) == 3
    metrics.reference_statistics("mnist", "train", 10, refresh=True, **kwargs)
    assert extractor.calls == [10, 16, 10, 10]


def test_stale_or_foreign_cache_files_are_recomputed(cache, fake_data_dir):
    extractor = _extractor()
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor)
    stats = metrics.reference_statistics("cifar10", "test", **kwargs)
    (path,) = (cache / "reference_stats").iterdir()
    # Metadata from another protocol under this file name.
    stats.metadata["resize"] = "nearest"
    stats.save(str(path))
    with pytest.warns(RuntimeWarning, match="resize: expected 'none'"):
        metrics.reference_statistics("cifar10", "test", **kwargs)
    assert extractor.calls == [16, 16]
    # A file that needs pickle is never unpickled.
    np.savez(str(path), mu=stats.mu, sigma=stats.sigma, metadata=np.array([{}], object))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        metrics.reference_statistics("cifar10", "test", **kwargs)
    assert extractor.calls == [16, 16, 16]


def test_shipped_statistics_are_used_when_they_match(cache, fake_data_dir, tmp_path):
    extractor = _extractor()
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor)
    path = metrics.ship_reference_statistics("mnist", "train", **kwargs)
    assert path == str(tmp_path / "zoo" / "reference_stats" / "mnist_train.npz")
    assert path == reference.shipped_statistics_path("mnist", "train")
    for f in (cache / "reference_stats").iterdir():
        f.unlink()  # only the shipped file remains
    stats = metrics.reference_statistics("mnist", "train", **kwargs)
    assert extractor.calls == [32] and stats.num_samples == 32
    # Another subset, or other weights: the shipped file does not answer.
    metrics.reference_statistics("mnist", "train", 8, **kwargs)
    assert extractor.calls == [32, 8]
    extractor.protocol["weights_sha256"] = "cd" * 32
    with pytest.warns(RuntimeWarning, match="weights_sha256: expected 'cdcd"):
        metrics.reference_statistics("mnist", "train", **kwargs)
    assert extractor.calls == [32, 8, 32]
    with pytest.raises(ValueError, match="cover the whole split"):
        metrics.ship_reference_statistics("mnist", "train", num_samples=4, **kwargs)


def test_shipping_writes_your_zoo_folder_unless_told(
    cache, fake_data_dir, tmp_path, monkeypatch
):
    # No $TFGEN_ZOO_DIR: the package folder (a stand-in with one shipped
    # file) is read, never written.
    monkeypatch.delenv("TFGEN_ZOO_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data_home"))
    package = tmp_path / "package_zoo" / "reference_stats"
    package.mkdir(parents=True)
    (package / "cifar10_train.npz").write_bytes(b"")
    monkeypatch.setattr(zoo, "shipped_dir", lambda: str(package.parent))
    extractor = _extractor()
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor)
    path = metrics.ship_reference_statistics("mnist", "train", **kwargs)
    mine = tmp_path / "data_home" / "tfgen" / "zoo" / "reference_stats"
    assert path == str(mine / "mnist_train.npz")
    assert os.listdir(package) == ["cifar10_train.npz"]
    # Read back from your folder where none ships.
    assert reference.shipped_statistics_path("mnist", "train") == path
    for f in (cache / "reference_stats").iterdir():
        f.unlink()
    metrics.reference_statistics("mnist", "train", **kwargs)
    assert extractor.calls == [32]
    # A shipped file comes before yours.
    assert reference.shipped_statistics_path("cifar10", "train") == str(
        package / "cifar10_train.npz"
    )
    # A checkout's zoo/ only when named.
    checkout = tmp_path / "checkout" / "zoo"
    path = metrics.ship_reference_statistics("mnist", "train", checkout, **kwargs)
    assert path == str(checkout / "reference_stats" / "mnist_train.npz")
    assert os.path.isfile(path) and os.listdir(package) == ["cifar10_train.npz"]


def test_reference_features_fill_the_statistics_cache(cache, fake_data_dir):
    extractor = _extractor()
    kwargs = dict(data_dir=fake_data_dir, extractor=extractor)
    features, meta = metrics.reference_features("fashion_mnist", "test", **kwargs)
    assert features.shape == (16, 2) and features.dtype == np.float32
    assert meta["dataset"] == "fashion_mnist" and meta["num_samples"] == 16
    again, _ = metrics.reference_features("fashion_mnist", "test", **kwargs)
    np.testing.assert_array_equal(again, features)
    stats = metrics.reference_statistics("fashion_mnist", "test", **kwargs)
    assert extractor.calls == [16]
    np.testing.assert_allclose(stats.mu, features.mean(axis=0))


def test_binarized_mnist_is_scaled_to_bytes(cache, fake_data_dir):
    extractor = _extractor()
    stats = metrics.reference_statistics(
        "binarized_mnist", "valid", data_dir=fake_data_dir, extractor=extractor
    )
    bits = data.load_arrays("binarized_mnist", "valid", data_dir=fake_data_dir)[0]
    np.testing.assert_allclose(stats.mu[0], bits.mean() * 255, rtol=1e-6)


def test_user_arrays_and_requests_are_checked(cache, fake_data_dir, tmp_path):
    extractor = _extractor()
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "mine.npy", images)
    stats = metrics.reference_statistics(
        str(tmp_path / "mine.npy"), extractor=extractor
    )
    assert stats.num_samples == 6
    (name,) = os.listdir(cache / "reference_stats")
    assert name.startswith("mine.npy_")
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        metrics.reference_statistics("mnist", "valid", extractor=extractor)
    with pytest.raises(ValueError, match=r"num_samples <= 32.*num_samples=33"):
        metrics.reference_statistics(
            "mnist", "train", 33, data_dir=fake_data_dir, extractor=extractor
        )
    bare = metrics.FeatureExtractor(network=_CountingNetwork(), progress=False)
    with pytest.raises(ValueError, match="needs `protocol=`"):
        metrics.reference_statistics("mnist", data_dir=fake_data_dir, extractor=bare)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cifar10:test", ("cifar10", "test")),
        ("cifar10", ("cifar10", "train")),
        (("mnist", "test"), ("mnist", "test")),
        ("binarized_mnist:train+valid", ("binarized_mnist", "train+valid")),
    ],
)
def test_parse_reference(text, expected):
    assert metrics.parse_reference(text) == expected


def test_inception_protocol_keys_the_cache(fid_env, fake_data_dir, tmp_path):
    stats = metrics.reference_statistics(
        "mnist", "test", 4, data_dir=fake_data_dir, batch_size=8
    )
    meta = stats.metadata
    assert stats.mu.shape == (2048,) and stats.num_samples == 4
    assert meta["weights_sha256"] == zoo.sha256(fid_env)
    assert meta["weights"] == "random_fid.weights.h5"
    assert meta["feature_network"] == FEATURE_NETWORK
    assert meta["resize"].startswith("bilinear to 299x299")
    assert meta["input_dtype"].startswith("uint8")
    (name,) = os.listdir(tmp_path / "cache" / "reference_stats")
    assert (
        name
        == f"mnist-test-4-inception-2015-12-05-pool3-{meta['weights_sha256'][:16]}.npz"
    )


def _shipped_stats():
    root = os.path.join(zoo.artifacts_dir(), "reference_stats")
    files = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return files or [pytest.param(None, marks=pytest.mark.skip("none shipped yet"))]


@pytest.mark.parametrize("file", _shipped_stats())
def test_shipped_statistics_name_their_protocol(file):
    path = os.path.join(zoo.artifacts_dir(), "reference_stats", file)
    stats = metrics.Statistics.load(path)  # allow_pickle=False
    meta = stats.metadata
    assert file == f"{meta['dataset']}_{meta['split']}.npz"
    assert set(reference.PROTOCOL_KEYS) <= set(meta) and meta["subset"] == "all"
    assert stats.num_samples == meta["num_samples"] > 1
    assert stats.mu.shape == (meta["feature_dim"],)


def test_interrupted_computation_resumes_from_its_chunks(
    cache, fake_data_dir, monkeypatch
):
    monkeypatch.setattr(reference, "CHUNK_SIZE", 10)
    extractor = _extractor()
    features = extractor.features
    calls = extractor.calls

    def fail_on_third_chunk(source, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return features(source, **kwargs)

    extractor.features = fail_on_third_chunk
    with pytest.raises(KeyboardInterrupt):
        metrics.reference_statistics(
            "mnist", "train", data_dir=fake_data_dir, extractor=extractor
        )
    assert calls == [10, 10]
    extractor.features = features
    stats = metrics.reference_statistics(
        "mnist", "train", data_dir=fake_data_dir, extractor=extractor
    )
    # Only the chunks not yet on disk were computed: 32 = 10 + 10 + (10 + 2).
    assert calls == [10, 10, 10, 2]
    fresh = _extractor()
    monkeypatch.setattr(reference, "CHUNK_SIZE", 5000)
    whole = metrics.reference_statistics(
        "mnist", "train", data_dir=fake_data_dir, extractor=fresh, refresh=True
    )
    np.testing.assert_allclose(stats.sigma, whole.sigma, rtol=1e-6, atol=1e-9)
    # The chunks are gone once the split is done.
    assert not [f for f in os.listdir(cache / "reference_stats") if "chunks" in f]
