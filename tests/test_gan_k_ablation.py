"""benchmarks/gan_k_ablation.py (issue 21) end to end on fake MNIST: the
update counts of each k, its records, its Markdown section, and the one
image stream every k reads."""

import json
import re
import types

import benchmark_scripts
import numpy as np
import pytest
from absl import app

import tfgen

STEPS = 4


@pytest.fixture(scope="module")
def script():
    return benchmark_scripts.load("gan_k_ablation")


def test_each_k_takes_k_discriminator_steps_per_generator_step(
    script, fake_data_dir, tmp_path, monkeypatch, capsys
):
    # Reference statistics of the fake test split go to a cache of their own.
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    output, record_path = tmp_path / "RESULTS.md", tmp_path / "record.json"
    argv = ["--k", "1,2", "--generator-steps", str(STEPS), "--epoch-steps", "2"]
    argv += ["--num-samples", "300", "--no-inception", "--no-write", "--quiet"]
    argv += ["--data-dir", fake_data_dir, "--output", str(output)]
    argv += ["--record", str(record_path)]
    assert benchmark_scripts.run(script, argv) == 0
    assert not output.exists() and not record_path.exists()  # --no-write
    out = capsys.readouterr().out
    split = out.index("\n{\n")
    text, record = out[:split], json.loads(out[split:])

    runs = record["runs"]
    assert [r["k"] for r in runs] == [1, 2]
    for run in runs:
        k = run["k"]
        assert (run["d_steps"], run["g_steps"]) == (k * STEPS, STEPS)
        assert (run["d_batch"], run["global_batch"]) == (64, 64 * k)
        assert run["real_images"] == STEPS * 64 * k
        assert run["train_wall_seconds"] > 0 and run["train_cpu_seconds"] > 0
        assert all(np.isfinite([run["final_d_loss"], run["final_g_loss"]]))
        assert [len(c) for c in run["loss_curves"].values()] == [2, 2]  # 2 epochs
        assert run["final_d_loss"] == run["loss_curves"]["d_loss"][-1]
        assert set(run["metrics"]) == {
            "classifier_fd",
            "classifier_score",
            "classifier_min_class_share",
        }
        score = run["metrics"]["classifier_score"]
        assert 1.0 <= score["value"] <= 10.0
        assert score["protocol"]["n_gen"] == 300
        assert run["metrics"]["classifier_fd"]["protocol"]["reference"] == "mnist:test"
        shares = run["class_shares"]
        assert len(shares) == 10 and sum(shares) == pytest.approx(1.0)
        assert run["min_class_share"] == min(shares)
    protocol = record["protocol"]
    assert protocol["generator_steps"] == STEPS and protocol["epochs"] == 2
    assert protocol["config"]["hidden_units"] == [256, 512, 1024]
    assert "--generator-steps=4" in protocol["command"]

    assert f"`{protocol['command']}`" in text
    header = next(line for line in text.splitlines() if line.startswith("| k | D"))
    rows = re.findall(r"^\| [12] \| \d.*\|$", text, re.M)
    assert rows[0].startswith("| 1 | 4 | 4 | 64 | 256 |")
    assert rows[1].startswith("| 2 | 8 | 4 | 128 | 512 |")
    assert all(row.count("|") == header.count("|") for row in rows[:2])
    assert rows[0].endswith("| - | - |")  # no FID, no KID without Inception
    assert len(rows) == 4  # the class-share rows follow


def test_every_k_reads_one_image_stream(script, fake_data_dir):
    spec = tfgen.recipes.from_zoo("gan_mnist").replace(batch_size=8)

    def first(k, n):
        batches = script.image_stream(spec, k, fake_data_dir).take(n // (8 * k))
        return np.concatenate([b.numpy() for b in batches])

    # 48 images: the 32-image split's first pass and half its second.
    np.testing.assert_array_equal(first(1, 48), first(2, 48))
    np.testing.assert_array_equal(first(1, 48), first(3, 48))


def test_schedule_needs_a_whole_number_of_epochs(script):
    spec = types.SimpleNamespace(epochs=20, batch_size=64)
    args = types.SimpleNamespace(generator_steps=None, epoch_steps=None)
    assert script.schedule(args, spec, 60000) == (18740, 937)
    args.generator_steps = 10
    assert script.schedule(args, spec, 60000) == (10, 10)
    args.epoch_steps = 4
    with pytest.raises(app.UsageError, match="multiple of --epoch-steps"):
        script.schedule(args, spec, 60000)
    with pytest.raises(app.UsageError, match="distinct positive"):
        script.parse_k(["1", "1"])
