"""What the benchmark scripts share: paths, the checkout check, the hardware
line and the selection of zoo entries.

The scripts run as `python3 benchmarks/X.py`, so Python puts benchmarks/
first on sys.path and `import common` finds this file; benchmarks/ is no
package. tfgen is imported as installed, never from an edited sys.path: a
script that writes records or RESULTS.md calls `require_checkout_tfgen()`
first, so that it refuses to measure another copy of tfgen and its zoo.
"""

import fnmatch
import os
import platform

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


# ----------------------------------------------------------------- outputs
def add_output_arguments(parser, readme=None):
    """`--output` (the RESULTS.md whose marked section a script replaces),
    `--readme` where the script also writes a summary there (`readme` says
    what) and `--no-write`."""
    parser.add_argument(
        "--output",
        default=RESULTS,
        help="Markdown file whose marked section is replaced "
        "(default: benchmarks/RESULTS.md of this checkout)",
    )
    if readme:
        parser.add_argument(
            "--readme",
            default=README,
            help=f"Markdown file that gets {readme} between its markers "
            "(default: README.md of this checkout)",
        )
    parser.add_argument("--no-write", action="store_true", help="print only")


# ----------------------------------------------------------------- entries
def add_entries_argument(parser, default):
    """`--entries`: zoo entry names or globs, space- or comma-separated;
    `default` says what the script measures without it."""
    parser.add_argument(
        "--entries",
        nargs="*",
        default=[],
        metavar="NAME",
        help=f"zoo entry names or globs, space- or comma-separated; default {default}",
    )


def entry_patterns(values):
    """The names and globs of `--entries` values, commas split."""
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
