"""`tfgen modify` (CVAE transfer, VAE attribute edits, CycleGAN translation)
and `tfgen sample --truncation`, in process on tiny saved models."""

import numpy as np
import pytest
from PIL import Image

import tfgen
from tfgen import cli, zoo

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("modify")
    zoo.save(
        tfgen.CVAE(SHAPE, num_classes=3, latent_dim=2, hidden_units=(8,), seed=0),
        str(root / "cvae"),
    )
    zoo.save(
        tfgen.VAE(SHAPE, latent_dim=2, hidden_units=(8,), seed=0), str(root / "vae")
    )
    zoo.save(
        tfgen.DCGAN((8, 8, 1), latent_dim=4, base_filters=4, seed=0),
        str(root / "gan"),
    )
    zoo.save(
        tfgen.CycleGAN(
            image_shape=(8, 8, 3), base_filters=4, num_blocks=1, discriminator_layers=2
        ),
        str(root / "cyclegan"),
    )
    rng = np.random.default_rng(0)
    pixels = (rng.random((2, 30, *SHAPE)) < 0.4).astype("uint8") * 255
    labels = np.arange(30) % 3
    np.savez(
        root / "digits.npz",
        x_train=pixels[0],
        y_train=labels,
        x_test=pixels[1],
        y_test=labels,
    )
    np.save(root / "unlabelled.npy", pixels[1])
    np.save(root / "colour.npy", (rng.random((3, 8, 8, 3)) * 255).astype("uint8"))
    return root


def _grid(path):
    return np.asarray(Image.open(path))


def _modify(saved, name, *args):
    return cli.main(["modify", str(saved / name), *args])


def test_to_class_writes_one_column_per_target(saved, tmp_path):
    out = tmp_path / "transfer.png"
    data = ["--data", str(saved / "digits.npz"), "--num-images", "4", "--scale", "1"]
    assert _modify(saved, "cvae", "--to-class", "0,1,2", *data, "-o", str(out)) == 0
    # 4 rows of (original, 3 classes): 8-pixel tiles with 2-pixel padding.
    assert _grid(out).shape == (4 * 10 + 2, 4 * 10 + 2)
    # The columns are the model's transfers of the chosen images.
    model = zoo.load(str(saved / "cvae"))
    x = np.load(saved / "digits.npz")["x_test"]
    index = np.arange(4) * 30 // 4  # evenly spaced
    expected = model.transfer(x[index] / 255.0, index % 3, 2)
    tile = _grid(out)[2:10, 2 + 3 * 10 : 10 + 3 * 10]
    np.testing.assert_array_equal(tile, tfgen.images.to_uint8(expected[0, ..., 0]))
    assert _modify(saved, "cvae", "--to-class", "1", *data, "-o", str(out)) == 1
    assert (
        _modify(saved, "cvae", "--to-class", "5", *data, "-o", str(tmp_path / "x.png"))
        == 1
    )


def test_to_class_on_unlabelled_data_needs_labels(saved, tmp_path, capsys):
    data = ["--data", str(saved / "unlabelled.npy"), "--num-images", "2"]
    out = str(tmp_path / "t.png")
    assert _modify(saved, "cvae", "--to-class", "1", *data, "-o", out) == 2
    assert "Expected --labels" in capsys.readouterr().err
    assert (
        _modify(saved, "cvae", "--to-class", "1", *data, "--labels", "0,2", "-o", out)
        == 0
    )


def test_attribute_edit_of_a_vae(saved, tmp_path, capsys):
    out = tmp_path / "edit.png"
    args = ["--attribute", "0:2", "--data", str(saved / "digits.npz"), "--scale", "1"]
    assert _modify(saved, "vae", *args, "--num-images", "3", "-o", str(out)) == 0
    assert _grid(out).shape == (3 * 10 + 2, 2 * 10 + 2)
    assert "moved towards 2" in capsys.readouterr().out
    # Unlabelled data and a CVAE are refused; so is a VAE with --to-class.
    bad = ["--attribute", "0:2", "--data", str(saved / "unlabelled.npy")]
    assert _modify(saved, "vae", *bad, "-o", str(tmp_path / "a.png")) == 2
    assert "has no labels" in capsys.readouterr().err
    assert _modify(saved, "cvae", *args, "-o", str(tmp_path / "b.png")) == 2
    assert "--to-class, not --attribute" in capsys.readouterr().err
    assert _modify(saved, "vae", "--to-class", "1", "-o", str(tmp_path / "c.png")) == 2
    assert "is for a CVAE" in capsys.readouterr().err


def test_cycle_gan_goes_through_translate(saved, tmp_path, capsys):
    out = tmp_path / "translated"
    assert _modify(saved, "cyclegan", str(saved / "colour.npy"), "-o", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "00000.png",
        "00001.png",
        "00002.png",
        "grid.png",
    ]
    assert "translated 3 image(s) a2b" in capsys.readouterr().out
    assert _modify(saved, "cyclegan", "--to-class", "1", "-o", str(tmp_path / "x")) == 2


def _parse_error(saved, *args):
    with pytest.raises(SystemExit) as exit:
        _modify(saved, *args)
    return exit.value.code


def test_usage_errors(saved, capsys):
    assert _modify(saved, "cvae") == 2
    assert "Expected --to-class K" in capsys.readouterr().err
    assert _parse_error(saved, "cvae", "--attribute", "3:3") == 2
    assert "two different class ids" in capsys.readouterr().err
    assert _parse_error(saved, "cvae", "--to-class", "1", "--attribute", "0:1") == 2
    assert "not allowed with" in capsys.readouterr().err


def test_sample_truncation(saved, tmp_path, capsys):
    out = str(tmp_path / "s.png")
    base = ["sample", str(saved / "gan"), "-n", "4", "-o", out]
    assert cli.main([*base, "--truncation", "0.5"]) == 0
    assert (
        cli.main(
            [
                "sample",
                str(saved / "vae"),
                "-n",
                "2",
                "-o",
                out,
                "--overwrite",
                "--truncation",
                "0.5",
            ]
        )
        == 2
    )
    assert "has no truncation trick" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        cli.main([*base, "--overwrite", "--truncation", "0"])
    assert exit.value.code == 2
