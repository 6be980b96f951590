import json
import os

import keras
import numpy as np
import pytest

from tfgen import cli, metrics, zoo

TINY = dict(filters=(4, 8), feature_dim=8, dropout=0.1)


def _tiny(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return metrics.DomainClassifier(**{**TINY, **kwargs})


def _images(n=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


def test_shapes_and_config_round_trip():
    net = _tiny()
    x = _images(3).astype("float32") / 255.0
    assert tuple(net(x).shape) == (3, 10)
    assert tuple(net.features(x).shape) == (3, 8)
    config = net.get_config()
    assert config["filters"] == [4, 8] and config["feature_dim"] == 8
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(net)
    )
    assert isinstance(restored, metrics.DomainClassifier)
    assert restored.get_config() == config
    restored.set_weights(net.get_weights())
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(net(x)), atol=1e-6)
    # Default sizes: the shipped architecture.
    assert metrics.DomainClassifier().count_params() == 468_394


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        metrics.DomainClassifier(dropout=1.5)
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        metrics.DomainClassifier(num_classes=0)


def test_train_export_load(tmp_path, fake_data_dir):
    net, info = metrics.train_classifier(
        "mnist",
        epochs=1,
        batch_size=8,
        steps_per_epoch=2,
        precision="float32",
        data_dir=fake_data_dir,
        config=TINY,
        verbose=0,
    )
    assert 0.0 <= info["test_accuracy"] <= 1.0 and info["test_loss"] > 0
    assert info["recipe"]["epochs"] == 1 and info["dataset"] == "mnist"
    accuracy, loss = metrics.evaluate_classifier(net, "mnist", "test", fake_data_dir)
    assert accuracy == pytest.approx(info["test_accuracy"], abs=1e-6)
    directory = metrics.export_classifier(net, info, zoo_dir=str(tmp_path))
    assert directory == str(tmp_path / "classifiers" / "mnist")
    assert sorted(os.listdir(directory)) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    meta = json.load(open(os.path.join(directory, "metadata.json")))
    assert meta["sha256"] == zoo.sha256(os.path.join(directory, "model.weights.h5"))
    assert meta["test_accuracy"] == info["test_accuracy"]
    assert meta["command"] == "tfgen classifier train mnist --export"

    loaded = metrics.load_classifier("mnist", zoo_dir=str(tmp_path))
    x = _images(4).astype("float32") / 255.0
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(net(x)), atol=1e-5)
    assert loaded.metadata["dataset"] == "mnist"
    assert metrics.load_classifier(directory).feature_dim == 8


def test_cifar10_recipe_merges_its_config_and_flips(fake_data_dir):
    # The recipe's three stages, overridden by the caller's feature_dim; the
    # flips run in the input pipeline.
    net, info = metrics.train_classifier(
        "cifar10",
        epochs=1,
        batch_size=8,
        steps_per_epoch=1,
        precision="float32",
        data_dir=fake_data_dir,
        config={"feature_dim": 4},
        verbose=0,
    )
    assert net.image_shape == (32, 32, 3)
    assert net.filters == (32, 64, 128) and net.feature_dim == 4
    assert info["recipe"]["augment"] == "flip"
    assert info["recipe"]["config"]["filters"] == [32, 64, 128]


def test_loading_checks_sha256_and_metadata(tmp_path):
    directory = metrics.export_classifier(
        _tiny(), {"dataset": "mnist"}, zoo_dir=str(tmp_path)
    )
    weights = os.path.join(directory, "model.weights.h5")
    _tiny(seed=1).save_weights(weights)
    # tfgen.zoo.load checks the files; the classifier's loader adds no copy.
    with pytest.raises(zoo.ChecksumError, match="sha256 mismatch for saved model"):
        metrics.load_classifier("mnist", zoo_dir=str(tmp_path))
    os.remove(os.path.join(directory, "metadata.json"))
    with pytest.raises(FileNotFoundError, match="has no metadata.json, the sha256"):
        metrics.load_classifier(directory)
    with pytest.raises(FileNotFoundError, match="tfgen classifier train fashion_mnist"):
        metrics.load_classifier("fashion_mnist", zoo_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Received: name='Bad Name'"):
        metrics.load_classifier("Bad Name", zoo_dir=str(tmp_path))


def test_export_replaces_a_classifier_only_with_overwrite(tmp_path):
    first, second = _tiny(), _tiny(seed=1)
    directory = metrics.export_classifier(first, {"dataset": "mnist"}, zoo_dir=tmp_path)
    with pytest.raises(FileExistsError, match="Pass overwrite=True"):
        metrics.export_classifier(second, {"dataset": "mnist"}, zoo_dir=tmp_path)
    x = _images(2).astype("float32") / 255.0
    kept = metrics.load_classifier("mnist", zoo_dir=str(tmp_path))
    np.testing.assert_allclose(np.asarray(kept(x)), np.asarray(first(x)), atol=1e-5)
    metrics.export_classifier(
        second, {"dataset": "mnist"}, directory=directory, overwrite=True
    )
    replaced = metrics.load_classifier(directory)
    np.testing.assert_allclose(
        np.asarray(replaced(x)), np.asarray(second(x)), atol=1e-5
    )


# Tiny sets have singular covariances; the distance is still defined.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_frechet_distance_on_classifier_features():
    net = _tiny()
    images = _images(40)
    result = metrics.classifier_frechet_distance(images, images, net, progress=False)
    assert result.value == pytest.approx(0.0, abs=1e-6)
    assert "penultimate layer (8-d)" in result.features
    assert "weights sha256" in result.features
    extractor = metrics.ClassifierFeatureExtractor(net, batch_size=16, progress=False)
    a, b = extractor.features(images[:20]), extractor.features(_images(20, seed=1))
    stats_a, stats_b = metrics.compute_statistics(a), metrics.compute_statistics(b)
    expected = metrics.frechet_distance(
        stats_a.mu, stats_a.sigma, stats_b.mu, stats_b.sigma
    )
    got = metrics.classifier_frechet_distance(
        images[:20], _images(20, seed=1), extractor
    )
    assert got.value == pytest.approx(expected, rel=1e-9)
    # Floats in [0, 1] are rounded to the same levels as uint8 images.
    floats = metrics.classifier_frechet_distance(images / 255.0, images, extractor)
    assert floats.value == pytest.approx(0.0, abs=1e-6)


def test_classifier_score_is_the_inception_score_formula():
    confident = np.eye(10)[np.arange(50) % 10] * 30.0
    score = metrics.classifier_score(confident, _tiny())
    assert score.mean == pytest.approx(10.0, rel=1e-6) and score.std == 0.0
    assert "10-way softmax" in score.features
    assert metrics.classifier_score(np.zeros((50, 10)), _tiny()).mean == pytest.approx(
        1.0
    )
    net = _tiny()
    images = _images(30)
    extractor = metrics.ClassifierFeatureExtractor(net, progress=False)
    _, logits = extractor.features(images, logits=True)
    np.testing.assert_allclose(
        logits, np.asarray(net(images.astype("float32") / 255.0)), atol=1e-5
    )
    score = metrics.classifier_score(images, extractor, splits=3)
    expected = metrics.inception_score_from_logits(logits, splits=3)
    assert (score.mean, score.std) == pytest.approx(tuple(expected))
    assert 1.0 <= score.mean <= 10.0


def test_model_sources_and_wrong_sizes():
    class Model:
        def sample(self, n, seed=None):
            return np.random.default_rng(seed).random((n, 28, 28, 1)).astype("float32")

    net = _tiny()
    score = metrics.classifier_score(Model(), net, num_samples=20, progress=False)
    assert 1.0 <= score.mean <= 10.0
    rgb = np.zeros((4, 32, 32, 3), "uint8")
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28, 1\)"):
        metrics.classifier_score(rgb, net, progress=False)


def test_cli_trains_and_exports(tmp_path, fake_data_dir, capsys):
    args = [
        "classifier", "train", "fashion_mnist", "--data-dir", fake_data_dir,
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
        "--precision", "float32", "--config", json.dumps({"filters": [4], "feature_dim": 8}),
        "--export", "--zoo-dir", str(tmp_path), "-o", str(tmp_path / "run"), "--verbose", "0",
    ]  # fmt: skip
    assert cli.main(args) == 0
    out = capsys.readouterr()
    assert "fashion_mnist classifier: test accuracy" in out.out
    assert "below the target accuracy 0.9" in out.err  # a random net
    loaded = metrics.load_classifier("fashion_mnist", zoo_dir=str(tmp_path))
    assert loaded.filters == (4,)
    assert os.path.isfile(tmp_path / "run" / "metadata.json")
    assert cli.main(["classifier", "train", "cifr", "--epochs", "1"]) == 2
    assert "Expected one of ['cifar10', 'fashion_mnist', 'mnist']" in (
        capsys.readouterr().err
    )


def test_export_goes_to_your_zoo_folder_not_the_package(
    tmp_path, fake_data_dir, capsys, monkeypatch
):
    # A wheel install: the package folder must never be written to.
    monkeypatch.delenv("TFGEN_ZOO_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    shipped = metrics.classifier.classifier_dir("fashion_mnist")
    assert shipped.startswith(zoo.shipped_dir())
    before = sorted(os.listdir(shipped))
    args = [
        "classifier", "train", "fashion_mnist", "--data-dir", fake_data_dir,
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "8",
        "--precision", "float32", "--config", json.dumps({"filters": [4], "feature_dim": 8}),
        "--export", "--verbose", "0",
    ]  # fmt: skip
    assert cli.main(args) == 0
    mine = str(tmp_path / "xdg" / "tfgen" / "zoo" / "classifiers" / "fashion_mnist")
    out = capsys.readouterr()
    assert f"saved to {mine}" in out.out
    # The shipped classifier keeps its name, and the note says so.
    assert f"--classifier {mine}" in out.err
    assert sorted(os.listdir(shipped)) == before
    assert metrics.load_classifier("fashion_mnist").filters != (4,)
    # Where none ships (the wheel ships none), the name finds yours.
    monkeypatch.setattr(zoo, "shipped_dir", lambda: str(tmp_path / "package"))
    assert metrics.classifier.classifier_dir("fashion_mnist") == mine
    assert metrics.load_classifier("fashion_mnist").filters == (4,)
    with pytest.raises(FileNotFoundError, match="it writes to .*xdg.*mnist"):
        metrics.load_classifier("mnist")


def _shipped():
    root = os.path.join(zoo.artifacts_dir(), "classifiers")
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return names or [pytest.param(None, marks=pytest.mark.skip("none shipped yet"))]


@pytest.mark.parametrize("name", _shipped())
def test_shipped_classifiers_load_and_reach_their_target(name):
    net = metrics.load_classifier(name)  # sha256-checked
    meta = net.metadata
    assert meta["dataset"] == name
    assert meta["test_accuracy"] >= metrics.CLASSIFIER_RECIPES[name]["target_accuracy"]
    assert {"recipe", "hardware", "train_seconds", "command"} <= set(meta)
