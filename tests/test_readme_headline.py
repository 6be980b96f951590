"""The README's headline table says what the records say: each row's number
is one its entry records (to the digits shown, with the same sample count),
and each row's command runs a benchmark script with flags it defines.
Reads files only (no TensorFlow)."""

import json
import os
import re
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Per kind of number: the metric names an entry records it under.
METRICS = {"FID": ("fid", "fid_a2b"), "NLL": ("test_nll", "nll_iwae")}


def headline_rows():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Headline results", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| family")
    ]
    return rows


def defined_flags(script):
    """Flags the script defines, directly or through benchmarks/common.py's
    `define_*` helpers it calls."""
    bench = os.path.join(ROOT, "benchmarks")
    with open(os.path.join(bench, script), encoding="utf-8") as f:
        source = f.read()
    with open(os.path.join(bench, "common.py"), encoding="utf-8") as f:
        common = f.read()
    names = set(re.findall(r'DEFINE_\w+\(\s*"([\w-]+)"', source))
    for helper in re.findall(r"common\.(define_\w+)\(", source):
        body = common.split(f"def {helper}(", 1)[1].split("\ndef ", 1)[0]
        names |= set(re.findall(r'DEFINE_\w+\(\s*"([\w-]+)"', body))
    return names


def test_the_table_has_one_row_per_family():
    rows = headline_rows()
    assert 5 <= len(rows) <= 12
    families = [row[0] for row in rows]
    assert len(set(families)) == len(families), families


@pytest.mark.parametrize("row", headline_rows(), ids=lambda row: row[0])
def test_each_number_is_recorded_and_each_command_exists(row):
    family, entry_cell, ours, _paper, command = row
    name = entry_cell.strip("`")
    with open(os.path.join(ROOT, "zoo", name, "entry.json"), encoding="utf-8") as f:
        metrics = json.load(f)["metrics"]
    kind, shown = re.match(r"(FID|NLL) (\d+\.\d+)", ours).groups()
    decimals = len(shown.split(".")[1])
    count = re.search(r"\((\d+)k (?:samples )?vs", ours)
    matches = [
        m
        for m in metrics
        if m["name"] in METRICS[kind]
        and f"{m['value']:.{decimals}f}" == shown
        and (
            count is None
            or m.get("protocol", {}).get("n_gen", int(count[1]) * 1000)
            == int(count[1]) * 1000
        )
    ]
    recorded = [
        (m["name"], m["value"], m.get("protocol", {}).get("n_gen"))
        for m in metrics
        if m["name"] in METRICS[kind]
    ]
    assert matches, (
        f"README headline row {family!r} shows {kind} {shown} for {name}; its "
        f"entry.json records (name, value, n_gen): {recorded}. Update the row."
    )
    words = shlex.split(command.strip("`"))
    assert words[0] == "python3" and words[1].startswith("benchmarks/")
    script = os.path.basename(words[1])
    flags = {w[2:].split("=", 1)[0] for w in words if w.startswith("--")}
    missing = flags - defined_flags(script)
    assert not missing, f"{script} defines no {sorted(missing)}"
    assert name in words  # the command measures this entry
