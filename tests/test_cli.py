import argparse
import ast
import json
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from reliability_log import record
from torch_archive_writers import write_torch_zip

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


def test_unknown_name_is_a_clean_error(tmp_path, capsys):
    assert cli.main(["sample", "dcgan_cifr", "-o", str(tmp_path / "x.png")]) == 2
    assert "Did you mean 'dcgan_cifar'" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


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
        == 1  # the entry has weights: replaced only with --overwrite
    )
    assert json.loads(entry_json.read_text()) == data
    export = ["zoo", "export", run_dir, "dcgan_mnist", "--zoo-dir", str(zoo_dir)]
    assert cli.main([*export, "--overwrite"]) == 0
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


# ------------------------------------------------------- the error contract
@pytest.fixture(scope="module")
def world(tmp_path_factory, fake_data_dir):
    """Tiny saved models and good, bad and forged inputs; `out/` holds an
    existing file and a non-empty folder."""
    root = tmp_path_factory.mktemp("cli")
    gan = tfgen.ConditionalDCGAN(
        image_shape=(28, 28, 1), latent_dim=8, base_filters=4, num_classes=10
    )
    zoo.save(gan, str(root / "gan"))
    pixel = tfgen.PixelCNN(
        image_shape=(6, 6, 1), num_levels=2, filters=4, num_blocks=1, head_filters=8
    )
    zoo.save(pixel, str(root / "pixelcnn"))
    cycle = tfgen.CycleGAN(
        image_shape=(8, 8, 3), base_filters=4, num_blocks=1, discriminator_layers=2
    )
    zoo.save(cycle, str(root / "cyclegan"))
    shutil.copytree(root / "gan", root / "tampered")
    with open(root / "tampered" / zoo.WEIGHTS_FILE, "ab") as f:
        f.write(b"\0")
    shutil.copytree(root / "gan", root / "unrecorded")
    os.remove(root / "unrecorded" / zoo.METADATA_FILE)
    np.save(root / "levels.npy", np.zeros((2, 6, 6, 1), np.uint8))
    (root / "garbage.tfg").write_bytes(b"not a compressed file" * 4)

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    (root / "evil.pth").write_bytes(pickle.dumps({"w": Evil()}, protocol=2))
    whole = write_torch_zip(
        str(root / "whole.pt"), {"w": np.ones((64, 64), np.float32)}
    )
    with open(whole, "rb") as f:
        (root / "cut.pt").write_bytes(f.read()[:5000])
    entry = zoo.ZooEntry.from_json(
        os.path.join(zoo.artifacts_dir(), "dcgan_mnist", "entry.json")
    )
    os.makedirs(root / "zoo" / "dcgan_mnist")
    with open(root / "zoo" / "dcgan_mnist" / "entry.json", "w") as f:
        json.dump(entry.to_json(), f)
    os.makedirs(root / "out" / "folder")
    (root / "out" / "folder" / "kept.txt").write_text("mine")
    (root / "out" / "existing.png").write_bytes(b"mine")
    return {"root": str(root), "data": fake_data_dir}


EVAL = ["eval", "{root}/gan", "--reference", "mnist:train", "--data-dir", "{data}"]
EVAL += ["--num-samples", "4", "--num-reference", "4"]

# (argv, exit status, what the one-line message says); outputs go to out/.
INVALID = {
    "no command": ([], 2, "required: command"),
    "unknown command": (["smaple"], 2, "invalid choice: 'smaple'"),
    "zero images": (["sample", "{root}/gan", "-n", "0"], 2, "integer >= 1, got '0'"),
    "not a number": (["sample", "{root}/gan", "-n", "many"], 2, "integer, got 'many'"),
    "bad labels": (["sample", "{root}/gan", "--labels", "seven"], 2, "class ids"),
    "bad sampler": (["sample", "{root}/gan", "--method", "fast"], 2, "invalid choice"),
    "zero temperature": (
        ["sample", "{root}/gan", "--temperature", "0"],
        2,
        "number > 0, got '0'",
    ),
    "misspelled entry": (["sample", "dcgan_cifr"], 2, "Did you mean 'dcgan_cifar'"),
    "missing folder": (["sample", "./no_such_model"], 1, "No folder './no_such_model'"),
    "output exists": (
        ["sample", "{root}/gan", "-o", "existing.png"],
        1,
        "'existing.png' exists. Pass --overwrite",
    ),
    "output is a folder": (
        ["sample", "{root}/gan", "-o", "folder", "--overwrite"],
        1,
        "which is a folder",
    ),
    "CycleGAN does not sample": (
        ["sample", "{root}/cyclegan"],
        2,
        "does not sample from noise",
    ),
    "tampered weights": (["sample", "{root}/tampered"], 1, "sha256 mismatch"),
    "no sha256 record": (["sample", "{root}/unrecorded"], 1, "has no metadata.json"),
    "GAN cannot complete": (
        ["complete", "{root}/gan"],
        2,
        "not an autoregressive model",
    ),
    "indices past the data": (
        [
            "complete",
            "{root}/pixelcnn",
            "--data",
            "{root}/levels.npy",
            "--indices",
            "0,5",
        ],
        1,
        "levels.npy holds 2 images, at positions 0 to 1. Received: --indices up to 5",
    ),
    "indices and a count": (
        ["complete", "{root}/pixelcnn", "--indices", "1", "--num-images", "2"],
        2,
        "--indices chooses the images, so it takes no image count",
    ),
    "indices and shuffle": (
        ["reconstruct", "{root}/gan", "--indices", "1", "--shuffle"],
        2,
        "argument --shuffle: not allowed with argument --indices",
    ),
    "bad indices": (
        ["reconstruct", "{root}/gan", "--indices", "9:3"],
        2,
        "like 3,17,42 or 0:100:10",
    ),
    "PixelCNN cannot interpolate": (
        ["interpolate", "{root}/pixelcnn"],
        2,
        "no latent space",
    ),
    "GAN cannot reconstruct": (["reconstruct", "{root}/gan"], 2, "no encoder"),
    "GAN cannot translate": (
        ["translate", "{root}/gan", "{root}/levels.npy", "-o", "new"],
        2,
        "not an image-to-image translator",
    ),
    "missing input": (
        ["compress", "{root}/pixelcnn", "{root}/none.npy", "-o", "new.tfg"],
        1,
        "No such file",
    ),
    "compress into a folder": (
        ["compress", "{root}/pixelcnn", "{root}/levels.npy", "-o", "folder"],
        1,
        "which is a folder",
    ),
    "decompress garbage": (
        ["decompress", "{root}/garbage.tfg", "-o", "new.npy"],
        1,
        "Not a tfgen codec file",
    ),
    "decompress a missing file": (
        ["decompress", "{root}/none.tfg", "-o", "new.npy"],
        1,
        "No such file",
    ),
    "decompress into a file": (
        ["decompress", "{root}/garbage.tfg", "-o", "existing.png"],
        1,
        "which is a file",
    ),
    "malicious FID weights": (
        [*EVAL, "--weights", "{root}/evil.pth"],
        1,
        "Refusing to load the global",
    ),
    "truncated FID weights": ([*EVAL, "--weights", "{root}/cut.pt"], 1, "truncated"),
    "unknown metric": ([*EVAL, "--metric", "fidd"], 2, "Unknown metric(s) ['fidd']"),
    "bad sample argument": ([*EVAL, "--sample-arg", "use_ema"], 2, "KEY=VALUE"),
    "eval json is a folder": ([*EVAL, "--json", "folder"], 1, "which is a folder"),
    "train without a recipe": (["train"], 2, "Expected a zoo NAME"),
    "train config not JSON": (
        ["train", "--model", "GAN", "--dataset", "mnist", "--config", "[1,"],
        2,
        "invalid JSON",
    ),
    "zoo info of nothing": (["zoo", "info", "nope"], 2, "Unknown zoo model 'nope'"),
    "export over shipped weights": (
        ["zoo", "export", "./no_run", "dcgan_mnist"],
        1,
        "already has weights",
    ),
    "export without a run": (
        ["zoo", "export", "./no_run", "dcgan_mnist", "--zoo-dir", "{root}/zoo"],
        1,
        "Expected a finished training run",
    ),
    "classifier into a full folder": (
        ["classifier", "train", "mnist", "-o", "folder"],
        1,
        "'folder' exists. Pass --overwrite",
    ),
}


def _tree(root):
    return sorted(
        os.path.relpath(os.path.join(d, name), root)
        for d, dirs, names in os.walk(root)
        for name in dirs + names
    )


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_invocations_fail_cleanly(case, world, monkeypatch, capsys):
    argv, status, says = INVALID[case]
    argv = [a.format(**world) for a in argv]
    monkeypatch.chdir(os.path.join(world["root"], "out"))
    monkeypatch.setenv("TFGEN_CACHE_DIR", os.path.join(world["root"], "out", ".cache"))
    before = _tree(world["root"])
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    record("invalid invocation", f"exit {code}", exit_code=code)
    assert code == status, err
    lines = [line for line in err.splitlines() if line.startswith("tfgen")]
    assert len(lines) == 1 and lines[0].startswith("tfgen: error: "), err
    assert says in lines[0]
    assert "Traceback" not in err
    assert _tree(world["root"]) == before  # nothing written, not even a part
    with open(os.path.join(world["root"], "out", "existing.png"), "rb") as f:
        assert f.read() == b"mine"


def test_debug_shows_the_traceback(world):
    with pytest.raises(FileNotFoundError, match="No folder"):
        cli.main(["--debug", "sample", "./no_such_model"])
    with pytest.raises(FileNotFoundError, match="No folder"):
        cli.main(["sample", "./no_such_model", "--debug"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"tfgen {tfgen.__version__}"


def test_overwrite_replaces_an_output(world, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"old")
    args = ["sample", os.path.join(world["root"], "gan"), "-n", "4", "-o", str(grid)]
    assert cli.main(args) == 1
    assert cli.main([*args, "--overwrite"]) == 0
    with Image.open(grid) as im:
        assert im.format == "PNG"
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]


def test_every_option_has_help():
    """Every option, argument and subcommand of every command says what it
    is (not only its default), as `tfgen CMD --help` shows it."""

    def walk(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                # The one-line help of each subcommand in its parent's list.
                for listed in action._choices_actions:
                    yield parser.prog, listed
                for child in action.choices.values():
                    yield from walk(child)
            elif action.dest != "help":
                yield parser.prog, action

    actions = list(walk(cli.build_parser()))
    assert len(actions) > 150  # every command's, subcommands included
    missing = [
        f"{prog} {a.dest}"
        for prog, a in actions
        if not (a.help or "").strip() or a.help == argparse.SUPPRESS
    ]
    assert not missing
    only_default = [
        f"{prog} {a.dest}: {a.help!r}"
        for prog, a in actions
        if a.help.lower().startswith("default")
    ]
    assert not only_default
    for command in sorted(cli.build_parser()._subparsers._group_actions[0].choices):
        with pytest.raises(SystemExit) as exit:
            cli.main([command, "--help"])
        assert exit.value.code == 0


def test_parsing_needs_no_tensorflow():
    # The command line's own imports are light; commands import what they use.
    tree = ast.parse(open(cli.__file__).read())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            top |= {f"{node.module}.{alias.name}" for alias in node.names}
    heavy = {
        m
        for m in top
        if re.match(r"(numpy|keras|tensorflow|tfgen\.(?!files|__version__))", m)
    }
    assert not heavy, heavy


def test_the_command_starts_without_tensorflow():
    # The console script imports the package before its parser runs; there
    # the submodules load on first use, so `tfgen --help` needs no TensorFlow.
    code = (
        "import sys; sys.argv[0] = '/venv/bin/tfgen'; import tfgen.cli; "
        "tfgen.cli.build_parser().format_help(); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    # A library import stays eager, so Keras finds every model class.
    code = "import sys, tfgen; print('tfgen.models.pixel_cnn' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("True")


def test_verbose_leaves_tensorflow_at_its_own_log_level(monkeypatch):
    # The level TensorFlow reads once, when imported: set before that import.
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's own
    assert cli._tensorflow_log_level() == "1"
    assert cli._tensorflow_log_level(verbose=True) == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert cli._tensorflow_log_level(verbose=True) == "0"  # TF's default
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert cli._tensorflow_log_level() == "2" == os.environ["TF_CPP_MIN_LOG_LEVEL"]
    # `tfgen --verbose` reaches the start of TensorFlow; `train --verbose`
    # stays Keras' fit verbosity.
    started = []
    monkeypatch.setattr(cli, "_start_tensorflow", started.append)
    assert cli.main(["--verbose", "zoo", "info", "dcgan_mnist"]) == 0
    assert cli.main(["zoo", "info", "dcgan_mnist"]) == 0
    assert started == [True, False]
    args = cli.build_parser().parse_args(["--verbose", "train", "x", "--verbose", "2"])
    assert args.tensorflow_log and args.verbose == "2"


def test_zoo_list_rounds_metrics_and_names_their_protocol(capsys):
    assert cli.main(["zoo", "list", "dcgan_cifar"]) == 0
    out = capsys.readouterr().out
    # Two FIDs of one model under two protocols, told apart, 4 digits each.
    assert "fid[50k vs cifar10:train]=36.52;" in out
    assert "fid[10k vs cifar10:test]=40.53;" in out


# --------------------------------------------- which dataset images a verb shows
def _chosen(*options, total=100):
    args = cli.build_parser().parse_args(["reconstruct", "model", *options])
    index, how = cli._chosen(total, args.num, 32, args, "the data")
    return index.tolist(), how


def test_images_are_evenly_spaced_by_default_or_chosen():
    """Issue 22: reconstruct showed the first images, all zeros on a split
    sorted by class."""
    assert _chosen() == ([i * 100 // 32 for i in range(32)], "evenly spaced")
    assert _chosen("-n", "4") == ([0, 25, 50, 75], "evenly spaced")
    assert _chosen("-n", "50", total=10)[0] == list(range(10))
    assert _chosen("--indices", "3,17,90:100:5") == (
        [3, 17, 90, 95],
        "chosen by --indices",
    )
    assert _chosen("--offset", "10", "-n", "3") == ([10, 11, 12], "from position 10")
    # --shuffle alone draws with --seed; --shuffle SEED with SEED.
    drawn, how = _chosen("--shuffle", "--seed", "3", "-n", "8", total=50)
    assert (drawn, how) == _chosen("--shuffle", "3", "-n", "8", total=50)
    assert how == "at random, seed 3" and len(set(drawn)) == 8
    assert drawn != _chosen("--shuffle", "-n", "8", total=50)[0]
    # The order tfgen.data.load(shuffle=True) gives, which drew the README's
    # `tfgen complete --shuffle 0` figures.
    x = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
    batch = next(iter(tfgen.data.load(x, shuffle=True, seed=0, batch_size=8)))
    first = np.rint(np.asarray(batch).reshape(-1) * 255).astype(int).tolist()
    assert _chosen("--shuffle", "0", "-n", "8", total=50)[0] == first
    with pytest.raises(ValueError, match="holds 100 images, at positions 0 to 99"):
        _chosen("--indices", "5,100")
    with pytest.raises(ValueError, match="Expected --offset below 100"):
        _chosen("--offset", "100")
    for bad in (["--indices", "5:2"], ["--indices", "a"], ["--indices", "-1"]):
        with pytest.raises(SystemExit):
            _chosen(*bad)
    with pytest.raises(SystemExit):  # one way of choosing at a time
        _chosen("--indices", "1", "--shuffle")


def _tiles(path, columns, size):
    """The (rows, columns) tiles of a grid PNG written with --scale 1."""
    with Image.open(path) as im:
        grid = np.asarray(im)
    rows = (grid.shape[0] - 2) // (size + 2)
    return [
        [
            grid[2 + r * (size + 2) :][:size, 2 + c * (size + 2) :][:, :size]
            for c in range(columns)
        ]
        for r in range(rows)
    ]


def test_reconstruct_and_complete_show_the_chosen_images(world, tmp_path, capsys):
    vae = str(tmp_path / "vae")
    model = tfgen.VAE(
        (6, 6, 1), likelihood="categorical", latent_dim=2, hidden_units=(8,)
    )
    zoo.save(model, vae)
    # Four classes of ten, stored sorted by class; image i is all 6 * i.
    data = str(tmp_path / "sorted.npy")
    np.save(data, np.repeat(6 * np.arange(40, dtype=np.uint8), 36).reshape(40, 6, 6))
    base = ["--data", data, "--scale", "1", "--nrow", "4"]
    out = str(tmp_path / "recon.png")
    assert cli.main(["reconstruct", vae, *base, "-n", "4", "-o", out]) == 0
    assert "4 images of" in capsys.readouterr().out
    originals = _tiles(out, 4, 6)[0]
    assert [int(t.mean()) for t in originals] == [0, 60, 120, 180]  # one per class
    out = str(tmp_path / "picked.png")
    assert cli.main(["reconstruct", vae, *base, "--indices", "3,7", "-o", out]) == 0
    assert [int(t.mean()) for t in _tiles(out, 2, 6)[0][:2]] == [18, 42]
    # complete: rows of occluded, completion, original.
    binary = np.zeros((6, 6, 6), np.uint8)
    binary[np.arange(6), 0, np.arange(6)] = 255  # image i: top row pixel i
    data = str(tmp_path / "binary.npy")
    np.save(data, binary)
    out = str(tmp_path / "completions.png")
    args = ["complete", f"{world['root']}/pixelcnn", "--data", data, "--scale", "1"]
    args += ["--num-samples", "1", "--indices", "2,5", "-o", out]
    assert cli.main(args) == 0
    assert "images chosen by --indices" in capsys.readouterr().out
    shown = [row[2] for row in _tiles(out, 3, 6)]
    np.testing.assert_array_equal(shown, binary[[2, 5]])
