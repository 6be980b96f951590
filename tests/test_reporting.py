import json

import pytest

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


def test_replace_metrics_keeps_records_of_other_protocols(tmp_path):
    path = tmp_path / "entry.json"

    def fid(value, reference, n_gen):
        protocol = {"reference": reference, "n_gen": n_gen, "seed": 0}
        return {"name": "fid", "value": value, "protocol": protocol}

    path.write_text(json.dumps({"metrics": [fid(46.0, "cifar10:test", 10000)]}))
    reporting.replace_metrics(str(path), [fid(42.0, "cifar10:train", 50000)])
    reporting.replace_metrics(str(path), [fid(41.0, "cifar10:train", 50000)])
    values = [m["value"] for m in json.loads(path.read_text())["metrics"]]
    assert values == [46.0, 41.0]  # the rerun replaced only its own protocol


def test_replace_metrics_names_the_weights_measured(tmp_path):
    """Each new record carries the sha256 of the entry's weights; the
    caller's record is not changed in place."""
    path = tmp_path / "entry.json"
    path.write_text(json.dumps({"sha256": "ab" * 32, "metrics": []}))
    record = {"name": "fid", "value": 5, "protocol": {"n_gen": 10}}
    reporting.replace_metrics(str(path), [record, {"name": "is", "value": 9}])
    written = json.loads(path.read_text())["metrics"]
    assert [m["protocol"] for m in written] == [
        {"n_gen": 10, "model_sha256": "ab" * 32},
        {"model_sha256": "ab" * 32},
    ]
    assert record["protocol"] == {"n_gen": 10}


@pytest.mark.parametrize(
    "flags, summary",
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "AVX-512, bf16"),
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX-512, AMX bf16"),
        ({"avx", "avx2", "fma"}, "AVX2, no bf16"),
        ({"sse2"}, "no AVX2, no bf16"),
        (set(), "flags unknown"),
    ],
)
def test_cpu_vector_summary(flags, summary):
    assert reporting.cpu_vector_summary(frozenset(flags)) == summary
