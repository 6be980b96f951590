"""benchmarks/train_throughput.py's timing method: train steps timed by a
callback (not the fit() call), medians over interleaved repeats, ratios
within a round. Speed itself is never asserted here."""

import benchmark_scripts
import keras
import numpy as np
import pytest
from absl import app, flags


@pytest.fixture(scope="module")
def script():
    return benchmark_scripts.load("train_throughput")


class FakeClock:
    """Returns the listed times in turn."""

    def __init__(self, times):
        self.times = iter(times)

    def __call__(self):
        return next(self.times)


def test_step_timer_times_batches_after_the_skipped_ones(script):
    # Batches 0 and 1 are skipped (no clock read); 2 and 3 take 3 s and 4 s.
    times = [20.0, 23.0, 30.0, 34.0]
    timer = script.StepTimer(skip=2, clock=FakeClock(times))
    timer.on_train_begin()
    for batch in range(4):
        timer.on_train_batch_begin(batch)
        timer.on_train_batch_end(batch)
    assert timer.seconds == [3.0, 4.0]
    # Not the call: whatever follows the last batch (a stall at the end of
    # fit()) is in no timed interval. A new call starts a new list.
    timer.clock = FakeClock([100.0, 100.5])
    timer.on_train_begin()
    timer.on_train_batch_begin(2)
    timer.on_train_batch_end(2)
    assert timer.seconds == [0.5]


def test_step_timer_in_a_fit_call_times_every_step_but_the_skipped(script):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((20, 3), "float32")
    timer = script.StepTimer(skip=2)
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


def test_rates_medians_and_ratios_within_a_round(script):
    assert script.images_per_second(64, [0.25, 0.5, 0.25]) == 64 * 3 / 1.0
    ref, bf16 = ("keras-io", "float32"), ("keras-io", "mixed_bfloat16")
    # Round 2 ran while the machine was slow: both halve, their ratio holds.
    rates = {ref: [100.0, 50.0, 110.0], bf16: [150.0, 75.0, 121.0]}
    summary = script.summarize(rates, ref)
    assert summary[ref] == (100.0, 1.0)
    assert summary[bf16] == (121.0, 1.5)  # median img/s; median of 1.5, 1.5, 1.1
    with pytest.raises(ValueError, match=r"Expected 3 repeats.*Received"):
        script.summarize({ref: [1.0, 2.0, 3.0], bf16: [1.0]}, ref)


def test_ratio_lines_compare_within_a_precision_and_an_implementation(script):
    rates = {
        ("keras-io", "float32"): [100.0, 50.0],
        ("keras-io", "mixed_bfloat16"): [150.0, 75.0],
        ("tfgen", "float32"): [120.0, 60.0],
        ("tfgen", "mixed_bfloat16"): [300.0, 150.0],
    }
    assert script.ratio_lines(rates) == [
        "tfgen / keras-io, float32: 1.20x",
        "tfgen / keras-io, mixed_bfloat16: 2.00x",
        "keras-io mixed_bfloat16 / float32: 1.50x",
        "tfgen mixed_bfloat16 / float32: 2.50x",
    ]
    table = script.markdown_table(script.summarize(rates, ("keras-io", "float32")))
    assert "| tfgen | mixed_bfloat16 | 225.0 | 3.00x |" in table


def test_flags_are_checked_before_anything_is_built(script):
    with pytest.raises(app.UsageError, match=r"below --steps \(5\)\. Received: 5"):
        benchmark_scripts.run(script, ["--steps", "5", "--skip-steps", "5"])
    with pytest.raises(app.UsageError, match=r"Received: arguments \['x'\]"):
        benchmark_scripts.run(script, ["--no-write", "x"])


def test_the_recorded_command_leaves_notes_to_the_note_lines(script):
    import common

    flags.FLAGS.unparse_flags()
    rest = flags.FLAGS(["train_throughput.py", "--steps", "3", "--note", "core 1 busy"])
    args = common.script_args("train_throughput_benchmark", rest)
    assert args.note == ["core 1 busy"] and args.steps == 3
    command = common.command_line("train_throughput_benchmark", rest)
    assert command == "python3 benchmarks/train_throughput.py --steps=3"


def test_recipe_data_take_each_recipes_shape_and_structure(script):
    from tfgen import recipes

    def spec(dataset, **config):
        return recipes.RecipeSpec(
            model="X",
            config={"image_shape": [4, 4, 1], **config},
            dataset=dataset,
            batch_size=3,
        )

    binary = next(iter(script.recipe_dataset(spec({"name": "binarized_mnist"}))))
    assert binary.shape == (3, 4, 4, 1)
    assert set(np.unique(binary.numpy())) <= {0.0, 1.0}
    a, b = next(iter(script.recipe_dataset(spec({"domain_a": "x", "domain_b": "y"}))))
    assert a.shape == b.shape == (3, 4, 4, 1)
    x, y = next(
        iter(
            script.recipe_dataset(
                spec({"name": "mnist", "labels": True}, num_classes=4)
            )
        )
    )
    assert x.shape == (3, 4, 4, 1) and y.dtype == "int32"
    assert 0 <= int(np.min(y)) and int(np.max(y)) < 4


def test_recipe_table_reports_medians_and_the_per_round_ratio(script):
    from tfgen import recipes

    specs = {
        "r": recipes.RecipeSpec(model="DCGAN", config={}, dataset={}, batch_size=64)
    }
    rates = {
        ("r", "float32"): [100.0, 50.0, 90.0],
        ("r", "mixed_bfloat16"): [20.0, 10.0, 9.0],
    }
    table = script.recipe_table(specs, rates)
    assert "| `r` | DCGAN | 64 | 90.0 | 10.0 | 0.20x |" in table


def test_an_unknown_recipe_is_refused_with_the_known_ones(script):
    with pytest.raises(app.UsageError, match=r"Unknown recipe 'nope'.*dcgan_mnist"):
        script.recipe_spec("nope")
