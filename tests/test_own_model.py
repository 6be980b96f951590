"""The README's "Add your own model" walkthrough, run as written: a model
class of your own registered, trained, exported into your zoo folder and
loaded by name, in Python and through the command line, on 16 random images
(one epoch of one step each).
"""

import os
import re
import shlex
import sys

import numpy as np
import pytest
from PIL import Image

from tfgen import cli, recipes, zoo

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def _walkthrough():
    """The (language, code) blocks of the README's section, in order."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Add your own model\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(python|bash)\n(.*?)```", section, re.S)


def _commands(block):
    """Each line of a bash block as argv (no line continuations there)."""
    return [shlex.split(line, comments=True) for line in block.splitlines() if line]


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A working directory with `my_images.npy` and an empty zoo folder
    (`$TFGEN_ZOO_DIR`), as a user starts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFGEN_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.syspath_prepend(str(tmp_path))
    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "my_images.npy", images)
    yield tmp_path
    sys.modules.pop("my_models", None)


def test_the_readme_walkthrough_runs_as_written(user, capsys, monkeypatch):
    blocks = _walkthrough()
    assert [kind for kind, _ in blocks] == ["python", "python", "bash", "bash"]
    module, python_steps, tfgen_steps, own_class_steps = (code for _, code in blocks)

    # Register: the class in its own module, found by name once imported.
    assert module.startswith("# my_models.py\n")
    (user / "my_models.py").write_text(module)

    # Train, export, load in Python.
    scope = {}
    exec(compile(python_steps, "README: Add your own model", "exec"), scope)
    assert scope["images"].shape == (16, 28, 28, 1)
    entry = zoo.get("tiny_gan")
    assert entry.directory == str(user / "zoo" / "tiny_gan")
    assert entry.sha256 == zoo.sha256(entry.weights_path)
    assert (user / "zoo" / "tiny_gan" / "samples.png").is_file()
    assert entry.training["epochs_trained"] == 1 and entry.metrics == []
    again = zoo.load("tiny_gan").sample(4, seed=1)
    np.testing.assert_array_equal(again, scope["model"].sample(4, seed=1))

    # The same steps with the tfgen command.
    for argv in _commands(tfgen_steps):
        assert argv[0] == "tfgen"
        assert cli.main(argv[1:]) == 0, argv
    out = capsys.readouterr().out
    assert "my_dcgan" in out and "exported my_dcgan to" in out
    assert set(zoo.list("my_*")) == {"my_dcgan"}
    assert set(zoo.list()) >= {"tiny_gan", "my_dcgan", "dcgan_cifar"}
    with Image.open(user / "my_dcgan.png") as grid:
        assert grid.size[0] > 4 * 28
    # The entry records its recipe: `tfgen train my_dcgan` retrains it.
    spec = recipes.from_zoo("my_dcgan")
    assert (spec.model, spec.dataset["name"], spec.epochs) == (
        "DCGAN",
        "my_images.npy",
        1,
    )
    assert spec.config["base_filters"] == 16
    assert zoo.get("my_dcgan").description == "DCGAN on my images"

    # A class of your own through the command line: the README's `python -c`
    # line, its code run here as that process would run it.
    (argv,) = _commands(own_class_steps)
    assert argv[:2] == ["python", "-c"]
    monkeypatch.setattr(sys, "argv", ["-c", *argv[3:]])
    with pytest.raises(SystemExit) as done:
        exec(compile(argv[2], "python -c", "exec"), {})
    assert done.value.code == 0
    assert (user / "tiny_gan.png").is_file()
    # Nothing was written outside the user's folders.
    assert sorted(os.listdir(user / "zoo")) == ["my_dcgan", "tiny_gan"]
