import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from torch_archive_writers import write_torch_zip

from tfgen import metrics, zoo
from tfgen.metrics import inception

# The restricted unpickler's own tests are in tests/test_torch_archive.py.


# ------------------------------------------------------------------- FID
def _features(n=64, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag(
        np.arange(1, d + 1)
    )


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_fid_of_identical_sets_is_zero(method):
    f = _features()
    assert abs(metrics.fid(f, f, method=method)) < 1e-8


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_mean_shift_adds_its_squared_norm(method):
    f = _features()
    shift = np.array([3.0, -1.0, 0.5, 0.0, 2.0, 0.0, 0.0, 1.0])
    assert metrics.fid(f, f + shift, method=method) == pytest.approx(
        shift @ shift, rel=1e-9
    )


def test_frechet_distance_of_diagonal_gaussians():
    # For commuting (diagonal) covariances the trace term is
    # sum(sqrt(a * b)), so the distance is |dmu|^2 + sum((sqrt(a) - sqrt(b))^2).
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    for method in ("sqrtm", "eigh"):
        got = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method)
        assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_handles_singular_covariances():
    # Rank-deficient covariances (fewer samples than dimensions).
    f = np.random.default_rng(0).normal(size=(5, 16))
    g = f[::-1] + 0.1
    value = metrics.fid(f, g)
    assert np.isfinite(value)
    assert value == pytest.approx(metrics.fid(f, g, method="eigh"), abs=1e-4)


def test_frechet_distance_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"Received shapes: \(\(3,\), \(2,\)"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="method"):
        metrics.frechet_distance(
            np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="x"
        )


def test_statistics_round_trip_and_ttur_files(tmp_path):
    f = _features()
    stats = metrics.compute_statistics(f)
    assert stats.num_samples == 64 and stats.mu.dtype == np.float64
    np.testing.assert_allclose(stats.sigma, np.cov(f, rowvar=False))
    loaded = metrics.Statistics.load(stats.save(str(tmp_path / "s.npz")))
    np.testing.assert_array_equal(loaded.sigma, stats.sigma)
    # TTUR / pytorch-fid files hold only mu and sigma.
    np.savez(tmp_path / "ttur.npz", mu=stats.mu, sigma=stats.sigma)
    ttur = metrics.Statistics.load(str(tmp_path / "ttur.npz"))
    assert metrics.fid(ttur, f) == pytest.approx(0.0, abs=1e-8)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="Expected arrays 'mu' and 'sigma'"):
        metrics.Statistics.load(str(tmp_path / "other.npz"))
    # Packed: the upper triangle only, the same matrix back, bit for bit.
    packed = stats.save(str(tmp_path / "p.npz"), compressed=True, packed=True)
    with np.load(packed) as data:
        assert "sigma" not in data.files
        assert data["sigma_upper"].shape == (f.shape[1] * (f.shape[1] + 1) // 2,)
    np.testing.assert_array_equal(metrics.Statistics.load(packed).sigma, stats.sigma)
    np.savez(tmp_path / "bad.npz", mu=stats.mu, sigma_upper=np.zeros(4))
    with pytest.raises(ValueError, match="d\\(d\\+1\\)/2 values"):
        metrics.Statistics.load(str(tmp_path / "bad.npz"))


# ------------------------------------------------------------------- KID
def _brute_force_mmd2(x, y):
    d = x.shape[1]

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (
        m * (m - 1)
    )
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (
        n * (n - 1)
    )
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_brute_force_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(9, 3))
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(
        _brute_force_mmd2(x, y), rel=1e-12
    )


def test_kid_is_unbiased():
    # Over many pairs of small sets from one distribution the estimates
    # average to 0 (within 4 standard errors), while the biased V-statistic
    # (diagonals kept) sits clearly above it.
    rng = np.random.default_rng(0)
    unbiased, biased = [], []
    for _ in range(400):
        x, y = rng.normal(size=(2, 10, 4))
        unbiased.append(metrics.mmd2_unbiased(x, y))
        k = lambda u, v: (u @ v.T / 4 + 1) ** 3  # noqa: E731
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    unbiased, biased = np.array(unbiased), np.array(biased)
    standard_error = unbiased.std() / np.sqrt(len(unbiased))
    assert abs(unbiased.mean()) < 4 * standard_error
    assert biased.mean() > 10 * biased.std() / np.sqrt(len(biased))


def test_kid_over_subsets():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 5)), rng.normal(1.0, 1.0, size=(30, 5))
    # subset_size is capped at the smaller set (30); the draws follow `seed`.
    result = metrics.kid(a, b, num_subsets=5, subset_size=100, seed=3)
    assert isinstance(result, metrics.KID) and result.std >= 0
    assert result == metrics.kid(a, b, num_subsets=5, subset_size=100, seed=3)
    assert result != metrics.kid(a, b, num_subsets=5, subset_size=100, seed=4)
    assert result.mean > 0.1  # a shift of 1 per dimension is far from 0
    same = metrics.kid(a, a.copy(), num_subsets=20, subset_size=20, seed=0)
    assert abs(same.mean) < result.mean / 10


# -------------------------------------------------------------------- IS
def test_inception_score_of_hand_made_logits():
    # Every image gets the same prediction: KL to the marginal is 0, IS = 1.
    same = np.tile(np.array([[2.0, 0.5, -1.0]]), (20, 1))
    assert metrics.inception_score(same, splits=2) == (
        pytest.approx(1.0),
        pytest.approx(0.0),
    )
    # Confident, balanced predictions over K classes: IS = K.
    k = 5
    confident = np.full((50, k), -1e4)
    confident[np.arange(50), np.arange(50) % k] = 0.0
    score = metrics.inception_score(confident, splits=10)
    assert score.mean == pytest.approx(k, rel=1e-9) and score.std == pytest.approx(
        0.0, abs=1e-9
    )


def test_inception_score_by_hand():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    marginal = p.mean(axis=0)
    kl = (p * np.log(p / marginal)).sum(axis=1)
    expected = np.exp(kl.mean())
    got = metrics.inception_score_from_logits(np.log(p), splits=1)
    assert got.mean == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="n >= splits=10"):
        metrics.inception_score_from_logits(np.log(p))


# ------------------------------------------------------ precision/recall
def test_precision_recall_on_toy_points():
    real = np.arange(10, dtype="float32")[:, None]  # k=1 radius: 1 everywhere
    generated = np.array([[0.0], [0.4], [100.0], [100.4]], dtype="float32")
    # Precision: 0.0 and 0.4 are inside the real balls, the far pair is not.
    # Recall: the generated balls have radius 0.4; only real 0 lies in one.
    result = metrics.precision_recall(real, generated, k=1)
    assert result == (0.5, 0.1)
    assert metrics.precision_recall(real, real, k=3) == (1.0, 1.0)


def test_knn_radii_use_the_kth_other_point():
    points = np.array([[0.0], [1.0], [3.0], [7.0]], dtype="float32")
    from tfgen.metrics.precision_recall import knn_radii

    np.testing.assert_allclose(knn_radii(points, k=1), [1, 1, 2, 4])
    np.testing.assert_allclose(knn_radii(points, k=2), [3, 2, 3, 6])
    with pytest.raises(ValueError, match="more than k=4"):
        knn_radii(points, k=4)


# --------------------------------------------------- streaming sources
class _StubNetwork:
    """Stands in for FIDInceptionV3 (fast): per-channel pixel statistics,
    channel means first."""

    output_layer = None

    def __call__(self, x):
        x = tf.cast(x, tf.float32)
        return tf.concat(
            [
                tf.reduce_mean(x, axis=(1, 2)),
                tf.reduce_mean(x**2, axis=(1, 2)) / 255.0,
                tf.reduce_max(x, axis=(1, 2)),
                tf.reduce_min(x, axis=(1, 2)),
            ],
            axis=1,
        )

    def logits(self, features):
        raise ValueError("This FIDInceptionV3 has no logits layer.")


class _FakeModel:
    def __init__(self):
        self.seeds = []

    def sample(self, n, seed=None):
        self.seeds.append(seed)
        return np.random.default_rng(seed).random((n, 8, 8, 3)).astype("float32")


def _stub_extractor(batch_size=4):
    return metrics.FeatureExtractor(
        network=_StubNetwork(), batch_size=batch_size, progress=False
    )


def test_sources_stream_to_the_same_features():
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    extractor = _stub_extractor()
    expected = extractor.features(images)
    assert expected.shape == (10, 12)
    np.testing.assert_allclose(
        expected[:, 0], images[..., 0].mean(axis=(1, 2)), rtol=1e-6
    )
    labels = np.arange(10)
    for dataset in (
        tf.data.Dataset.from_tensor_slices(images),
        tf.data.Dataset.from_tensor_slices(images).batch(3),
        tf.data.Dataset.from_tensor_slices((images, labels)).batch(4),
        tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}),
        tf.data.Dataset.from_tensor_slices(images.astype("float32") / 255.0).batch(5),
    ):
        np.testing.assert_allclose(extractor.features(dataset), expected, rtol=1e-6)
    np.testing.assert_allclose(extractor.features(images / 255.0), expected, rtol=1e-6)
    np.testing.assert_allclose(extractor.features(images, num_samples=3), expected[:3])


class _StaticShapeNetwork(_StubNetwork):
    """Refuses unknown sizes, as FIDInceptionV3's resize does."""

    def __call__(self, x):
        if None in tuple(x.shape):
            raise ValueError(f"needs static shapes, got {tuple(x.shape)}")
        return super().__call__(x)


def test_one_extractor_serves_several_image_sizes():
    extractor = metrics.FeatureExtractor(
        network=_StaticShapeNetwork(), batch_size=4, progress=False
    )
    rng = np.random.default_rng(0)
    for _ in range(2):
        for shape in ((8, 8, 3), (6, 6, 1), (5, 7, 3)):
            images = rng.integers(0, 256, (5, *shape), dtype=np.uint8)
            features = extractor.features(images)
            np.testing.assert_allclose(
                features[:, 0], images[..., 0].mean(axis=(1, 2)), rtol=1e-6
            )
    assert len(extractor._forward) == 3  # one trace per size


def test_grayscale_sources():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    features = _stub_extractor().features(images)
    np.testing.assert_allclose(features[:, 0], images.mean(axis=(1, 2)), rtol=1e-6)
    batches = tf.data.Dataset.from_tensor_slices(images).batch(2)  # (b, H, W)
    np.testing.assert_allclose(_stub_extractor().features(batches), features, rtol=1e-6)


def test_model_sources_need_num_samples_and_use_seeds():
    model = _FakeModel()
    with pytest.raises(ValueError, match="needs `num_samples`"):
        metrics.fid(model, np.zeros((4, 8)), extractor=_stub_extractor())
    features = _stub_extractor(batch_size=4).features(model, num_samples=10, seed=7)
    assert features.shape == (10, 12) and model.seeds == [7, 8, 9]
    # More samples than feature dimensions: a full-rank covariance, whose
    # square root scipy computes to float64 precision (a rank-deficient one
    # leaves ~1e-6 of round-off on this machine's BLAS).
    score = metrics.fid(
        _FakeModel(), _FakeModel(), num_samples=40, extractor=_stub_extractor()
    )
    assert score == pytest.approx(0.0, abs=1e-6)


def test_bad_images_are_refused():
    extractor = _stub_extractor()
    with pytest.raises(
        ValueError, match=r"must lie in \[0, 1\].*Received values in \[-1.0"
    ):
        extractor.features(np.full((2, 8, 8, 3), -1.0, "float32"))
    with pytest.raises(TypeError, match="Received: images.dtype=int32"):
        extractor.features(np.zeros((2, 8, 8, 3), "int32"))
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 8, 8, 4\)"):
        extractor.features(np.zeros((2, 8, 8, 4), "uint8"))
    with pytest.raises(TypeError, match="Received: str"):
        extractor.features("cifar10")
    with pytest.raises(ValueError, match="no logits layer"):
        metrics.inception_score(np.zeros((2, 8, 8, 3), "uint8"), extractor=extractor)


# ------------------------------------------------------------ the network
def test_bilinear_resize_matrix_matches_torch_formula():
    # torch.nn.functional.interpolate(mode="bilinear", align_corners=False):
    # half-pixel centers, sources clamped at the edges.
    np.testing.assert_allclose(
        metrics.bilinear_resize_matrix(2, 4),
        [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]],
    )
    np.testing.assert_allclose(
        metrics.bilinear_resize_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]]
    )
    np.testing.assert_array_equal(metrics.bilinear_resize_matrix(5, 5), np.eye(5))
    m = metrics.bilinear_resize_matrix(32, 299)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "valid"), (1, "same")])
def test_conv_bn_is_relu_of_the_normalized_convolution(strides, padding):
    # By hand: relu((conv(x) - mean) / sqrt(var + eps) + beta), the unit of
    # TF's graph, though the layer folds the norm into its kernel and bias.
    rng = np.random.default_rng(0)
    unit = inception.ConvBN(4, 3, strides=strides, padding=padding)
    unit.build((None, 7, 7, 2))
    kernel = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    beta, mean = rng.normal(size=(2, 4)).astype("float32")
    var = rng.uniform(0.1, 2.0, 4).astype("float32")
    for weight, value in zip(
        (unit.kernel, unit.beta, unit.moving_mean, unit.moving_variance),
        (kernel, beta, mean, var),
    ):
        weight.assign(value)
    x = rng.normal(size=(2, 7, 7, 2)).astype("float32")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))) if padding == "same" else x
    size = (padded.shape[1] - 3) // strides + 1
    conv = np.zeros((2, size, size, 4))
    for i in range(size):
        for j in range(size):
            patch = padded[
                :, i * strides : i * strides + 3, j * strides : j * strides + 3
            ]
            conv[:, i, j] = np.einsum("nhwc,hwcf->nf", patch, kernel)
    expected = np.maximum((conv - mean) / np.sqrt(var + inception.BN_EPSILON) + beta, 0)
    np.testing.assert_allclose(np.asarray(unit(x)), expected, rtol=1e-5, atol=1e-5)


def test_inception_structure():
    keras.utils.set_random_seed(0)
    net = metrics.FIDInceptionV3()
    # The TF graph's 94 conv units, 21.8M parameters up to pool3.
    assert len(net.conv_units()) == 94
    assert net.count_params() == 21_802_784
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    features = np.asarray(net(images))
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    gray = np.asarray(net(images[..., :1]))
    assert gray.shape == (2, 2048)
    with pytest.raises(ValueError, match="no logits layer"):
        net.logits(features)


def test_inception_with_logits_layer():
    net = metrics.FIDInceptionV3(include_logits=True)
    assert net.count_params() == 21_802_784 + 2048 * 1008 + 1008
    assert tuple(net.logits(np.zeros((3, 2048), "float32")).shape) == (3, 1008)
    assert net.get_config()["include_logits"] is True
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(net)
    )
    assert isinstance(restored, metrics.FIDInceptionV3) and restored.include_logits


def _pytorch_fid_state_dict(net, logits=None):
    """The pytorch-fid (torchvision) state dict of a FIDInceptionV3."""
    names = inception.torchvision_names()
    state = {}
    for unit, layer in net.conv_units().items():
        prefix = names[unit]
        state[f"{prefix}.conv.weight"] = np.transpose(
            np.asarray(layer.kernel), (3, 2, 0, 1)
        )
        state[f"{prefix}.bn.weight"] = np.ones(layer.filters, "float32")
        state[f"{prefix}.bn.bias"] = np.asarray(layer.beta)
        state[f"{prefix}.bn.running_mean"] = np.asarray(layer.moving_mean)
        state[f"{prefix}.bn.running_var"] = np.asarray(layer.moving_variance)
        state[f"{prefix}.bn.num_batches_tracked"] = np.zeros((), "int64")
    if logits is not None:
        state["fc.weight"], state["fc.bias"] = logits
    return state


def test_pytorch_fid_file_converts_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(1)
    net = metrics.FIDInceptionV3()
    for layer in net.conv_units().values():  # non-trivial batch norm
        layer.moving_mean.assign(rng.normal(size=layer.filters).astype("float32") * 0.1)
        layer.moving_variance.assign(
            rng.uniform(0.5, 2, layer.filters).astype("float32")
        )
    fc = (
        rng.normal(size=(1008, 2048)).astype("float32"),
        rng.normal(size=1008).astype("float32"),
    )
    path = write_torch_zip(
        str(tmp_path / "pt_inception.pth"), _pytorch_fid_state_dict(net, fc)
    )

    loaded = metrics.load_fid_inception(path)
    assert loaded.output_layer is not None
    images = rng.integers(0, 256, (2, 16, 16, 3)).astype("float32")
    features = np.asarray(net(images))
    np.testing.assert_allclose(
        np.asarray(loaded(images)), features, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(loaded.logits(features)), features @ fc[0].T, rtol=1e-4, atol=1e-3
    )
    cached = sorted(os.listdir(tmp_path / "cache"))
    assert (
        len(cached) == 2
        and cached[0].endswith(".json")
        and cached[1].endswith(".weights.h5")
    )
    # The converted file loads on its own, logits layer included, with its
    # .json record or without.
    alone = str(tmp_path / "alone.weights.h5")
    os.link(str(tmp_path / "cache" / cached[1]), alone)
    for weights in (str(tmp_path / "cache" / cached[1]), alone):
        again = metrics.load_fid_inception(weights)
        assert again.output_layer is not None
        np.testing.assert_allclose(
            np.asarray(again(images)), features, rtol=1e-5, atol=1e-5
        )


def _random_archive(tmp_path, seed):
    """A random FIDInceptionV3, its pytorch-fid archive, and two images."""
    keras.utils.set_random_seed(seed)
    net = metrics.FIDInceptionV3()
    path = write_torch_zip(str(tmp_path / "w.pth"), _pytorch_fid_state_dict(net))
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3))
    return net, path, images.astype("float32")


def test_conversion_beside_a_peer_writing_the_same_cache(tmp_path):
    # Processes started once per core convert at the same moment; a peer that
    # holds the cache file open for writing must not fail this one.
    import h5py

    net, path, images = _random_archive(tmp_path, seed=2)
    cache = tmp_path / "cache"
    cache.mkdir()
    converted = cache / f"fid_inception-{zoo.sha256(path)[:16]}.weights.h5"
    with h5py.File(converted, "w"):  # the peer, mid-write
        loaded = inception._load_archive(path, str(cache))
    np.testing.assert_allclose(
        np.asarray(loaded(images)), np.asarray(net(images)), rtol=1e-5, atol=1e-5
    )
    assert sorted(p.name for p in cache.iterdir()) == [
        converted.name[: -len(".weights.h5")] + ".json",
        converted.name,
    ]  # no partial file left
    again = inception._load_archive(path, str(cache))  # from the cache, checked
    np.testing.assert_allclose(
        np.asarray(again(images)), np.asarray(net(images)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.slow  # two full-size Inception passes: ~50 s on one core
def test_damaged_weights_are_rebuilt_or_refused(tmp_path):
    # A cache file damaged before its sha256 was recorded (as the conversion
    # race once did) passes the checksum; its collapsed features do not.
    net, path, images = _random_archive(tmp_path, seed=3)
    cache = str(tmp_path / "cache")
    inception._load_archive(path, cache)
    converted = os.path.join(cache, f"fid_inception-{zoo.sha256(path)[:16]}.weights.h5")
    collapsed = metrics.FIDInceptionV3()
    for layer in collapsed.conv_units().values():
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
    collapsed.save_weights(converted)
    meta_path = converted[: -len(".weights.h5")] + ".json"
    with open(meta_path) as f:
        meta = json.load(f)
    meta["converted_sha256"] = zoo.sha256(converted)
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    rebuilt = inception._load_archive(path, cache)
    np.testing.assert_allclose(
        np.asarray(rebuilt(images)), np.asarray(net(images)), rtol=1e-5, atol=1e-5
    )
    alone = str(tmp_path / "collapsed.weights.h5")
    collapsed.save_weights(alone)
    with pytest.raises(ValueError, match="give unlike images the same features"):
        metrics.load_fid_inception(alone)


def test_archive_of_another_network_is_refused(tmp_path):
    path = write_torch_zip(
        str(tmp_path / "x.pth"), {"fc.weight": np.zeros((2, 2), "float32")}
    )
    with pytest.raises(ValueError, match="Unrecognized FID Inception archive"):
        metrics.load_fid_inception(path, cache_dir=str(tmp_path))


# ---------------------------------------------------------- weight files
def test_wrong_sha256_is_refused(tmp_path):
    path = write_torch_zip(str(tmp_path / "w.pth"), {"a": np.zeros(3, "float32")})
    with pytest.raises(
        zoo.ChecksumError,
        match="sha256 mismatch.*Expected: 0{64}.*Received: [0-9a-f]{64}",
    ):
        metrics.load_fid_inception(path, sha256="0" * 64, cache_dir=str(tmp_path))
    # A file named like a known one must carry its digest.
    impostor = write_torch_zip(
        str(tmp_path / "fid_inception_2015_12_05.pt"), {"a": np.zeros(3, "float32")}
    )
    with pytest.raises(
        zoo.ChecksumError, match=inception.KNOWN_SHA256["fid_inception_2015_12_05.pt"]
    ):
        metrics.load_fid_inception(impostor, cache_dir=str(tmp_path))
    digest = zoo.sha256(path)
    assert inception.resolve_weights(path, sha256=digest[:8]) == path


def test_missing_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_FID_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05-6726825d.pth"):
        metrics.load_fid_inception()


# --------------------------------- agreement with the published network
# Pool3 features of two fixed 32x32 images under TF's inception-2015-12-05
# weights: the TorchScript `fid_inception_2015_12_05.pt` run by torch 2.13
# after torch's bilinear resize (align_corners=False) and (x - 128) / 128.
# First 6 values of each, and the sums over all 2048. Runs where
# $TFGEN_FID_WEIGHTS names the FID Inception weights.
REFERENCE_POOL3 = [
    [
        7.9354596e-01,
        2.8602567e-02,
        1.0836668e-02,
        8.0922395e-03,
        2.6720593e-02,
        1.2841049e-01,
    ],
    [
        6.1526086e-02,
        0.0000000e00,
        4.3454010e-04,
        8.7902006e-03,
        1.4814083e-05,
        2.0577775e-02,
    ],
]
REFERENCE_SUMS = [397.97152232, 531.71832464]


def _reference_images():
    y, x = np.mgrid[0:32, 0:32]
    ramp = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1)
    checker = ((x // 4 + y // 4) % 2 * 255)[..., None].repeat(3, axis=-1)
    return np.stack([ramp, checker]).clip(0, 255).astype("uint8")


@pytest.mark.skipif(
    not os.environ.get("TFGEN_FID_WEIGHTS"),
    reason="set $TFGEN_FID_WEIGHTS to the FID Inception weights",
)
def test_agrees_with_the_published_network(tmp_path):
    net = metrics.load_fid_inception(cache_dir=str(tmp_path))
    features = np.asarray(net(_reference_images().astype("float32")))
    np.testing.assert_allclose(features[:, :6], REFERENCE_POOL3, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(features.sum(axis=1), REFERENCE_SUMS, rtol=1e-5)
