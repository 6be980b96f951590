import json
import os
import shutil

import numpy as np
import pytest

import tfgen
from tfgen import zoo

SHIPPED = [
    "cdcgan_mnist",
    "dcgan_cifar",
    "dcgan_fashion_mnist",
    "dcgan_mnist",
    "gan_mnist",
    "wgan_gp_cifar",
]


@pytest.fixture
def tiny_entry(tmp_path):
    """A registered entry with real weights in a temporary folder."""
    model = tfgen.DCGAN(image_shape=(28, 28, 1), latent_dim=8, base_filters=4, seed=0)
    directory = tmp_path / "tiny"
    directory.mkdir()
    model.save_weights(str(directory / "model.weights.h5"))
    entry = zoo.ZooEntry(
        name="tiny_test_entry",
        model="DCGAN",
        config=dict(image_shape=[28, 28, 1], latent_dim=8, base_filters=4, seed=0),
        weights="model.weights.h5",
        sha256=zoo.sha256(str(directory / "model.weights.h5")),
        directory=str(directory),
    )
    zoo.register(entry, overwrite=True)
    yield entry, model
    zoo._REGISTRY.pop(entry.name, None)


def test_shipped_entries_are_listed():
    assert set(SHIPPED) <= set(zoo.list())
    assert zoo.list("dcgan_*") == ["dcgan_cifar", "dcgan_fashion_mnist", "dcgan_mnist"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_entry_builds_and_loads(name):
    entry = zoo.get(name)
    assert entry.training["command"].startswith(f"tfgen train {name}")
    bare = zoo.load(name, weights=False)
    assert bare.image_shape == tuple(entry.config["image_shape"])
    if entry.weights:
        model = zoo.load(name)
        kwargs = {"labels": 3} if entry.config.get("num_classes") else {}
        images = model.sample(4, seed=0, **kwargs)
        assert images.shape == (4, *entry.config["image_shape"])
        assert 0.0 <= images.min() and images.max() <= 1.0
        # Every shipped number names its protocol.
        for metric in entry.metrics:
            assert {"name", "value", "protocol"} <= set(metric)


def test_load_checks_sha256(tiny_entry):
    entry, model = tiny_entry
    loaded = zoo.load(entry.name)
    np.testing.assert_array_equal(loaded.sample(3, seed=0), model.sample(3, seed=0))
    entry.sha256 = "0" * 64
    with pytest.raises(
        zoo.ChecksumError,
        match="sha256 mismatch.*Expected: 0000.*Received: [0-9a-f]{64}",
    ):
        zoo.load(entry.name)


def test_overrides(tiny_entry):
    entry, _ = tiny_entry
    assert zoo.load(entry.name, seed=5).seed == 5


def test_saved_folder_with_tampered_weights(tmp_path):
    model = tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(4,))
    digest = zoo.save(model, str(tmp_path / "m"))
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["sha256"] == digest
    with open(tmp_path / "m" / "model.weights.h5", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(zoo.ChecksumError):
        zoo.load(str(tmp_path / "m"))


def test_folder_without_a_saved_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="No saved model in folder"):
        zoo.load(str(tmp_path))


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError, match="Did you mean 'dcgan_cifar'"):
        zoo.load("dcgan_cifr")


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs/path", "DCGAN", "a/b", ""])
def test_names_cannot_escape_the_zoo(name):
    with pytest.raises(ValueError, match="cannot name a path outside the zoo"):
        zoo.load(name)


def test_weights_requested_where_none_exist():
    zoo.register(
        zoo.ZooEntry(
            name="untrained_test", model="GAN", config={"image_shape": [4, 4, 1]}
        )
    )
    try:
        with pytest.raises(
            ValueError, match="has no trained weights yet.*weights=False"
        ):
            zoo.load("untrained_test")
        assert zoo.load("untrained_test", weights=False).image_shape == (4, 4, 1)
    finally:
        zoo._REGISTRY.pop("untrained_test")


def test_register_refuses_duplicates(tiny_entry):
    entry, _ = tiny_entry
    with pytest.raises(ValueError, match="exists"):
        zoo.register(entry)


def test_unknown_model_class():
    with pytest.raises(ValueError, match="Unknown model class 'Transformer'"):
        tfgen.models.get("Transformer")


def test_artifacts_dir_holds_the_entries():
    root = zoo.artifacts_dir()
    for name in SHIPPED:
        assert os.path.isfile(os.path.join(root, name, "entry.json"))


def test_entry_json_round_trip(tmp_path):
    entry = zoo.get("dcgan_cifar")
    path = tmp_path / "entry.json"
    path.write_text(json.dumps(entry.to_json()))
    again = zoo.ZooEntry.from_json(str(path))
    assert again.to_json() == entry.to_json()
    data = entry.to_json()
    data["surprise"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown keys"):
        zoo.ZooEntry.from_json(str(path))


def test_copy_of_zoo_dir_via_env(tmp_path, monkeypatch):
    shutil.copytree(zoo.artifacts_dir(), tmp_path / "zoo")
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    assert zoo.artifacts_dir() == str(tmp_path / "zoo")
