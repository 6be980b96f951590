"""Nothing lost, nothing let in (issue 18): the fault tests' own figures.

Runs the fault-injection and bad-input test files through pytest, one
subprocess each, with $TFGEN_RELIABILITY_LOG set: the tests then log every
fault they inject and every forged input they try, with the time and peak
memory they measured (tests/reliability_log.py), and the pytest plugin of
that module logs every test's outcome. The script counts that log and writes
RELIABILITY.md at the repository root: per suite, the tests that passed, the
cases tried by kind and how each ended, the worst time and peak memory
against the tests' limits, with the date, hardware, wall time and the
command that reruns it. Every count comes from the run.

Run from the repository root:

    python3 benchmarks/reliability.py            # the default (bounded) tests
    python3 benchmarks/reliability.py --full     # with --runslow: more kills and files
    python3 benchmarks/reliability.py --log FILE --no-run   # render a saved log
    python3 benchmarks/reliability.py --helpfull  # every flag
"""

import collections
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import common
from absl import app, flags, logging

OUTPUT = os.path.join(common.REPO_ROOT, "RELIABILITY.md")
TESTS_DIR = os.path.join(common.REPO_ROOT, "tests")
LOG_ENV = "TFGEN_RELIABILITY_LOG"

#: (test file, title, what it injects), in the order of the report.
SUITES = [
    (
        "tests/test_training_faults.py",
        "Training under faults",
        "SIGKILLs of a training process at traced events (inside checkpoint "
        "writes too) and at drawn moments, each rerun resuming to the "
        "uninterrupted run's weights; NaN in a loss, a gradient and a batch; "
        "a learning rate of 1e6; a flipped bit in a checkpoint",
    ),
    (
        "tests/test_codec_faults.py",
        "tfgen.codec files",
        "header bit flips, truncations, payload bit flips, forged headers with "
        "valid CRC-32s, random files; `tfgen decompress` of broken files",
    ),
    (
        "tests/test_torch_archive.py",
        "PyTorch archives (the FID weights reader)",
        "billion-laughs and memo-bomb pickles, stride-0 tensors, oversized "
        "storages, deflate bombs, code-execution pickles, every truncation and "
        "byte flip of small archives, random pickles",
    ),
    (
        "tests/test_bad_inputs.py",
        "Dataset files and user arrays",
        "malformed dataset archives and arrays of the wrong shape, dtype or values",
    ),
    (
        "tests/test_cli.py",
        "The tfgen command",
        "invalid invocations (a table of arguments, each with its exit code), "
        "beside the command's other tests",
    ),
]


# --------------------------------------------------------------------- run
def pytest_command(test_file, full):
    """The pytest command line of one suite, as the script runs it."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "reliability_log"]
    return command + [test_file] + (["--runslow"] if full else [])


def run_suite(test_file, full, log_path):
    """Runs one test file with the log on; returns (exit status, seconds)."""
    env = dict(os.environ, **{LOG_ENV: log_path})
    # The plugin module lives in tests/, which pytest adds to sys.path only
    # after the -p plugins load.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p
    )
    start = time.perf_counter()
    done = subprocess.run(
        pytest_command(test_file, full), cwd=common.REPO_ROOT, env=env
    )
    return done.returncode, time.perf_counter() - start


# --------------------------------------------------------------- aggregate
def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _file_and_function(nodeid):
    """'tests/x.py::test_y[a]' -> ('tests/x.py', 'test_y')."""
    path, _, name = nodeid.partition("::")
    return path, name.split("[")[0]


def _worse(current, line, key):
    value = line.get(key)
    if value is None or (current is not None and current[key] >= value):
        return current
    return line


def aggregate(lines):
    """Per test file: test outcomes by function and cases by kind.

    Returns {file: {"tests": {function: Counter(outcome)}, "cases": {kind:
    {"outcomes": Counter, "count", "slowest": line, "largest": line}}}}.
    A test counts once: failed if any phase failed, else skipped if any
    phase skipped, else passed.
    """
    outcomes = {}
    for line in lines:
        if line["type"] != "test":
            continue
        before = outcomes.get(line["test"], "passed")
        rank = ("passed", "skipped", "failed")
        outcomes[line["test"]] = max(before, line["outcome"], key=rank.index)
    suites = collections.defaultdict(
        lambda: {"tests": collections.defaultdict(collections.Counter), "cases": {}}
    )
    for nodeid, outcome in outcomes.items():
        path, function = _file_and_function(nodeid)
        suites[path]["tests"][function][outcome] += 1
    for line in lines:
        if line["type"] != "case":
            continue
        path, function = _file_and_function(line["test"])
        kind = suites[path]["cases"].setdefault(
            line["kind"],
            {"outcomes": collections.Counter(), "count": 0, "slowest": None,
             "largest": None},
        )  # fmt: skip
        kind["count"] += 1
        kind["outcomes"][line["outcome"]] += 1
        kind["slowest"] = _worse(kind["slowest"], line, "seconds")
        kind["largest"] = _worse(kind["largest"], line, "peak_bytes")
    return suites


# ------------------------------------------------------------------ render
def _mib(n):
    if n < 2**20:
        return f"{n / 2**10:.0f} KiB"
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _seconds(s):
    return f"{s * 1000:.2g} ms" if s < 0.1 else f"{s:.2f} s"


def _counts(counter):
    return ", ".join(f"{n:,} {what}" for what, n in counter.most_common())


def _function_label(function, path):
    # A case logged outside a test has no function; name the file instead.
    return f"`{function}`" if function else f"`{path}`"


def _worst_lines(cases):
    """'- Slowest case: ...' and '- Largest peak memory: ...' over every
    kind of case, where the suite measures them."""
    lines = []
    for key, label, show in (
        (
            "slowest",
            "Slowest case",
            lambda c: f"{_seconds(c['seconds'])} {c.get('clock', '')}",
        ),
        (
            "largest",
            "Largest peak memory",
            lambda c: f"{_mib(c['peak_bytes'])} {c.get('memory', '')}",
        ),
    ):
        worst = [(kind, f[key]) for kind, f in cases.items() if f[key]]
        if worst:
            field = "seconds" if key == "slowest" else "peak_bytes"
            kind, case = max(worst, key=lambda kc: kc[1][field])
            lines.append(f'- {label}: {show(case)}, a case of "{kind}".')
    return lines


def render_suite(path, title, injects, suite, status, seconds, command):
    """The Markdown of one suite."""
    tests = suite["tests"] if suite else {}
    total = collections.Counter()
    for counter in tests.values():
        total.update(counter)
    verdict = "all passed" if status == 0 and not total["failed"] else "FAILED"
    out = [
        f"## {title}: {verdict}",
        "",
        f"`{path}`: {injects}.",
        "",
        f"- Tests: {_counts(total) or 'none ran'}; pytest exit status {status}, "
        f"{seconds:.0f} s wall.",
        f"- Rerun: `{command}`",
    ]
    cases = suite["cases"] if suite else {}
    out += _worst_lines(cases) + [""]
    if cases:
        out += [
            "| Injected or tried | Cases | How they ended | Worst time (limit) "
            "| Worst peak memory (limit) |",
            "|---|---:|---|---|---|",
        ]
        for kind, figures in sorted(cases.items(), key=lambda kv: -kv[1]["count"]):
            slow, large = figures["slowest"], figures["largest"]
            time_cell = memory_cell = "not measured"
            if slow:
                limit = slow.get("max_seconds")
                time_cell = f"{_seconds(slow['seconds'])} {slow.get('clock', '')}"
                time_cell = time_cell.strip() + (f" (< {limit:g} s)" if limit else "")
            if large:
                limit = large.get("max_bytes")
                memory_cell = f"{_mib(large['peak_bytes'])} {large.get('memory', '')}"
                memory_cell += f" (< {_mib(limit)})" if limit else ""
            out.append(
                f"| {kind} | {figures['count']:,} | {_counts(figures['outcomes'])} "
                f"| {time_cell} | {memory_cell} |"
            )
        out.append("")
    if tests:
        out += ["<details><summary>Tests by function</summary>", ""]
        for function, counter in sorted(tests.items()):
            out.append(f"- {_function_label(function, path)}: {_counts(counter)}")
        out += ["", "</details>", ""]
    return out


def render(suites, results, meta):
    """RELIABILITY.md: `suites` from `aggregate`, `results` {file: (exit
    status, seconds, command)} and `meta` (date, hardware, load, wall,
    command, mode)."""
    totals = collections.Counter()
    cases = 0
    for path, *_ in SUITES:
        suite = suites.get(path)
        if suite:
            for counter in suite["tests"].values():
                totals.update(counter)
            cases += sum(k["count"] for k in suite["cases"].values())
    failed = [p for p, (status, _, _) in results.items() if status != 0]
    out = [
        "# Reliability: nothing lost, nothing let in",
        "",
        "Written by `benchmarks/reliability.py` from the fault tests' own log "
        "(tests/reliability_log.py); every count below is from the run, none "
        "is typed in. Do not edit by hand: rerun the script.",
        "",
        f"- Date: {meta['date']}; mode: {meta['mode']}.",
        f"- Hardware: {meta['hardware']}; {meta['load']}.",
        f"- Wall time: {meta['wall']:.0f} s, the suites one after another.",
        f"- Rerun: `{meta['command']}`",
        f"- Tests: {_counts(totals) or 'none ran'}; {cases:,} logged faults "
        f"and forged inputs. "
        + (
            f"Failing suites: {', '.join(failed)}." if failed else "Every suite passed."
        ),
        "",
        "Times are per case: CPU seconds where the test counts CPU time (the "
        "core may be shared), wall seconds otherwise. Peak memory is what the "
        "test measures: the growth of the process's peak resident memory "
        "(codec) or the peak of Python's traced allocations (archives, every "
        "fifth case in the loops over many files). Cases that a test checks "
        "without logging them (for example the NaN injections) are counted "
        "as its tests.",
        "",
    ]
    for path, title, injects in SUITES:
        if path not in results:
            continue
        status, seconds, command = results[path]
        out += render_suite(
            path, title, injects, suites.get(path), status, seconds, command
        )
    return "\n".join(out).rstrip() + "\n"


# -------------------------------------------------------------------- main
flags.DEFINE_boolean(
    "full",
    False,
    "pass --runslow: the slow fault tests too (30 kills, every payload bit, "
    "400 more random files)",
)
flags.DEFINE_multi_string(
    "suites",
    [],
    "test files to run, the flag repeated or the files after the flags "
    "(default: every suite of the report)",
)
flags.DEFINE_string("log", None, "the JSON-lines log (default: a temporary file)")
flags.DEFINE_boolean("no-run", False, "render --log as it is; run nothing")
flags.DEFINE_string(
    "output", OUTPUT, "the report written (default: RELIABILITY.md of this checkout)"
)
common.define_no_write_flag()


def main(argv):
    # Files after the flags are suites: `--suites a b` as argparse took it.
    args = common.script_args(__name__, argv, arguments="suites")
    known = [path for path, *_ in SUITES]
    unknown = [s for s in args.suites if s not in known]
    if unknown:
        raise SystemExit(f"Expected --suites among {known}. Received: {unknown}.")
    if args.no_run and not args.log:
        raise SystemExit("--no-run renders a saved log: pass --log FILE.")
    common.require_checkout_tfgen()
    selected = args.suites or known
    log_path = args.log or os.path.join(tempfile.mkdtemp(), "reliability.jsonl")
    results = {}
    load = common.load_line()
    start = time.perf_counter()
    for path in selected:
        # The suite alone, as a plain test run (it logs nothing without the
        # variable and the plugin).
        command = f"python3 -m pytest -q {path}" + (" --runslow" if args.full else "")
        if args.no_run:
            results[path] = (0, 0.0, command)
            continue
        status, seconds = run_suite(path, args.full, log_path)
        results[path] = (status, seconds, command)
    rerun = "python3 benchmarks/reliability.py" + (" --full" if args.full else "")
    meta = {
        "date": datetime.date.today().isoformat(),
        "mode": "full (--runslow)" if args.full else "default tests (bounded)",
        "hardware": common.hardware_line(),
        "load": load,
        "wall": time.perf_counter() - start,
        "command": rerun,
    }
    text = render(aggregate(read_log(log_path)), results, meta)
    print(text)
    if not args.no_write:
        with open(args.output, "w") as f:
            f.write(text)
        logging.info("wrote %s", args.output)
    return 0 if all(status == 0 for status, _, _ in results.values()) else 1


if __name__ == "__main__":
    app.run(main)
