"""benchmarks/common.py: the hardware line, entry selection and its errors,
the check that refuses a tfgen other than the checkout's, and the absl flags
the scripts share."""

import importlib.util
import json
import os
import re

import benchmark_scripts
import pytest
from absl import app, flags

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


def test_script_flags_keep_their_argparse_spellings(common):
    benchmark_scripts.load("bits_per_dim")
    flags.FLAGS.unparse_flags()
    argv = ["--batch-size", "8", "--no-write", "--entries", "a,b", "c", "--entries=d"]
    rest = flags.FLAGS(["bits_per_dim.py", *argv])
    args = common.script_args("bits_per_dim_benchmark", rest)
    assert args.batch_size == 8 and args.no_write and args.limit is None
    assert args.output == common.RESULTS and args.readme == common.README
    # `--entries a,b c`: names after the flags are more entries.
    assert common.entry_patterns(args.entries) == ["a", "b", "d", "c"]
    assert common.command_line("bits_per_dim_benchmark", rest) == (
        "python3 benchmarks/bits_per_dim.py --entries=a,b --entries=d "
        "--batch-size=8 --no-write c"
    )


def test_sampling_speed_flags_keep_their_argparse_names_and_defaults(common):
    script = benchmark_scripts.load("sampling_speed")
    flags.FLAGS.unparse_flags()
    rest = flags.FLAGS(["sampling_speed.py"])
    assert vars(common.script_args("sampling_speed_benchmark", rest)) == {
        "mnist_entry": "pixelcnn_mnist",
        "mnist_n": 16,
        "cifar_n": 4,
        "cifar_config": json.dumps(script.DEFAULT_CIFAR),
        "repeats": 3,
        "keras_io_rows_mnist": 28,
        "keras_io_rows_cifar": 4,
        "seed": 0,
        "parts": ["pixelcnn", "pixelrnn"],
        "rnn_entries": ["row_lstm_mnist", "diagonal_bilstm_mnist"],
        "rnn_n": 16,
        "rnn_repeats": 1,
        "output": common.RESULTS,
        "readme": common.README,
        "no_write": False,
    }
    # A part it does not know is a usage error before any model loads.
    with pytest.raises(app.UsageError, match=r"Received: --parts=\[.*'nope'\]") as e:
        benchmark_scripts.run(script, ["--parts", "pixelrnn,nope", "--no-write"])
    assert e.value.exitcode == 2


def test_script_without_entries_refuses_arguments(common):
    flags.FLAGS.unparse_flags()
    rest = flags.FLAGS(["bits_per_dim.py", "--no-write"])
    with pytest.raises(app.UsageError, match=r"Received: arguments \['x'\]") as error:
        # As a script without --entries sees a stray word after its flags.
        common.script_args("no_such_script", [*rest, "x"])
    assert error.value.exitcode == 2  # a usage error, as argparse exited


def test_scripts_run_in_process_with_their_flags(capsys):
    # The VAE table rebuilt from the zoo's records: no model is loaded.
    script = benchmark_scripts.load("vae_likelihood")
    assert benchmark_scripts.run(script, ["--table-only", "--no-write"]) is None
    assert (
        "`python3 benchmarks/vae_likelihood.py --table-only`" in capsys.readouterr().out
    )
    script = benchmark_scripts.load("bits_per_dim")
    with pytest.raises(SystemExit, match=r"--entries \['nope\*'\] match no auto"):
        benchmark_scripts.run(script, ["--entries", "nope*", "--no-write"])
