"""The fault tests' own figures, as JSON lines, for benchmarks/reliability.py.

When $TFGEN_RELIABILITY_LOG names a file, `record(...)` appends one line per
injected fault or forged input that a test measured, and this module, loaded
as a pytest plugin (`pytest -p reliability_log`), appends one line per test
outcome. Without the variable nothing is written, so the tests run as usual.

Lines: `{"type": "case", "test": nodeid, "kind": ..., "outcome": ...,
"seconds": ..., "peak_bytes": ..., ...}` and `{"type": "test", "test":
nodeid, "outcome": "passed" | "failed" | "skipped", "seconds": ...}`.
"""

import json
import os

ENV = "TFGEN_RELIABILITY_LOG"


def _append(line):
    path = os.environ.get(ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def record(kind, outcome, **figures):
    """Logs one fault or forged input of the running test: `kind` (what was
    injected, e.g. "header bit flip"; None names it after the test, e.g.
    "deflate bombs are refused before inflating"), `outcome` (e.g.
    "refused"), and its
    measured figures (`seconds`, `clock`, `peak_bytes`, `memory`, the
    limits `max_seconds` and `max_bytes`, or anything JSON holds)."""
    if not os.environ.get(ENV):
        return
    # "tests/test_x.py::test_y[case] (call)": pytest sets it for each phase.
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    if kind is None:
        function = test.partition("::")[2].split("[")[0]
        kind = function.removeprefix("test_").replace("_", " ")
    _append({"type": "case", "test": test, "kind": kind, "outcome": outcome, **figures})


def pytest_runtest_logreport(report):
    """One line per test: its call's outcome, or its setup's or teardown's
    when that failed or skipped it."""
    if report.when == "call" or report.outcome != "passed":
        _append(
            {
                "type": "test",
                "test": report.nodeid,
                "when": report.when,
                "outcome": report.outcome,
                "seconds": round(report.duration, 3),
            }
        )
