import json
import os
import pathlib
import shutil

import numpy as np
import pytest

import tfgen
from tfgen import cli, zoo
from tfgen.finite import check_finite_weights

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


@pytest.mark.parametrize("name", ["DCGAN", "", "dcgan cifar", "a\\b"])
def test_names_cannot_escape_the_zoo(name):
    with pytest.raises(ValueError, match="cannot name a path outside the zoo"):
        zoo.load(name)


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs/path", "a/b", "~/none"])
def test_paths_are_folders_never_entries(name):
    assert zoo.is_path(name)
    with pytest.raises(
        FileNotFoundError, match="No folder .*written by tfgen.zoo.save"
    ):
        zoo.load(name)


def _tiny_gan(**kwargs):
    return tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(4,), **kwargs)


def _same_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_bare_name_is_the_entry_not_a_folder_in_the_working_directory(
    tmp_path, monkeypatch
):
    # Issue 18, finding 7: ./dcgan_cifar/ (another model) was loaded instead.
    monkeypatch.chdir(tmp_path)
    zoo.save(_tiny_gan(), "dcgan_cifar")
    model = zoo.load("dcgan_cifar", weights=False)
    assert type(model).__name__ == "DCGAN" and model.image_shape == (32, 32, 3)
    # The folder loads when given as a path.
    for path in (
        "./dcgan_cifar",
        tmp_path / "dcgan_cifar",
        str(tmp_path / "dcgan_cifar"),
    ):
        assert type(zoo.load(path)).__name__ == "GAN"
    assert not zoo.is_path("dcgan_cifar") and zoo.is_path(pathlib.Path("dcgan_cifar"))


def test_unknown_name_lists_the_entries_and_how_to_load_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    zoo.save(_tiny_gan(), "mine")
    with pytest.raises(KeyError) as info:
        zoo.load("mine")
    message = info.value.args[0]
    assert "Unknown zoo model 'mine'" in message and "'dcgan_cifar'" in message
    assert "A folder 'mine' is in the working directory" in message
    assert "tfgen.zoo.load('./mine')" in message
    assert type(zoo.load("./mine")).__name__ == "GAN"


def test_folder_without_its_checksum_record_is_refused(tmp_path):
    model = _tiny_gan(seed=3)
    directory = tmp_path / "m"
    zoo.save(model, directory)
    (directory / "metadata.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no metadata.json.*verify=False"):
        zoo.load(directory)
    with pytest.raises(FileNotFoundError, match="has no metadata.json"):
        zoo.load(directory, weights=False)
    _same_weights(zoo.load(directory, verify=False), model)


def test_folder_with_a_weights_only_record_still_loads(tmp_path):
    # Folders saved before the config was covered (the shipped classifiers).
    model = _tiny_gan()
    directory = tmp_path / "m"
    zoo.save(model, directory)
    meta = json.loads((directory / "metadata.json").read_text())
    del meta["config_sha256"]
    (directory / "metadata.json").write_text(json.dumps(meta))
    _same_weights(zoo.load(directory), model)
    (directory / "metadata.json").write_text(json.dumps({"recipe": {}}))
    with pytest.raises(ValueError, match="must record the weights' sha256"):
        zoo.load(directory)


@pytest.mark.parametrize("file", ["config.json", "model.weights.h5"])
def test_a_flipped_bit_is_refused(tmp_path, file):
    directory = tmp_path / "m"
    zoo.save(_tiny_gan(seed=4), directory)
    data = bytearray((directory / file).read_bytes())
    # In the config, a digit of the seed: the JSON still parses, 4 -> 5.
    at = (
        data.index(b'"seed": 4') + len('"seed": ')
        if file == "config.json"
        else len(data) // 2
    )
    data[at] ^= 1
    (directory / file).write_bytes(bytes(data))
    with pytest.raises(zoo.ChecksumError, match=f"sha256 mismatch .*{file}"):
        zoo.load(directory)


def test_a_folder_mixing_two_saves_is_refused(tmp_path):
    # Issue 18, finding 8: a new config beside the old weights and record
    # loaded, checksum passing, as a model neither save wrote.
    zoo.save(_tiny_gan(seed=0), tmp_path / "old")
    zoo.save(_tiny_gan(seed=1), tmp_path / "new")
    shutil.copy(tmp_path / "new" / "config.json", tmp_path / "old" / "config.json")
    with pytest.raises(zoo.ChecksumError, match="config.json"):
        zoo.load(tmp_path / "old")


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    directory = tmp_path / "m"
    first, second = _tiny_gan(seed=0), _tiny_gan(seed=1)
    zoo.save(first, directory)
    (directory / "notes.txt").write_text("mine")
    with pytest.raises(
        FileExistsError, match="Expected a new or empty folder.*overwrite=True"
    ):
        zoo.save(second, directory)
    _same_weights(zoo.load(directory), first)
    zoo.save(second, directory, overwrite=True)
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    assert zoo.load(directory).seed == 1
    _same_weights(zoo.load(directory), second)
    # An empty folder is no model to lose; a file is not a folder.
    (tmp_path / "empty").mkdir()
    zoo.save(first, tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="which is a file"):
        zoo.save(first, tmp_path / "file", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "m"]


def test_an_interrupted_save_leaves_the_old_folder(tmp_path, monkeypatch):
    directory = tmp_path / "m"
    old = _tiny_gan(seed=0)
    zoo.save(old, directory)

    def fail(*args, **kwargs):
        raise RuntimeError("killed while writing the weights")

    # Killed after config.json is written, before the weights.
    with monkeypatch.context() as patch:
        patch.setattr(tfgen.GAN, "save_weights", fail)
        with pytest.raises(RuntimeError, match="killed"):
            zoo.save(_tiny_gan(seed=1), directory, overwrite=True)
    assert zoo.load(directory).seed == 0
    _same_weights(zoo.load(directory), old)

    # Killed as the new folder takes the old one's place.
    rename = os.rename

    def rename_fails_for_the_new_folder(src, dst):
        if ".partial-" in os.fspath(src):
            raise OSError("killed while renaming")
        rename(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", rename_fails_for_the_new_folder)
        with pytest.raises(OSError, match="killed while renaming"):
            zoo.save(_tiny_gan(seed=1), directory, overwrite=True)
    _same_weights(zoo.load(directory), old)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no partial folders left


def test_save_refuses_non_finite_weights(tmp_path):
    model = _tiny_gan()
    check_finite_weights(model)
    variable = model.weights[0]
    values = np.array(variable.numpy())
    values.flat[0] = np.nan
    values.flat[-1] = np.inf
    variable.assign(values)
    with pytest.raises(
        ValueError, match=rf"non-finite.*{variable.path} \(2 of {values.size} values\)"
    ):
        zoo.save(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


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


# ------------------------------------------------------- your own entries
@pytest.fixture
def my_zoo(tmp_path, monkeypatch):
    """An empty user zoo ($TFGEN_ZOO_DIR) and a tiny model saved as
    `tfgen.zoo.save` writes it (a model trained with plain `fit`)."""
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    model = tfgen.DCGAN(image_shape=(28, 28, 1), latent_dim=8, base_filters=4, seed=0)
    zoo.save(model, tmp_path / "fitted")
    return tmp_path


def _tree(root):
    return sorted(
        (
            os.path.relpath(os.path.join(d, f), root),
            os.path.getmtime(os.path.join(d, f)),
        )
        for d, _, names in os.walk(root)
        for f in names
    )


def test_export_makes_a_new_entry_in_the_user_zoo(my_zoo):
    entry = tfgen.recipes.export(my_zoo / "fitted", "my_tiny_dcgan", description="mine")
    assert entry.directory == str(my_zoo / "zoo" / "my_tiny_dcgan")
    assert zoo.user_dir() == str(my_zoo / "zoo")
    assert "my_tiny_dcgan" in zoo.list() and set(SHIPPED) <= set(zoo.list())
    found = zoo.get("my_tiny_dcgan")
    assert (found.model, found.description, found.metrics) == ("DCGAN", "mine", [])
    assert found.config["base_filters"] == 4
    assert found.training == {}  # no run.json: trained outside tfgen train
    saved = zoo.load(my_zoo / "fitted")
    np.testing.assert_array_equal(
        zoo.load("my_tiny_dcgan").sample(3, seed=2), saved.sample(3, seed=2)
    )
    assert (my_zoo / "zoo" / "my_tiny_dcgan" / "samples.png").is_file()


def test_export_refuses_to_replace_weights_unless_forced(my_zoo):
    tfgen.recipes.export(my_zoo / "fitted", "mine")
    weights = my_zoo / "zoo" / "mine" / zoo.WEIGHTS_FILE
    before = _tree(my_zoo / "zoo")
    with pytest.raises(FileExistsError, match="already has weights.*--force"):
        tfgen.recipes.export(my_zoo / "fitted", "mine")
    export = ["zoo", "export", str(my_zoo / "fitted"), "mine"]
    assert cli.main(export) == 1
    assert _tree(my_zoo / "zoo") == before
    # Same architecture, other weights: what a longer run gives.
    retrained = tfgen.DCGAN(
        image_shape=(28, 28, 1), latent_dim=8, base_filters=4, seed=0
    )
    retrained.set_weights([w * 0.5 for w in retrained.get_weights()])
    zoo.save(retrained, my_zoo / "retrained")
    assert cli.main(export[:2] + [str(my_zoo / "retrained"), "mine", "--force"]) == 0
    assert zoo.sha256(str(weights)) == zoo.get("mine").sha256
    np.testing.assert_array_equal(
        zoo.load("mine").sample(2, seed=0), retrained.sample(2, seed=0)
    )
    # Another architecture under the same name is refused even then.
    other = tfgen.DCGAN(image_shape=(28, 28, 1), latent_dim=8, base_filters=8)
    zoo.save(other, my_zoo / "other")
    with pytest.raises(ValueError, match=r"base_filters=8 \(entry: 4\)"):
        tfgen.recipes.export(my_zoo / "other", "mine", overwrite=True)


def test_export_never_shadows_a_shipped_name(my_zoo):
    with pytest.raises(FileExistsError, match="shipped zoo entry.*--zoo-dir"):
        tfgen.recipes.export(my_zoo / "fitted", "dcgan_mnist")
    assert not (my_zoo / "zoo").exists()
    # A user entry that takes a shipped name by hand is skipped, loudly.
    os.makedirs(my_zoo / "zoo" / "dcgan_mnist")
    entry = zoo.get("dcgan_mnist").to_json()
    entry["sha256"] = "0" * 64
    (my_zoo / "zoo" / "dcgan_mnist" / "entry.json").write_text(json.dumps(entry))
    with pytest.warns(UserWarning, match="Skipped the zoo entry 'dcgan_mnist'"):
        found = zoo.get("dcgan_mnist")
    assert found.directory == os.path.join(zoo.shipped_dir(), "dcgan_mnist")


def test_a_copy_of_the_shipped_zoo_is_no_shadow(tmp_path, monkeypatch, recwarn):
    shutil.copytree(zoo.shipped_dir(), tmp_path / "zoo", ignore=_only_entries)
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    assert set(SHIPPED) <= set(zoo.list())
    assert zoo.get("dcgan_mnist").directory.startswith(zoo.shipped_dir())
    assert not [w for w in recwarn if "Skipped the zoo entry" in str(w.message)]


def _only_entries(directory, names):
    return [n for n in names if n.endswith((".h5", ".npz", ".png"))]


def test_default_user_zoo_is_never_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv("TFGEN_ZOO_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert zoo.user_dir() == str(tmp_path / "data" / "tfgen" / "zoo")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_zoo = tmp_path / "home" / ".local" / "share" / "tfgen" / "zoo"
    assert zoo.user_dir() == str(home_zoo)
    model = tfgen.DCGAN(image_shape=(28, 28, 1), latent_dim=8, base_filters=4)
    zoo.save(model, tmp_path / "fitted")
    assert cli.main(["zoo", "export", str(tmp_path / "fitted"), "mine"]) == 0
    assert (home_zoo / "mine" / "entry.json").is_file()
    assert not os.path.exists(os.path.join(zoo.shipped_dir(), "mine"))


def test_register_an_entry_exported_elsewhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    model = tfgen.DCGAN(image_shape=(28, 28, 1), latent_dim=8, base_filters=4)
    zoo.save(model, tmp_path / "fitted")
    export = ["zoo", "export", str(tmp_path / "fitted"), "elsewhere_entry"]
    assert cli.main([*export, "--zoo-dir", str(tmp_path / "shelf")]) == 0
    assert "TFGEN_ZOO_DIR=" in capsys.readouterr().out  # says how to load it
    assert "elsewhere_entry" not in zoo.list()
    try:
        zoo.register(tmp_path / "shelf" / "elsewhere_entry")
        assert zoo.load("elsewhere_entry").image_shape == (28, 28, 1)
        with pytest.raises(ValueError, match="exists"):
            zoo.register(str(tmp_path / "shelf" / "elsewhere_entry" / "entry.json"))
    finally:
        zoo.unregister("elsewhere_entry")
    assert "elsewhere_entry" not in zoo.list()
    with pytest.raises(FileNotFoundError, match="Expected a zoo entry's folder"):
        zoo.register(tmp_path / "shelf")


def test_export_into_a_folder_that_is_not_an_entry(my_zoo):
    os.makedirs(my_zoo / "zoo" / "taken")
    (my_zoo / "zoo" / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a zoo entry.*notes.txt"):
        tfgen.recipes.export(my_zoo / "fitted", "taken")
    with pytest.raises(FileNotFoundError, match="Expected a finished training run"):
        tfgen.recipes.export(my_zoo / "nothing", "fresh")
    assert sorted(os.listdir(my_zoo / "zoo")) == ["taken"]
