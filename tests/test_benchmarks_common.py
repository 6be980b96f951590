"""benchmarks/common.py: the hardware line, entry selection and its errors,
and the check that refuses a tfgen other than the checkout's."""

import importlib.util
import json
import os
import re

import pytest

from tfgen import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def common():
    # Loaded by path under its own name: no sys.path edit outlives the test.
    path = os.path.join(ROOT, "benchmarks", "common.py")
    spec = importlib.util.spec_from_file_location("benchmarks_common", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry(name, weights=True):
    return zoo.ZooEntry(
        name=name, model="DCGAN", config={}, weights="w.h5" if weights else None
    )


def _why_not(entry):
    return None if entry.weights else "has no weights"


def test_paths_are_the_checkout(common):
    assert os.path.realpath(common.REPO_ROOT) == os.path.realpath(ROOT)
    assert common.RESULTS == os.path.join(common.REPO_ROOT, "benchmarks", "RESULTS.md")
    assert os.path.isfile(common.RESULTS) and os.path.isdir(common.RECORDS_DIR)


def test_hardware_line(common):
    line = common.hardware_line()
    pattern = (
        r"\d+ x .+(, no GPU|, GPUs: .+); "
        r"TensorFlow \S+, Keras \S+, Python \d+\.\d+\.\d+"
    )
    assert re.fullmatch(pattern, line), line
    assert re.fullmatch(r"load average at start: (unknown|[\d. ]+)", common.load_line())


def test_entry_selection(common):
    entries = [_entry("vae_b"), _entry("gan_a"), _entry("bare", weights=False)]
    selected, skipped = common.select_entries(entries, [], _why_not, "entry")
    assert [e.name for e in selected] == ["gan_a", "vae_b"]
    assert [(e.name, why) for e, why in skipped] == [("bare", "has no weights")]
    patterns = common.entry_patterns(["vae_*,gan_a", " x "])
    assert patterns == ["vae_*", "gan_a", "x"]
    selected, _ = common.select_entries(entries, ["vae_*"], _why_not, "entry")
    assert [e.name for e in selected] == ["vae_b"]


def test_entry_selection_errors_name_the_known_entries(common):
    entries = [_entry("gan_a"), _entry("bare", weights=False)]
    known = r"Expected names among \['gan_a'\]"
    with pytest.raises(
        SystemExit, match=r"--entries \['nope\*'\] match no X\. " + known
    ):
        common.select_entries(entries, ["gan_a", "nope*"], _why_not, "X")
    with pytest.raises(SystemExit, match="--entries bare: bare has no weights"):
        common.select_entries(entries, ["bare"], _why_not, "X")
    with pytest.raises(SystemExit, match=r"There is no X\. Expected names among \[\]"):
        common.select_entries(entries[1:], [], _why_not, "X")


def test_zoo_entries_reads_a_zoo_folder(common, tmp_path):
    (tmp_path / "gan_a").mkdir()
    (tmp_path / "notes").mkdir()  # no entry.json: not an entry
    entry = _entry("gan_a").to_json()
    (tmp_path / "gan_a" / "entry.json").write_text(json.dumps(entry))
    (found,) = common.zoo_entries(str(tmp_path))
    assert found.name == "gan_a" and found.directory == str(tmp_path / "gan_a")


def test_checkout_check_refuses_a_foreign_tfgen(common, tmp_path):
    assert common.foreign_tfgen(os.path.join(ROOT, "tfgen", "__init__.py")) is None
    # A folder beside tfgen/ whose name starts the same is another copy.
    for foreign in (tmp_path / "tfgen" / "__init__.py", ROOT + "/tfgen_old/x.py"):
        with pytest.raises(SystemExit) as error:
            common.require_checkout_tfgen(str(foreign))
        message = str(error.value)
        assert "Expected this checkout's tfgen" in message
        assert os.path.realpath(foreign) in message
        assert "pip install -e . --config-settings editable_mode=compat" in message
