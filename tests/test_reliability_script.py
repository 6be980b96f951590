"""benchmarks/reliability.py: the fault tests' log and the Markdown made of it."""

import json

import benchmark_scripts
import pytest
import reliability_log

CODEC = "tests/test_codec_faults.py"
CLI = "tests/test_cli.py"


def _write(path, lines):
    with open(path, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)


def _case(test, kind, outcome, **figures):
    return {"type": "case", "test": test, "kind": kind, "outcome": outcome, **figures}


def _test(test, outcome, when="call"):
    return {"type": "test", "test": test, "when": when, "outcome": outcome}


@pytest.fixture(scope="module")
def reliability():
    return benchmark_scripts.load("reliability")


@pytest.fixture
def fake_log(tmp_path):
    flips = f"{CODEC}::test_flips[vae]"
    lines = [
        _case(flips, "header bit flip", "refused", seconds=0.01, peak_bytes=2**20),
        _case(
            flips,
            "header bit flip",
            "refused",
            seconds=0.5,
            clock="CPU",
            peak_bytes=3 * 2**20,
            memory="peak RSS growth",
            max_seconds=10.0,
            max_bytes=256 * 2**20,
        ),
        _case(flips, "header bit flip", "decoded", seconds=0.2, peak_bytes=None),
        _case(flips, "truncation", "refused"),
        _test(flips, "passed"),
        _test(f"{CODEC}::test_flips[pixelcnn]", "passed"),
        _test(f"{CODEC}::test_slow", "skipped", when="setup"),
        _case(f"{CLI}::test_invalid[a]", "invalid invocation", "exit 2"),
        _case(f"{CLI}::test_invalid[b]", "invalid invocation", "exit 1"),
        _test(f"{CLI}::test_invalid[a]", "passed"),
        # Passed its call, failed its teardown: a failure.
        _test(f"{CLI}::test_invalid[b]", "passed"),
        _test(f"{CLI}::test_invalid[b]", "failed", when="teardown"),
    ]
    path = tmp_path / "log.jsonl"
    _write(path, lines)
    return str(path)


def test_aggregate_counts_cases_and_the_worst_of_each(reliability, fake_log):
    suites = reliability.aggregate(reliability.read_log(fake_log))
    codec = suites[CODEC]
    assert dict(codec["tests"]["test_flips"]) == {"passed": 2}
    assert dict(codec["tests"]["test_slow"]) == {"skipped": 1}
    flips = codec["cases"]["header bit flip"]
    assert flips["count"] == 3
    assert dict(flips["outcomes"]) == {"refused": 2, "decoded": 1}
    assert flips["slowest"]["seconds"] == 0.5
    assert flips["largest"]["peak_bytes"] == 3 * 2**20
    assert codec["cases"]["truncation"]["slowest"] is None
    assert dict(suites[CLI]["tests"]["test_invalid"]) == {"passed": 1, "failed": 1}


def test_markdown_says_what_was_tried_and_how_it_ended(reliability, fake_log):
    suites = reliability.aggregate(reliability.read_log(fake_log))
    meta = {
        "date": "2026-12-03",
        "mode": "default tests (bounded)",
        "hardware": "2 x CPU, no GPU",
        "load": "load average at start: 1.00 1.00 1.00",
        "wall": 61.4,
        "command": "python3 benchmarks/reliability.py",
    }
    results = {
        CODEC: (0, 20.0, f"python3 -m pytest -q {CODEC}"),
        CLI: (1, 30.0, f"python3 -m pytest -q {CLI}"),
    }
    text = reliability.render(suites, results, meta)
    assert "- Date: 2026-12-03; mode: default tests (bounded)." in text
    assert "2 x CPU, no GPU" in text and "Wall time: 61 s, the suites" in text
    assert "Rerun: `python3 benchmarks/reliability.py`" in text
    assert "- Tests: 3 passed, 1 skipped, 1 failed; 6 logged" in text
    assert f"Failing suites: {CLI}." in text
    assert "## tfgen.codec files: all passed" in text
    assert "## The tfgen command: FAILED" in text
    assert (
        "| header bit flip | 3 | 2 refused, 1 decoded | 0.50 s CPU (< 10 s) "
        "| 3.0 MiB peak RSS growth (< 256.0 MiB) |"
    ) in text
    assert '- Slowest case: 0.50 s CPU, a case of "header bit flip".' in text
    assert "- Largest peak memory: 3.0 MiB peak RSS growth, a case of" in text
    assert "| truncation | 1 | 1 refused | not measured | not measured |" in text
    assert "| invalid invocation | 2 | 1 exit 2, 1 exit 1 |" in text
    assert f"Rerun: `python3 -m pytest -q {CODEC}`" in text
    # Suites the run did not include are left out.
    assert "PyTorch archives" not in text


def test_record_writes_only_when_asked(reliability, tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    monkeypatch.delenv(reliability_log.ENV, raising=False)
    reliability_log.record("kind", "refused", seconds=1.0)
    assert not path.exists()
    monkeypatch.setenv(reliability_log.ENV, str(path))
    reliability_log.record("kind", "refused", seconds=1.0)
    (line,) = reliability.read_log(str(path))
    assert line["type"] == "case" and line["kind"] == "kind"
    assert line["test"].endswith("test_record_writes_only_when_asked")
    assert line["outcome"] == "refused" and line["seconds"] == 1.0
    reliability_log.record(None, "read", peak_bytes=1000)
    line = reliability.read_log(str(path))[1]
    assert line["kind"] == "record writes only when asked"


def test_unknown_suites_are_refused(reliability):
    with pytest.raises(SystemExit, match="Expected --suites among"):
        benchmark_scripts.run(reliability, ["--suites", "tests/nope.py", "--no-write"])
    with pytest.raises(SystemExit, match="pass --log FILE"):
        benchmark_scripts.run(reliability, ["--no-run", "--no-write"])
