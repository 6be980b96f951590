import json
import os
import shutil
import subprocess
import sys

import benchmark_scripts
import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import cli, metrics, zoo

pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
PROTOCOL_KEYS = {
    "reference",
    "n_gen",
    "n_ref",
    "features",
    "resize",
    "input_dtype",
    "weights_sha256",
    "seed",
    "hardware",
    "wall_seconds",
}


def _tiny_classifier():
    keras.utils.set_random_seed(0)
    return metrics.DomainClassifier(filters=(4,), feature_dim=8)


def _tiny_gan(shape=(28, 28, 1), **kwargs):
    return tfgen.DCGAN(
        image_shape=shape, latent_dim=8, base_filters=4, seed=0, **kwargs
    )


def _classifier_kwargs(data_dir, reference, num_samples, batch_size=8):
    return dict(
        num_samples=num_samples,
        reference=reference,
        features=metrics.ClassifierFeatureExtractor(
            _tiny_classifier(), batch_size=batch_size, progress=False
        ),
        data_dir=data_dir,
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))


def test_evaluate_on_classifier_features(cache, fake_data_dir):
    results = metrics.evaluate(
        _tiny_gan(),
        "fid,kid,is,pr",
        num_samples=12,
        reference="mnist:train",
        features=metrics.feature_network(
            "classifier", classifier=_tiny_classifier(), progress=False
        ),
        data_dir=fake_data_dir,
    )
    names = [r.name for r in results]
    assert names == [
        "classifier_fd",
        "classifier_kid",
        "classifier_score",
        "classifier_precision",
        "classifier_recall",
    ]
    by_name = {r.name: r for r in results}
    for result in results:
        assert PROTOCOL_KEYS <= set(result.protocol)
        assert np.isfinite(result.value)
        assert "DomainClassifier" in result.protocol["features"]
        assert result.protocol["n_gen"] == 12
        assert result.protocol["resize"] == "none (28x28x1 input)"
    fd = by_name["classifier_fd"].protocol
    assert fd["reference"] == "mnist:train" and fd["n_ref"] == 32
    assert by_name["classifier_kid"].protocol["kid_subset_size"] == 12
    assert by_name["classifier_precision"].protocol["n_ref"] == 12
    score = by_name["classifier_score"]
    assert score.protocol["reference"] is None and score.protocol["splits"] == 1
    assert "softmax" in score.protocol["features"]
    assert 1.0 <= score.value <= 10.0
    # One split has no spread: no std, and none printed.
    assert score.std is None and "std" not in score.to_json()
    assert "±" not in str(score)
    record = by_name["classifier_kid"].to_json()
    assert list(record) == ["name", "value", "std", "protocol"]
    text = str(by_name["classifier_fd"])
    assert text.startswith("classifier_fd = ") and "reference mnist:train" in text
    assert "n_gen=12; n_ref=32" in text and "resize none" in text


def test_same_seed_same_numbers_and_balanced_labels(cache, fake_data_dir):
    class Conditional:
        num_classes = 10
        image_shape = (28, 28, 1)

        def __init__(self):
            self.labels = []

        def sample(self, n, seed=None, labels=None):
            self.labels.extend(labels)
            return np.random.default_rng(seed).random((n, 28, 28, 1)).astype("float32")

    kwargs = _classifier_kwargs(fake_data_dir, "mnist:test", 25)
    model = Conditional()
    first = metrics.evaluate(model, ["fid"], seed=3, **kwargs)[0]
    assert model.labels == [i % 10 for i in range(25)]
    assert "labels i mod 10" in first.protocol["sampling"]
    again = metrics.evaluate(Conditional(), ["fid"], seed=3, **kwargs)[0]
    other = metrics.evaluate(Conditional(), ["fid"], seed=4, **kwargs)[0]
    assert again.value == first.value and other.value != first.value


def test_protocol_names_the_generator_average(cache, fake_data_dir):
    kwargs = _classifier_kwargs(fake_data_dir, "mnist:train", 8)
    plain = metrics.evaluate(_tiny_gan(), ["fid"], **kwargs)[0]
    averaged = metrics.evaluate(_tiny_gan(ema_decay=0.999), ["fid"], **kwargs)[0]
    assert "weight average" not in plain.protocol["sampling"]
    assert "weight average (ema_decay=0.999)" in averaged.protocol["sampling"]


def test_protocol_names_the_default_sampling_mode(cache, fake_data_dir):
    class Decoder:
        image_shape = (28, 28, 1)

        def sample(self, n, seed=None, mode="mean"):
            scale = 0.5 if mode == "mean" else 1.0
            return scale * np.random.default_rng(seed).random((n, 28, 28, 1))

    kwargs = _classifier_kwargs(fake_data_dir, "mnist:train", 8)
    result = metrics.evaluate(Decoder(), ["fid"], **kwargs)[0]
    assert result.protocol["sampling"].endswith("; mode='mean'")


def test_sample_kwargs_reach_every_call_and_the_protocol(cache, fake_data_dir):
    calls = []

    class Decoder:
        image_shape = (28, 28, 1)

        def sample(self, n, seed=None, mode="mean", temperature=1.0):
            calls.append((mode, temperature))
            return np.random.default_rng(seed).random((n, 28, 28, 1))

    kwargs = _classifier_kwargs(fake_data_dir, "mnist:train", 12)
    sample_kwargs = {"mode": "sample", "temperature": 0.5}
    result = metrics.evaluate(
        Decoder(), ["fid"], sample_kwargs=sample_kwargs, **kwargs
    )[0]
    assert set(calls) == {("sample", 0.5)} and len(calls) == 2  # batches of 8
    assert result.protocol["sampling"].endswith("; mode='sample'; temperature=0.5")
    with pytest.raises(ValueError, match=r"accepts the sample_kwargs \['mode', "):
        metrics.evaluate(Decoder(), ["fid"], sample_kwargs={"use_ema": 0}, **kwargs)


def test_protocol_names_the_live_generator(cache, fake_data_dir):
    model = _tiny_gan(ema_decay=0.999)
    kwargs = _classifier_kwargs(fake_data_dir, "mnist:train", 8)
    live = metrics.evaluate(model, ["fid"], sample_kwargs={"use_ema": False}, **kwargs)
    sampling = live[0].protocol["sampling"]
    assert "the live generator (use_ema=False)" in sampling
    assert "weight average (ema_decay" not in sampling


def test_cli_sample_args():
    parsed = cli._sample_args(["use_ema=false", "mode=mean", "temperature=0.5"])
    assert parsed == {"use_ema": False, "mode": "mean", "temperature": 0.5}
    assert cli._sample_args(None) == {}
    with pytest.raises(ValueError, match="takes KEY=VALUE"):
        cli._sample_args(["use_ema"])


def test_work_dir_gives_the_same_numbers_in_chunks(
    cache, fake_data_dir, tmp_path, monkeypatch
):
    from tfgen.metrics import features

    monkeypatch.setattr(features, "CHUNK_SIZE", 7)
    kwargs = _classifier_kwargs(fake_data_dir, "mnist:train", 20)
    model = _tiny_gan()
    direct = metrics.evaluate(model, "fid,kid,is,pr", **kwargs)
    work = tmp_path / "work"
    chunked = metrics.evaluate(model, "fid,kid,is,pr", work_dir=work, **kwargs)
    for a, b in zip(direct, chunked):
        assert a.name == b.name
        np.testing.assert_allclose(a.value, b.value, rtol=1e-5)
    # The only participant removed its chunks and kept the assembled features.
    (kept,) = os.listdir(work)
    assert kept.startswith("generated-") and kept.endswith(".npz")
    assert "chunks of 7 under work_dir" in chunked[0].protocol["features_computed"]
    assert "features_computed" not in direct[0].protocol

    # A rerun (say, after a crash in the metric step) reads the kept features.
    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(features, "chunked_features", no_extraction)
    again = metrics.evaluate(model, "fid,kid,is,pr", work_dir=work, **kwargs)
    for a, b in zip(chunked, again):
        assert a.value == b.value
    # Other samples (another seed) are not answered from them.
    with pytest.raises(AssertionError, match="extracted again"):
        metrics.evaluate(model, "fid", work_dir=work, **{**kwargs, "seed": 5})


def test_evaluate_on_inception_features(fid_env, fake_data_dir):
    # 28x28 batches of 8 with progress bars in every Inception test here, so
    # the network is traced once for all of them.
    results = metrics.evaluate(
        _tiny_gan(),
        ["fid", "is"],
        num_samples=10,
        reference="mnist:test",
        num_reference=6,
        data_dir=fake_data_dir,
        features=metrics.feature_network("inception", batch_size=8),
        # scipy's sqrtm of a 2048-d rank-9 product takes minutes
        metric_options={"is_splits": 2, "fid_method": "eigh"},
    )
    fid, score = results
    assert fid.name == "fid" and score.name == "inception_score"
    assert fid.protocol["n_ref"] == 6 and fid.protocol["reference"] == "mnist:test"
    assert fid.protocol["features"] == "inception-2015-12-05 pool3 (2048-d)"
    assert fid.protocol["weights_sha256"] == zoo.sha256(fid_env)
    assert fid.protocol["resize"].startswith("bilinear to 299x299")
    assert fid.protocol["fid_method"] == "eigh"
    network = metrics.feature_network("inception", batch_size=8)
    assert network.protocol == metrics.inception_protocol()[0]
    assert network.protocol["weights"] == os.path.basename(fid_env)
    assert score.protocol["features"].startswith("inception-2015-12-05 logits")
    assert score.protocol["splits"] == 2 and score.std is not None
    assert np.isfinite(fid.value) and score.value >= 1.0


def test_inception_score_needs_logits(tmp_path, monkeypatch, fake_data_dir):
    keras.utils.set_random_seed(0)
    bare = str(tmp_path / "bare.weights.h5")
    metrics.FIDInceptionV3().save_weights(bare)
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))

    class Never:
        def sample(self, n, seed=None):
            raise AssertionError("sampled before checking the weights")

    with pytest.raises(ValueError, match="needs the FID network's 1008-way output"):
        metrics.evaluate(
            Never(),
            "fid,is",
            num_samples=4,
            features=metrics.feature_network("inception", weights=bare),
        )


class _PixelNetwork:
    """Per-channel mean and max of the levels: a fast 2-d feature network
    without logits."""

    output_layer = None

    def __call__(self, x):
        x = tf.cast(x, tf.float32)
        return tf.concat(
            [tf.reduce_mean(x, axis=(1, 2)), tf.reduce_max(x, axis=(1, 2))], axis=1
        )


class _Noise:
    image_shape = (28, 28, 1)

    def sample(self, n, seed=None):
        return np.random.default_rng(seed).random((n, 28, 28, 1)).astype("float32")


def test_evaluate_takes_any_feature_network(cache, fake_data_dir, pixel_stats_protocol):
    def pixels():
        network = metrics.FeatureExtractor(
            network=_PixelNetwork(), batch_size=8, progress=False
        )
        network.name = "pixels"
        network.protocol = dict(pixel_stats_protocol)
        return network

    options = metrics.MetricOptions(kid_subsets=5, kid_subset_size=10, pr_k=2)
    results = metrics.evaluate(
        _Noise(),
        "fid,kid,pr",
        num_samples=20,
        reference="mnist:train",
        features=pixels(),
        seed=4,
        metric_options=options,
        data_dir=fake_data_dir,
    )
    names = [r.name for r in results]
    assert names == ["pixels_fd", "pixels_kid", "pixels_precision", "pixels_recall"]
    fd, kid, precision, recall = results
    assert fd.protocol["features"] == "pixel stats (2-d)"
    assert fd.protocol["weights_sha256"] == "ab" * 32
    # The same numbers by hand, from the same features.
    generated = pixels().features(_Noise(), num_samples=20, seed=4)
    real = pixels().features(
        tfgen.data.load_arrays("mnist", "train", data_dir=fake_data_dir)[0]
    )
    a, b = metrics.compute_statistics(generated), metrics.compute_statistics(real)
    assert fd.value == pytest.approx(
        metrics.frechet_distance(a.mu, a.sigma, b.mu, b.sigma), rel=1e-12
    )
    expected = metrics.kid_from_features(generated, real, 5, 10, seed=4)
    assert (kid.value, kid.std) == pytest.approx(tuple(expected), rel=1e-12)
    assert kid.protocol["kid_subsets"] == 5 and precision.protocol["k"] == 2
    pr = metrics.precision_recall_from_features(real[:20], generated, k=2)
    assert (precision.value, recall.value) == (pr.precision, pr.recall)

    class Never(_Noise):
        def sample(self, n, seed=None):
            raise AssertionError("sampled before checking the request")

    # Refused before anything is sampled.
    with pytest.raises(ValueError, match="has no logits layer"):
        metrics.evaluate(Never(), "fid,is", features=pixels(), reference="mnist")
    bare = metrics.FeatureExtractor(network=_PixelNetwork())
    with pytest.raises(ValueError, match="`protocol` must be a dict naming"):
        metrics.evaluate(Never(), "fid", features=bare, reference="mnist")
    with pytest.raises(TypeError, match="Received: DomainClassifier"):
        metrics.evaluate(Never(), "fid", features=_tiny_classifier())


def test_evaluation_plan_says_what_the_reference_costs(
    cache, fake_data_dir, pixel_stats_protocol
):
    """Issue 22: `tfgen eval --num-samples 500` featurized the 60,000
    training images without saying so."""
    from tfgen.metrics.evaluate import evaluation_plan

    network = metrics.FeatureExtractor(
        network=_PixelNetwork(), batch_size=8, progress=False
    )
    network.protocol = dict(pixel_stats_protocol)
    common = dict(features=network, data_dir=fake_data_dir)

    def plan(metric="fid", num_reference=None):
        return evaluation_plan(
            metric, "mnist:train", num_reference=num_reference, **common
        )

    whole, first = plan(), plan(num_reference=8)
    assert (whole.source, whole.kind, whole.num_images, whole.split_size) == (
        "compute",
        "statistics",
        32,
        32,
    )
    assert str(whole).startswith("reference mnist:train: featurizing all 32 images")
    assert "the first 8 of its 32 images (stored order)" in str(first)
    # The subset has its own cache key, so neither answers for the other.
    assert first.path != whole.path and not os.path.exists(first.path)
    run = metrics.evaluate(_Noise(), "fid", 8, "mnist:train", num_reference=8, **common)
    assert run[0].protocol["n_ref"] == 8 and os.path.isfile(first.path)
    cached = plan(num_reference=8)
    assert (cached.source, cached.path) == ("cached", first.path)
    assert "statistics cached by an earlier run" in str(cached)
    assert plan().source == "compute"
    assert plan("fid,kid", num_reference=8).kind == "features"
    assert plan("is") is None
    full = metrics.evaluate(_Noise(), "fid", 8, "mnist:train", **common)
    assert full[0].protocol["n_ref"] == 32
    again = metrics.evaluate(
        _Noise(), "fid", 8, "mnist:train", num_reference=8, **common
    )
    assert again[0].protocol["n_ref"] == 8 and again[0].value == run[0].value
    with pytest.raises(ValueError, match="holds 32 images"):
        plan(num_reference=33)


def test_metric_options_are_checked():
    assert metrics.MetricOptions.of(None) == metrics.MetricOptions()
    options = metrics.MetricOptions.of({"fid_method": "eigh", "is_splits": 4})
    assert options.fid_method == "eigh" and options.is_splits == 4
    assert metrics.MetricOptions.of(options) is options
    with pytest.raises(ValueError, match=r"one of \['sqrtm', 'eigh'\]"):
        metrics.MetricOptions(fid_method="cholesky")
    with pytest.raises(ValueError, match="Received: kid_subsets=0"):
        metrics.MetricOptions(kid_subsets=0)
    with pytest.raises(ValueError, match=r"Received: \['splits'\]"):
        metrics.MetricOptions.of({"splits": 2})
    with pytest.raises(TypeError, match="Received: int"):
        metrics.MetricOptions.of(3)


def test_feature_network_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    missing = str(tmp_path / "missing.pth")
    # Built without reading anything; shared by calls with the same arguments.
    network = metrics.feature_network("inception", weights=missing, batch_size=4)
    assert isinstance(network, metrics.InceptionFeatureExtractor)
    assert network is metrics.feature_network(
        "inception", weights=missing, batch_size=4
    )
    assert network.name == "inception" and network.score_splits == 10
    assert network.metric_names["is"] == "inception_score"
    with pytest.raises(FileNotFoundError, match="No FID Inception weights"):
        assert network.protocol
    extractor = metrics.ClassifierFeatureExtractor(_tiny_classifier())
    assert metrics.feature_network("classifier", classifier=extractor) is extractor
    assert extractor.image_shape == (28, 28, 1) and extractor.score_splits == 1
    assert extractor.metric_names["fid"] == "classifier_fd"
    built = metrics.feature_network("classifier", classifier=_tiny_classifier())
    assert built.batch_size == 256
    with pytest.raises(ValueError, match="needs `classifier`"):
        metrics.feature_network("classifier")


def test_bad_requests(cache):
    model = _tiny_gan()
    with pytest.raises(ValueError, match=r"Unknown metric\(s\) \['lpips'\]"):
        metrics.evaluate(model, "fid,lpips")
    with pytest.raises(ValueError, match="Received: features='vgg'"):
        metrics.evaluate(model, "fid", features="vgg")
    with pytest.raises(ValueError, match=r"takes \(28, 28, 1\) images"):
        metrics.evaluate(
            _tiny_gan((32, 32, 3)),
            "fid",
            features=metrics.ClassifierFeatureExtractor(_tiny_classifier()),
        )
    with pytest.raises(ValueError, match="only with features='classifier'"):
        metrics.feature_network("inception", classifier=_tiny_classifier())
    with pytest.raises(ValueError, match="only with features='inception'"):
        metrics.feature_network("classifier", weights="fid.pth", reference="mnist")
    with pytest.raises(FileNotFoundError, match="No classifier 'cifar10'"):
        metrics.evaluate(model, "fid", features="classifier", reference="cifar10")


def test_cli_eval_saved_folder(fid_env, fake_data_dir, tmp_path, capsys):
    saved = str(tmp_path / "saved")
    zoo.save(
        _tiny_gan(),
        saved,
        metadata={"recipe": {"dataset": {"name": "mnist", "split": "train"}}},
    )
    out_json = str(tmp_path / "out" / "eval.json")
    args = [
        "eval", saved, "--metric", "fid,kid,pr", "--num-samples", "8",
        "--num-reference", "8", "--data-dir", fake_data_dir, "--batch-size", "8",
        "--json", out_json, "--fid-method", "eigh",
    ]  # fmt: skip
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "fid = " in out and "reference mnist:train" in out  # the default
    assert "n_gen=8; n_ref=8" in out and "resize bilinear to 299x299" in out
    report = json.load(open(out_json))
    assert report["model"] == saved
    assert report["weights_sha256"] == zoo.sha256(f"{saved}/{zoo.WEIGHTS_FILE}")
    assert [m["name"] for m in report["metrics"]] == [
        "fid",
        "kid",
        "precision",
        "recall",
    ]
    for record in report["metrics"]:
        assert PROTOCOL_KEYS <= set(record["protocol"])


def test_cli_eval_with_the_classifier(cache, fake_data_dir, tmp_path, capsys):
    saved = str(tmp_path / "saved")
    zoo.save(_tiny_gan(), saved)
    classifier = metrics.export_classifier(
        _tiny_classifier(), {"dataset": "mnist"}, directory=str(tmp_path / "clf")
    )
    args = [
        "eval", saved, "--metric", "fid,is", "--num-samples", "10",
        "--reference", "mnist:test", "--features", "classifier",
        "--classifier", classifier, "--data-dir", fake_data_dir,
    ]  # fmt: skip
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "classifier_fd = " in out and "classifier_score = " in out
    assert "DomainClassifier (mnist)" in out
    # Issue 22: what the reference costs, said before sampling, and cached.
    said = out.splitlines()[:2]
    assert said[0].startswith("reference mnist:test: featurizing all 16 images once")
    assert os.path.join(str(tmp_path), "cache", "reference_stats") in said[0]
    assert said[1].startswith("(--num-reference N would featurize only the first N")
    assert cli.main([*args, "--num-reference", "4"]) == 0
    out = capsys.readouterr().out
    assert "featurizing the first 4 of its 16 images (stored order)" in out
    assert "n_ref=4" in out
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "reference mnist:test: statistics cached by an earlier run" in out
    assert "n_ref=16" in out and "would featurize" not in out


def test_cli_eval_errors(cache, tmp_path, capsys):
    saved = str(tmp_path / "saved")
    zoo.save(_tiny_gan(), saved)
    assert cli.main(["eval", saved]) == 2
    assert "Expected --reference DATASET:SPLIT" in capsys.readouterr().err
    assert cli.main(["eval", "dcgan_cifr"]) == 2
    assert "Did you mean 'dcgan_cifar'" in capsys.readouterr().err
    assert cli.main(["eval", saved, "--reference", "mnist", "--metric", "fidd"]) == 2
    assert "Unknown metric(s) ['fidd']" in capsys.readouterr().err


def _benchmark_module():
    return benchmark_scripts.load("fid")


def test_benchmark_script_smoke(fid_env, fake_data_dir, tmp_path, capsys):
    # A copy of the zoo with one tiny trained entry and a tiny classifier.
    zoo_dir = tmp_path / "zoo"
    zoo_dir.mkdir()
    entry_dir = zoo_dir / "tiny_mnist"
    entry_dir.mkdir()
    model = _tiny_gan()
    model.save_weights(str(entry_dir / "model.weights.h5"))
    entry = zoo.ZooEntry(
        name="tiny_mnist",
        model="DCGAN",
        config=dict(image_shape=[28, 28, 1], latent_dim=8, base_filters=4, seed=0),
        dataset={"name": "mnist", "split": "train"},
        weights="model.weights.h5",
        sha256=zoo.sha256(str(entry_dir / "model.weights.h5")),
        metrics=[{"name": "fid", "value": 1.0, "protocol": "old"}],
        training={"command": "tfgen train tiny_mnist"},
    )
    (entry_dir / "entry.json").write_text(json.dumps(entry.to_json()))
    shutil.copytree(
        metrics.export_classifier(
            _tiny_classifier(), {"dataset": "mnist"}, zoo_dir=str(tmp_path / "c")
        ),
        zoo_dir / "classifiers" / "mnist",
    )
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Benchmark results\n\n<!-- other:start -->\nkept\n<!-- other:end -->\n"
    )
    bench = _benchmark_module()
    try:
        argv = [
            "--num-samples", "8", "--num-reference", "8", "--batch-size", "8",
            "--data-dir", fake_data_dir, "--zoo-dir", str(zoo_dir),
            "--output", str(results), "--fid-method", "eigh",
        ]  # fmt: skip
        assert benchmark_scripts.run(bench, argv) == 0
    finally:
        zoo._REGISTRY.pop("tiny_mnist", None)
    text = results.read_text()
    assert (
        "kept" in text and "<!-- fid:start -->" in text and "<!-- fid:end -->" in text
    )
    assert (
        "| `tiny_mnist` | fid |" in text and "| `tiny_mnist` | classifier_fd |" in text
    )
    written = json.loads((entry_dir / "entry.json").read_text())
    names = [m["name"] for m in written["metrics"]]
    assert names == [
        "fid",
        "kid",
        "precision",
        "recall",
        "classifier_fd",
        "classifier_score",
        "classifier_min_class_share",
    ]  # the old fid record was replaced
    for record in written["metrics"]:
        assert PROTOCOL_KEYS <= set(record["protocol"])
        assert record["protocol"]["script"] == "benchmarks/fid.py"
    assert written["metrics"][0]["protocol"]["n_gen"] == 8
    # The section can be rewritten from the records alone, with a note.
    results.write_text(text.replace("| `tiny_mnist` | fid |", "| gone |"))
    argv = ["--table-only", "--zoo-dir", str(zoo_dir), "--output", str(results)]
    assert benchmark_scripts.run(bench, argv + ["--note", "two lanes"]) == 0
    rewritten = results.read_text()
    assert "| `tiny_mnist` | fid |" in rewritten and "- Note: two lanes." in rewritten
    assert "| `tiny_mnist` | classifier_score |" in rewritten
    (score_row,) = [
        line for line in rewritten.splitlines() if "| classifier_score |" in line
    ]
    assert "±" not in score_row  # one split: no spread


def test_benchmark_table_leaves_out_the_spread_of_one_split():
    bench = _benchmark_module()
    protocol = {"n_gen": 10, "splits": 1, "features": "f", "weights_sha256": ""}
    old = {"name": "classifier_score", "value": 5.0, "std": 0.0, "protocol": protocol}
    ten = {**old, "std": 0.25, "protocol": {**protocol, "splits": 10}}
    rows = bench.records_table([("a", old), ("b", ten)])
    assert "| 5.0000 |" in rows[2] and "| 5.0000 ± 0.2500 |" in rows[3]


def test_benchmark_measures_its_checkout(tmp_path):
    # Run as a script, it writes only what it measured with its checkout's
    # tfgen and zoo: another copy first on the path (a non-editable install,
    # whose zoo holds the weights of its install day) is refused before
    # anything is measured or written.
    root = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir))
    foreign = tmp_path / "site" / "tfgen"
    foreign.mkdir(parents=True)
    (foreign / "__init__.py").write_text('__version__ = "0.0.0"\n')
    output = tmp_path / "RESULTS.md"
    script = os.path.join(root, "benchmarks", "fid.py")
    command = [sys.executable, script, "--table-only", "--output", str(output)]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TFGEN_ZOO_DIR", "PYTHONPATH", "PYTHONSAFEPATH")
    }
    # Run from elsewhere: the working folder must not supply the checkout.
    refused = subprocess.run(
        command,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1, refused.stderr
    assert "Expected this checkout's tfgen" in refused.stderr
    assert os.path.realpath(foreign / "__init__.py") in refused.stderr
    assert "pip install -e . --config-settings editable_mode=compat" in refused.stderr
    assert not output.exists()
    # With the checkout's tfgen it rebuilds the table from the checkout's zoo.
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    measured = []
    for name in sorted(os.listdir(os.path.join(root, "zoo"))):
        path = os.path.join(root, "zoo", name, "entry.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            entry = json.load(f)
        scripts = [
            m["protocol"].get("script")
            for m in entry.get("metrics", [])
            if isinstance(m.get("protocol"), dict)
        ]
        if "benchmarks/fid.py" in scripts:
            measured.append(entry["name"])
    text = output.read_text()
    assert measured and all(f"| `{name}` |" in text for name in measured)


def test_benchmark_leaves_out_translation_entries(tmp_path):
    datasets = {
        "gan": {"name": "mnist", "split": "train"},
        "c2d": {"domain_a": "cifar10:cat", "domain_b": "cifar10:dog"},
    }
    for name, dataset in datasets.items():
        (tmp_path / name).mkdir()
        entry = zoo.ZooEntry(
            name=name,
            model="DCGAN",
            config={},
            dataset=dataset,
            weights="model.weights.h5",
            sha256="0" * 64,
        )
        (tmp_path / name / "entry.json").write_text(json.dumps(entry.to_json()))
    bench = _benchmark_module()
    skipped = []
    selected = bench.select_entries(str(tmp_path), [], skipped)
    assert [e.name for e in selected] == ["gan"]
    assert skipped[0].startswith("c2d not measured: its dataset")
    with pytest.raises(SystemExit, match="c2d: c2d not measured.*no single reference"):
        bench.select_entries(str(tmp_path), ["c2d"])
    with pytest.raises(SystemExit, match=r"Expected names among \['gan'\]"):
        bench.select_entries(str(tmp_path), ["nope*"])


def test_benchmark_sanity_smoke(fid_env, fake_data_dir, tmp_path):
    # FID(CIFAR-10 train, test) and, the random weights having logits, IS(train).
    results = tmp_path / "RESULTS.md"
    argv = [
        "--sanity", "--num-samples", "12", "--num-reference", "12",
        "--batch-size", "6", "--data-dir", fake_data_dir, "--output", str(results),
        "--fid-method", "eigh", "--quiet",
    ]  # fmt: skip
    assert benchmark_scripts.run(_benchmark_module(), argv) == 0
    text = results.read_text()
    assert "<!-- fid_sanity:start -->" in text
    assert "| FID(cifar10:train, cifar10:test) |" in text
    assert "| IS(cifar10:train), 10 splits |" in text and "| 12 vs 12 |" in text


def test_vae_draws_binary_images_against_binary_data():
    from tfgen.metrics.evaluate import _default_sample_kwargs

    vae = tfgen.VAE((8, 8, 1), latent_dim=2, hidden_units=(16,), seed=0)
    kwargs = _default_sample_kwargs(vae, "binarized_mnist", None)
    assert kwargs == {"mode": "sample"}
    assert set(np.unique(vae.sample(4, seed=0, **kwargs))) <= {0.0, 1.0}
    assert _default_sample_kwargs(vae, "fashion_mnist", None) == {}  # means
    assert _default_sample_kwargs(_tiny_gan(), "binarized_mnist", None) == {}
    # The caller's choice stands.
    assert _default_sample_kwargs(vae, "binarized_mnist", {"mode": "mean"}) == {
        "mode": "mean"
    }


def test_class_shares_count_the_argmax_labels(cache, fake_data_dir):
    """Hand-made: a classifier whose logits are the images' mean level picks
    class 1 for bright images and 0 for dark ones; a model drawing 3 bright
    and 9 dark images has shares 0.25 / 0.75 (and 0 for the other eight)."""

    class Network:
        output_layer = object()

        def __call__(self, levels):
            mean = keras.ops.mean(keras.ops.reshape(levels, (len(levels), -1)), axis=1)
            return keras.ops.stack([mean * 0 + 127.5, mean], axis=1)

        def logits(self, features):
            padding = keras.ops.zeros((len(features), 8))
            return keras.ops.concatenate([features, padding - 1e9], axis=1)

    class Model:
        image_shape = (28, 28, 1)

        def sample(self, n, seed=None):
            first = seed * 4  # batch_size 4: seeds 0, 1, 2 give images 0-11
            return np.stack(
                [
                    np.full((28, 28, 1), 1.0 if i % 4 == 0 else 0.0)
                    for i in range(first, first + n)
                ]
            ).astype("float32")

    network = metrics.FeatureExtractor(Network(), batch_size=4, progress=False)
    network.name = "toy"
    network.protocol = {
        "feature_network": "toy",
        "feature_dim": 2,
        "weights_sha256": "cd" * 32,
        "resize": "none",
        "input_dtype": "uint8",
    }
    (result,) = metrics.evaluate(
        Model(), "classes", num_samples=12, reference="mnist:train", features=network
    )
    assert result.name == "toy_min_class_share" and result.value == 0.0
    assert result.protocol["class_shares"] == [0.75, 0.25] + [0.0] * 8
    assert result.protocol["max_class_share"] == 0.75
    from tfgen.metrics.evaluate import evaluation_plan

    assert evaluation_plan("classes", "mnist:train", features=network) is None
