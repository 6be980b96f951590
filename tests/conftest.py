import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfgen import training  # noqa: E402

# The benchmark scripts import their shared helpers as `common`, as they do
# when run as `python3 benchmarks/X.py`; tests load them by file path.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
)

# Two logical CPUs for MirroredStrategy tests; must happen before TF starts.
LOGICAL_CPUS = training.set_logical_cpus(2)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def write_fake_datasets(directory, n=32, seed=0):
    """Tiny stand-ins with the real files' keys, shapes and dtypes."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for name, shape in (
        ("mnist", (28, 28)),
        ("fashion_mnist", (28, 28)),
        ("cifar10", (32, 32, 3)),
    ):
        np.savez(
            os.path.join(directory, f"{name}.npz"),
            x_train=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
            y_train=rng.integers(0, 10, (n,), dtype=np.uint8),
            x_test=rng.integers(0, 256, (n // 2, *shape), dtype=np.uint8),
            y_test=rng.integers(0, 10, (n // 2,), dtype=np.uint8),
        )
    np.savez(
        os.path.join(directory, "binarized_mnist.npz"),
        x_train=rng.integers(0, 2, (n, 28, 28), dtype=np.uint8),
        x_valid=rng.integers(0, 2, (n // 2, 28, 28), dtype=np.uint8),
        x_test=rng.integers(0, 2, (n // 2, 28, 28), dtype=np.uint8),
    )
    return directory


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory):
    return write_fake_datasets(str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def pixel_stats_protocol():
    """The protocol of the tests' fake 2-d feature networks (pixel mean and
    max), as reference caches key it."""
    return {
        "feature_network": "pixel stats",
        "feature_dim": 2,
        "weights_sha256": "ab" * 32,
        "resize": "none",
        "input_dtype": "uint8",
    }


@pytest.fixture
def images28():
    return np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="session")
def random_fid_weights(tmp_path_factory):
    """A converted `.weights.h5` of FIDInceptionV3 with random weights and the
    logits layer: the real network's shapes and code path, no real weights."""
    import keras

    from tfgen import metrics

    keras.utils.set_random_seed(0)
    path = str(tmp_path_factory.mktemp("fid") / "random_fid.weights.h5")
    metrics.FIDInceptionV3(include_logits=True).save_weights(path)
    return path


@pytest.fixture
def fid_env(random_fid_weights, tmp_path, monkeypatch):
    """$TFGEN_FID_WEIGHTS at the random network, a fresh cache dir."""
    monkeypatch.setenv("TFGEN_FID_WEIGHTS", random_fid_weights)
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    return random_fid_weights
