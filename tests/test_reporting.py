import json

from tfgen import reporting


def test_write_section_replaces_only_its_block(tmp_path):
    path = str(tmp_path / "RESULTS.md")
    reporting.write_section(path, "one", "<!-- a:start -->", "<!-- a:end -->")
    reporting.write_section(path, "two", "<!-- b:start -->", "<!-- b:end -->")
    reporting.write_section(path, "three", "<!-- a:start -->", "<!-- a:end -->")
    text = open(path).read()
    assert text.startswith("# Benchmark results\n")
    assert "<!-- a:start -->\nthree\n<!-- a:end -->" in text and "one" not in text
    assert "<!-- b:start -->\ntwo\n<!-- b:end -->" in text


def test_replace_metrics_keeps_other_records_and_fields(tmp_path):
    path = tmp_path / "entry.json"
    path.write_text(
        json.dumps(
            {
                "name": "x",
                "extra": 1,
                "metrics": [{"name": "fid", "value": 9}, {"name": "kid", "value": 2}],
            }
        )
    )
    reporting.replace_metrics(str(path), [{"name": "fid", "value": 5}])
    data = json.loads(path.read_text())
    assert data["extra"] == 1
    assert data["metrics"] == [{"name": "kid", "value": 2}, {"name": "fid", "value": 5}]
