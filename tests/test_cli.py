import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

import tfgen
from tfgen import cli, zoo


def test_zoo_list_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "tfgen.cli", "zoo", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in (
        "gan_mnist",
        "dcgan_mnist",
        "dcgan_fashion_mnist",
        "dcgan_cifar",
        "wgan_gp_cifar",
        "cdcgan_mnist",
    ):
        assert name in out.stdout


def test_sample_and_interpolate_write_pngs(tmp_path, capsys):
    model = tfgen.ConditionalDCGAN(
        image_shape=(28, 28, 1), latent_dim=8, base_filters=4, num_classes=10
    )
    zoo.save(model, str(tmp_path / "saved"))
    grid = tmp_path / "grid.png"
    assert (
        cli.main(
            [
                "sample",
                str(tmp_path / "saved"),
                "-n",
                "9",
                "-o",
                str(grid),
                "--labels",
                "7",
                "--scale",
                "1",
            ]
        )
        == 0
    )
    with Image.open(grid) as im:
        assert im.size == (3 * 30 + 2, 3 * 30 + 2)
    row = tmp_path / "row.png"
    assert (
        cli.main(
            [
                "interpolate",
                str(tmp_path / "saved"),
                "--steps",
                "5",
                "--rows",
                "2",
                "-o",
                str(row),
            ]
        )
        == 0
    )
    assert row.is_file()


def test_unknown_name_is_a_clean_error(capsys):
    assert cli.main(["sample", "dcgan_cifr", "-o", "/dev/null"]) == 2
    assert "Did you mean 'dcgan_cifar'" in capsys.readouterr().err


def test_train_recipe_smoke_and_export(tmp_path, fake_data_dir):
    run_dir = str(tmp_path / "run")
    args = [
        "train", "dcgan_mnist", "--data-dir", fake_data_dir, "--epochs", "1",
        "--steps-per-epoch", "2", "--batch-size", "8", "--config", '{"base_filters": 4}',
        "-o", run_dir, "--verbose", "0", "--precision", "float32",
    ]  # fmt: skip
    assert cli.main(args) == 0
    assert os.path.isfile(os.path.join(run_dir, "final", "model.weights.h5"))
    assert os.path.isfile(os.path.join(run_dir, "samples", "epoch_0001.png"))
    run = json.load(open(os.path.join(run_dir, "run.json")))
    assert run["recipe"]["config"]["base_filters"] == 4
    # Export into a copy of the zoo, as `tfgen zoo export` does after a real run.
    zoo_dir = tmp_path / "zoo"
    shutil.copytree(zoo.artifacts_dir(), zoo_dir)
    entry_json = zoo_dir / "dcgan_mnist" / "entry.json"
    data = json.loads(entry_json.read_text())
    data["config"]["base_filters"] = 4
    assert data["metrics"]
    entry_json.write_text(json.dumps(data))
    assert (
        cli.main(["zoo", "export", run_dir, "dcgan_mnist", "--zoo-dir", str(zoo_dir)])
        == 0
    )
    exported = zoo.ZooEntry.from_json(str(entry_json))
    assert exported.sha256 == zoo.sha256(exported.weights_path)
    assert exported.training["epochs_trained"] == 1
    assert exported.metrics == []  # measured on the weights it replaced
    assert (zoo_dir / "dcgan_mnist" / "samples.png").is_file()


def test_train_model_on_user_array(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "mine.npy", images)
    args = [
        "train", "--model", "GAN", "--dataset", str(tmp_path / "mine.npy"),
        "--config", '{"image_shape": [28, 28, 1], "hidden_units": [8]}',
        "--epochs", "1", "--batch-size", "8", "-o", str(tmp_path / "run"), "--verbose", "0",
    ]  # fmt: skip
    assert cli.main(args) == 0
    assert os.path.isfile(tmp_path / "run" / "final" / "config.json")
