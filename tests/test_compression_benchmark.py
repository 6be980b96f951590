"""benchmarks/compression.py rewrites only the datasets it measured: the
RESULTS.md subsections and README summary lines of the others stay, each
with the run lines (date, hardware) of the run that measured it."""

import types

import benchmark_scripts
import numpy as np
import pytest

OLD_RESULTS = """
## Lossless compression

`python3 benchmarks/compression.py`

- Hardware: 2 x CPU (1 of them used), no GPU; one process
- Date: 2026-11-29T22:50:34+00:00; total wall time 2009 s
- Anchor: a paper.

### binarized MNIST test split, the fixed Larochelle-Murray binarization, 10,000 images (all), 2 levels

| Method | bits/dim on disk |
|---|---:|
| old binarized row | 0.1642 |

### 8-bit MNIST test split, 10,000 images (all), 256 levels

| Method | bits/dim on disk |
|---|---:|
| old mnist row | 1.1033 |
"""

OLD_README = """
Lossless compression of test images (2026-11-29, `python3 benchmarks/compression.py`; protocol and every codec in benchmarks/RESULTS.md):

- binarized MNIST test split, the fixed Larochelle-Murray binarization, 10,000 images (all), 2 levels: `old_binary` 0.1642 bits/dim on disk; every image decoded exactly: yes.
- 8-bit MNIST test split, 10,000 images (all), 256 levels: `old_8bit` 1.1033 bits/dim on disk; every image decoded exactly: yes.
"""


@pytest.fixture(scope="module")
def script():
    return benchmark_scripts.load("compression")


def _marked(script, text, start, end):
    return f"# Results\n\nabove\n\n{start}{text}{end}\n\nbelow\n"


def test_old_sections_keep_their_run_lines(script):
    kept = script.kept_subsections(OLD_RESULTS, {"binarized_mnist"})
    assert list(kept) == ["mnist"]
    assert "- Run: 2026-11-29T22:50:34+00:00; total wall time 2009 s" in kept["mnist"]
    assert "- Hardware: 2 x CPU (1 of them used)" in kept["mnist"]
    assert "old mnist row" in kept["mnist"]
    lines = script.kept_summary_lines(OLD_README, {"binarized_mnist"})
    assert [name for name, _ in lines] == ["mnist"]
    assert lines[0][1].endswith("decoded exactly: yes (2026-11-29).")


def test_rewritten_sections_are_kept_unchanged_by_the_next_run(script):
    # The section a run writes, split again by a run of another dataset,
    # gives back each subsection as written: no second migration.
    first = script.results_section(script.kept_subsections(OLD_RESULTS, set()))
    again = script.kept_subsections(first, {"binarized_mnist"})
    assert again["mnist"] == script.kept_subsections(OLD_RESULTS, set())["mnist"]
    summary = script.readme_summary(script.kept_summary_lines(OLD_README, set()))
    lines = script.kept_summary_lines(summary, {"binarized_mnist"})
    assert lines == script.kept_summary_lines(OLD_README, {"binarized_mnist"})


def test_a_run_of_one_dataset_keeps_the_others(script, tmp_path, monkeypatch):
    results, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    results.write_text(_marked(script, OLD_RESULTS, script.MARK_START, script.MARK_END))
    readme.write_text(
        _marked(script, OLD_README, script.README_START, script.README_END)
    )
    entry = types.SimpleNamespace(name="new_model", directory=str(tmp_path))
    written = {}

    def fake_codec(entry, levels, num_levels, batch_size, progress):
        return dict(
            entry=entry,
            method=f"tfgen.codec, `{entry.name}` (autoregressive)",
            bytes=100,
            header_bytes=90,
            bpd=0.1590,
            model_bpd=0.1589,
            model_rate="exact NLL",
            overhead=0.1590 / 0.1589 - 1,
            encode=1.0,
            decode=1.0,
            exact=True,
            batch_size=250,
        )

    levels = np.random.default_rng(0).integers(0, 2, (3, 28, 28, 1), np.uint8)
    monkeypatch.setattr(script, "codec_entries", lambda dataset, patterns: [entry])
    monkeypatch.setattr(script, "test_levels", lambda name, d, count: (levels, 2))
    monkeypatch.setattr(script, "run_codec", fake_codec)
    monkeypatch.setattr(
        script, "replace_metrics", lambda path, records: written.update({path: records})
    )
    monkeypatch.setattr(script.common, "require_checkout_tfgen", lambda: None)
    argv = ["--datasets", "binarized_mnist", "--output", str(results)]
    argv += ["--readme", str(readme), "--note", "pinned to core 0"]
    assert benchmark_scripts.run(script, argv) == 0

    text = results.read_text()
    assert text.startswith("# Results\n\nabove\n\n") and text.endswith("\n\nbelow\n")
    assert "old binarized row" not in text and "old mnist row" in text
    assert text.index("3 images (evenly spaced), 2 levels") < text.index("8-bit MNIST")
    assert "- Note: pinned to core 0" in text and "load average at start" in text
    summary = readme.read_text()
    assert "`old_binary`" not in summary and "`new_model` 0.1590" in summary
    assert (
        "`old_8bit` 1.1033 bits/dim on disk; every image decoded exactly: yes (2026-11-29)."
        in summary
    )
    (record,) = next(iter(written.values()))
    assert record["name"] == "compressed_bits_per_dim" and record["value"] == 0.159
    assert record["protocol"]["notes"] == ["pinned to core 0"]
    assert record["protocol"]["load"].startswith("load average at start")


def test_unknown_dataset_is_a_usage_error(script):
    with pytest.raises(Exception, match="Expected --datasets among"):
        benchmark_scripts.run(script, ["--datasets", "mnistt", "--no-write"])
