"""Where the suite's time goes, in CPU seconds (issue 17).

A pytest plugin that writes each test's setup, call and teardown CPU time
(this process plus the subprocesses it waited for) as JSON lines, and a
report that sums them per test, per parametrization family and per file.
CPU time, unlike the wall clock, holds on a core shared with other work.
Module and session fixtures count in the setup of the first test that
needs them, as pytest runs them.

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 PYTHONPATH=tests \\
        SUITE_TIMES=/tmp/times.jsonl taskset -c 0 \\
        python -m pytest -q -p no:cacheprovider -p suite_times tests/
    python tests/suite_times.py /tmp/times.jsonl [--top 40]
"""

import argparse
import collections
import json
import os
import resource
import time

import pytest

_out = None


def _cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def pytest_configure(config):
    global _out
    _out = open(os.environ.get("SUITE_TIMES", "suite_times.jsonl"), "w")
    _out.write(json.dumps({"event": "start-up", "cpu": _cpu_seconds()}) + "\n")


def _timed(item, when):
    cpu, wall = _cpu_seconds(), time.perf_counter()
    yield
    record = {
        "nodeid": item.nodeid,
        "when": when,
        "cpu": _cpu_seconds() - cpu,
        "wall": time.perf_counter() - wall,
    }
    _out.write(json.dumps(record) + "\n")
    _out.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _timed(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _timed(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield from _timed(item, "teardown")


def report(paths, top=40):
    """The report's text for the JSON-lines files `paths`."""
    per_test = collections.defaultdict(float)
    setup = collections.defaultdict(float)
    start_up = 0.0
    for path in paths:
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if record.get("event") == "start-up":
                    start_up += record["cpu"]
                elif "when" in record:
                    per_test[record["nodeid"]] += record["cpu"]
                    if record["when"] == "setup":
                        setup[record["nodeid"]] += record["cpu"]
    families = collections.defaultdict(float)
    sizes = collections.Counter()
    files = collections.defaultdict(float)
    for nodeid, seconds in per_test.items():
        families[nodeid.split("[")[0]] += seconds
        sizes[nodeid.split("[")[0]] += 1
        files[nodeid.split("::")[0]] += seconds
    lines = [
        f"{sum(per_test.values()):.1f} CPU s in {len(per_test)} tests, "
        f"{start_up:.1f} s start-up"
    ]

    def table(title, seconds, note):
        lines.append(f"\n{title}")
        ranked = sorted(seconds.items(), key=lambda kv: -kv[1])[:top]
        lines.extend(f"{s:7.1f}  {name}{note(name)}" for name, s in ranked)

    table(
        "tests (setup includes module/session fixtures):",
        per_test,
        lambda n: f"  (setup {setup[n]:.1f})" if setup[n] >= 0.5 else "",
    )
    table("families:", families, lambda n: f"  x{sizes[n]}")
    table("files:", files, lambda n: "")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="JSON-lines files of the plugin")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    print(report(args.paths, args.top))
