import json

import benchmark_scripts
import keras
import numpy as np
import pytest

import tfgen
from tfgen import metrics, zoo


def _script():
    return benchmark_scripts.load("translation")


@pytest.mark.slow  # the whole script on tiny data: ~55 s on one core
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_translation_benchmark_writes_records(
    tmp_path, random_fid_weights, monkeypatch
):
    # Cats (3) and dogs (5) alternate in a tiny CIFAR-10 stand-in.
    rng = np.random.default_rng(0)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    np.savez(
        data_dir / "cifar10.npz",
        x_train=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
        y_train=np.array([3, 5] * 4, np.uint8),
        x_test=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
        y_test=np.array([3, 5] * 6, np.uint8),
    )
    monkeypatch.setenv("TFGEN_DATA_DIR", str(data_dir))
    # The script registers the entry it measures; keep that out of other tests.
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    zoo_dir = tmp_path / "zoo"
    entry_dir = zoo_dir / "tiny_cat2dog"
    entry_dir.mkdir(parents=True)
    config = dict(image_shape=[32, 32, 3], base_filters=4, num_blocks=1, seed=0)
    keras.utils.set_random_seed(0)
    tfgen.CycleGAN(**config).save_weights(str(entry_dir / "model.weights.h5"))
    entry = {
        "name": "tiny_cat2dog",
        "model": "CycleGAN",
        "config": config,
        "dataset": {"domain_a": "cifar10:cat", "domain_b": "cifar10:dog"},
        "weights": "model.weights.h5",
        "sha256": zoo.sha256(str(entry_dir / "model.weights.h5")),
        "metrics": [{"name": "other", "value": 1}],
    }
    (entry_dir / "entry.json").write_text(json.dumps(entry))
    net = metrics.DomainClassifier(image_shape=(32, 32, 3), filters=(4,), feature_dim=4)
    metrics.export_classifier(net, {"dataset": "cifar10"}, zoo_dir=str(zoo_dir))
    output = tmp_path / "RESULTS.md"
    script = _script()
    assert (
        benchmark_scripts.run(
            script,
            [
                "--zoo-dir",
                str(zoo_dir),
                "--weights",
                random_fid_weights,
                "--output",
                str(output),
                "--batch-size",
                "8",
            ],
        )
        == 0
    )
    records = {
        m["name"]: m
        for m in json.loads((entry_dir / "entry.json").read_text())["metrics"]
    }
    assert records["other"]["value"] == 1
    for name in ("fid_a2b", "fid_b2a", "kid_a2b", "cycle_l1_a", "success_rate_a2b"):
        assert name in records, name
    protocol = records["fid_a2b"]["protocol"]
    assert protocol["n_a"] == protocol["n_b"] == 6 and protocol["split"] == "test"
    assert 0.0 <= records["success_rate_a2b"]["value"] <= 1.0
    assert "classifier_test_accuracy" in records["success_rate_a2b"]["baselines"]
    # The cycle error is in 8-bit levels.
    assert 0.0 < records["cycle_l1_a"]["value"] < 255.0
    assert "<!-- translation:start -->" in output.read_text()
