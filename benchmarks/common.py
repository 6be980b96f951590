"""What the benchmark scripts share: paths, the checkout check, the hardware
line, the flags several scripts take and the selection of zoo entries.

The scripts run as `python3 benchmarks/X.py`, so Python puts benchmarks/
first on sys.path and `import common` finds this file; benchmarks/ is no
package. tfgen is imported as installed, never from an edited sys.path: a
script that writes records or RESULTS.md calls `require_checkout_tfgen()`
first, so that it refuses to measure another copy of tfgen and its zoo.

The scripts parse their command lines with absl (`absl.app.run(main)`, flags
from `absl.flags`, `--helpfull` lists them all). Flag names keep their
dashed spellings (`--batch-size`, `--no-write`); `script_args` gives a
script its values as attributes with underscores (`args.batch_size`).
"""

import fnmatch
import os
import platform
import shlex
import sys
import types

from absl import app, flags

# The define_* functions below define flags for the script that calls them:
# absl then lists them under that script (its key flags, --helpshort), not here.
flags.disclaim_key_flags()

# The scripts import this module before TensorFlow and Keras: these must be
# set before those load (quiet C++ logs; Keras on TensorFlow).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

#: The checkout these scripts live in.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_DIR = os.path.join(REPO_ROOT, "benchmarks")
#: The Markdown file whose marked sections the scripts rewrite.
RESULTS = os.path.join(BENCHMARKS_DIR, "RESULTS.md")
#: Records of single runs kept beside the tables (`tfgen eval --json` output).
RECORDS_DIR = os.path.join(BENCHMARKS_DIR, "records")
README = os.path.join(REPO_ROOT, "README.md")
#: The tfgen package of this checkout: the one the scripts must measure.
CHECKOUT_TFGEN = os.path.join(REPO_ROOT, "tfgen")
INSTALL_COMMAND = "pip install -e . --config-settings editable_mode=compat"


# ------------------------------------------------------------ the checkout
def foreign_tfgen(path):
    """None when `path` (a `tfgen.__file__`) lies in this checkout's tfgen/,
    else the message that says why a script refuses it and how to fix it."""
    checkout = os.path.realpath(CHECKOUT_TFGEN)
    found = os.path.realpath(path)
    if os.path.commonpath([checkout, found]) == checkout:
        return None
    return (
        f"Expected this checkout's tfgen ({checkout}). Received: tfgen from "
        f"{found}, another copy, whose zoo and code these numbers would not be "
        f"of. Install the checkout in place, from {REPO_ROOT}: "
        f"`{INSTALL_COMMAND}`."
    )


def require_checkout_tfgen(path=None):
    """Raises SystemExit unless the imported tfgen (or the one at `path`) is
    this checkout's. Scripts call it before they measure what they write."""
    if path is None:
        import tfgen

        path = tfgen.__file__
    message = foreign_tfgen(path)
    if message:
        raise SystemExit(message)


# ---------------------------------------------------------------- hardware
def hardware_line():
    """One line on where a number was measured: tfgen's hardware summary
    (cores, CPU model, cores used when pinned, GPUs), then the software,
    e.g. '2 x AMD EPYC 7B13, no GPU; TensorFlow 2.21.0, Keras 3.15.0,
    Python 3.11.7'."""
    import keras
    import tensorflow as tf

    import tfgen

    return (
        f"{tfgen.reporting.hardware_summary()}; TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, Python {platform.python_version()}"
    )


def load_line():
    """'load average at start: 1.02 0.98 0.75', the machine's load now: the
    scripts time on a shared CPU."""
    try:
        return "load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # no load average on this platform
        return "load average at start: unknown"


# ------------------------------------------------------------------- flags
def define_output_flags(readme=None):
    """`--output` (the RESULTS.md whose marked section a script replaces),
    `--readme` where the script also writes a summary there (`readme` says
    what) and `--no-write`."""
    flags.DEFINE_string(
        "output",
        RESULTS,
        "Markdown file whose marked section is replaced "
        "(default: benchmarks/RESULTS.md of this checkout)",
    )
    if readme:
        flags.DEFINE_string(
            "readme",
            README,
            f"Markdown file that gets {readme} between its markers "
            "(default: README.md of this checkout)",
        )
    define_no_write_flag()


def define_no_write_flag():
    """`--no-write`: print what the script would write, write nothing."""
    flags.DEFINE_boolean("no-write", False, "print only")


def define_entries_flag(default):
    """`--entries`: zoo entry names or globs, comma-separated or the flag
    repeated; names may also follow the flags as arguments, which keeps the
    space-separated `--entries a b` of the argparse scripts working.
    `default` says what the script measures without it."""
    flags.DEFINE_multi_string(
        "entries",
        [],
        "zoo entry names or globs, comma-separated or the flag repeated (more "
        f"names may follow the flags as arguments); default {default}",
    )


def define_data_dir_flag():
    """`--data-dir`: where the datasets are (tfgen's $TFGEN_DATA_DIR default)."""
    flags.DEFINE_string("data-dir", None, "default $TFGEN_DATA_DIR")


def define_zoo_dir_flag():
    """`--zoo-dir`: the zoo whose entries a script measures and updates."""
    flags.DEFINE_string(
        "zoo-dir",
        None,
        "entries to measure and update; default tfgen's zoo (the repository's "
        "zoo/, or $TFGEN_ZOO_DIR)",
    )


def define_fid_weights_flag():
    """`--weights`: the FID Inception weights file (None: $TFGEN_FID_WEIGHTS,
    read when the script runs)."""
    flags.DEFINE_string(
        "weights", None, "FID Inception weights file (default $TFGEN_FID_WEIGHTS)"
    )


def define_note_flag():
    """`--note`, repeatable: a line on how the run was done (the machine's
    other load, pinning), written into the script's RESULTS.md section."""
    flags.DEFINE_multi_string(
        "note",
        [],
        "a line on how the run was done, for the RESULTS.md section (repeatable)",
    )


def usage_error(message):
    """An `absl.app.UsageError` that exits with status 2, as argparse did and
    as the tfgen command does for a usage error; `absl.app.run` prints the
    script's usage, then `message`."""
    return app.UsageError(message, exitcode=2)


def script_args(module_name, argv, arguments="entries"):
    """The values of the flags a script defined (those of `module_name`,
    including the ones it asked the define_* functions above for), as
    attributes named with underscores: `--no-write` is `args.no_write`.

    `argv` is what `absl.app.run` passes to main: the program name, then the
    arguments left after the flags. They are more values of the list flag
    named by `arguments` where the script has it (`--entries a b` as the
    argparse scripts took it); elsewhere they are a usage error.
    """
    values = {
        flag.name.replace("-", "_"): flag.value
        for flag in flags.FLAGS.get_key_flags_for_module(module_name)
    }
    rest = list(argv[1:])
    if arguments in values:
        values[arguments] = list(values[arguments]) + rest
    elif rest:
        raise usage_error(
            f"Expected only flags (see --helpfull). Received: arguments {rest}"
        )
    return types.SimpleNamespace(**values)


def command_line(module_name, argv):
    """The command that repeats this run of a script: `python3
    benchmarks/X.py`, the flags of the script given on its command line and
    the arguments after them (`argv` as `script_args` takes it). `--note`
    is left out: the scripts write notes as notes."""
    script = os.path.basename(sys.modules[module_name].__file__)
    words = [f"python3 benchmarks/{script}"]
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        if flag.present and flag.name != "note":
            # A repeated flag serializes as one line per value.
            words += [shlex.quote(word) for word in flag.serialize().splitlines()]
    return " ".join(words + [shlex.quote(word) for word in argv[1:]])


# ----------------------------------------------------------------- entries
def entry_patterns(values):
    """The names and globs of `--entries` values (or of another repeatable
    comma-separated flag), commas split."""
    return [p.strip() for value in values or () for p in value.split(",") if p.strip()]


def zoo_entries(zoo_dir=None):
    """The `ZooEntry` of every `<zoo_dir>/<name>/entry.json`, by name;
    `zoo_dir` defaults to tfgen's (the checkout's zoo/, or $TFGEN_ZOO_DIR)."""
    import tfgen

    zoo_dir = zoo_dir or tfgen.zoo.artifacts_dir()
    names = sorted(os.listdir(zoo_dir)) if os.path.isdir(zoo_dir) else []
    paths = (os.path.join(zoo_dir, name, "entry.json") for name in names)
    return [tfgen.zoo.ZooEntry.from_json(p) for p in paths if os.path.isfile(p)]


def select_entries(entries, patterns, why_not, what):
    """The entries a script measures: those whose names match `patterns`
    (globs; every entry when there are none) and that `why_not` accepts.

    `why_not(entry)` is None for an entry the script measures, else the
    reason it does not, worded to follow the entry's name ("has no
    weights"). Returns `(selected, skipped)`, skipped being the
    `(entry, reason)` of the entries the patterns matched but `why_not`
    refused. Raises SystemExit, naming the entries the script can measure,
    when a pattern without wildcards names a refused entry (with its reason),
    when a pattern matches no measurable entry, or when none is selected;
    `what` names them in the message, e.g. "VAE zoo entry with weights".
    """
    entries = sorted(entries, key=lambda e: e.name)
    patterns = list(patterns or ())
    reasons = {e.name: why_not(e) for e in entries}
    measurable = [e.name for e in entries if reasons[e.name] is None]
    selected, skipped = [], []
    for entry in entries:
        if patterns and not any(fnmatch.fnmatchcase(entry.name, p) for p in patterns):
            continue
        why = reasons[entry.name]
        if why is None:
            selected.append(entry)
        elif entry.name in patterns:  # asked for by name: say why not
            raise SystemExit(f"--entries {entry.name}: {entry.name} {why}.")
        else:
            skipped.append((entry, why))
    chosen = [e.name for e in selected]
    missing = [
        p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in chosen)
    ]
    if missing or not selected:
        asked = f"--entries {missing} match" if missing else "There is"
        raise SystemExit(f"{asked} no {what}. Expected names among {measurable}.")
    return selected, skipped
