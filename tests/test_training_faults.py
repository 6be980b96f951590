"""Training under faults (issue 18, findings 1 and 7): SIGKILLs at drawn
moments, NaN in a loss, a gradient and a batch, damaged checkpoints."""

import csv
import glob
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import reliability_log
import tensorflow as tf
from keras import ops

import tfgen
from tfgen import files, recipes, training
from tfgen.finite import NonFiniteError, check_finite_weights

WORKER = os.path.join(os.path.dirname(__file__), "train_worker.py")
EPOCHS = 3


def _history_epochs(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _assert_same_state(dump, reference, what):
    with np.load(dump) as got, np.load(reference) as want:
        assert sorted(got.files) == sorted(want.files), what
        for key in want.files:
            np.testing.assert_allclose(
                got[key], want[key], rtol=1e-6, atol=1e-7, err_msg=f"{what}: {key}"
            )


def _run_log(prefix):
    path = f"{prefix}.jsonl"
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


def _kill_and_resume(tmp_path, kills, seed):
    """Runs the worker's fault plan and checks every run it made."""
    root = tmp_path / "faults"
    plan = {
        "root": str(root),
        "report": str(tmp_path / "report.json"),
        "epochs": EPOCHS,
        "kills": kills,
        "seed": seed,
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    done = subprocess.run(
        [sys.executable, WORKER, "--faults", str(tmp_path / "plan.json")],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    _check_runs(root, report, kills)
    return report["runs"]


def _check_runs(root, report, kills):
    assert report["reference"]["status"] == "finished", report["reference"]["status"]
    reference = [str(root / "reference_start.npz")] + [
        str(root / f"reference_epoch{e}.npz") for e in range(1, EPOCHS + 1)
    ]
    runs = report["runs"]
    assert sum(r["status"] == "killed" for r in runs) == kills
    scenarios = sorted({r["scenario"] for r in runs})
    for scenario in scenarios:
        chain = [r for r in runs if r["scenario"] == scenario]
        # Epochs ended (after their checkpoint) and begun so far: a rerun
        # resumes after the last ended one at the earliest, and after the
        # last begun one at the latest.
        low = high = 0
        for run in chain:
            assert run["status"] in ("killed", "finished"), (run["kill"], run["status"])
            log = _run_log(run["prefix"])
            starts = [r["epoch"] for r in log if r["event"] == "start"]
            if starts:
                start = starts[0]
                assert low <= start <= high, (run["kill"], start, low, high)
                # The restored state is the uninterrupted run's at that epoch.
                _assert_same_state(
                    f"{run['prefix']}_start.npz",
                    reference[start],
                    f"run {run['prefix']} resumed at epoch {start}",
                )
            for record in log:
                if record["event"] == "epoch_end":
                    low = max(low, record["epoch"] + 1)
                if record["event"] == "epoch_begin":
                    high = max(high, record["epoch"] + 1)
        assert chain[-1]["status"] == "finished"
        last = chain[-1]["prefix"]
        final = f"{last}_epoch{EPOCHS}.npz"
        if not os.path.exists(final):  # the finishing run only restored
            final = f"{last}_start.npz"
        _assert_same_state(final, reference[EPOCHS], f"scenario {scenario}: final")
        run_dir = root / f"scenario{scenario}"
        assert _history_epochs(run_dir) == list(range(EPOCHS))
        clock = json.loads((run_dir / "wall_clock.json").read_text())
        assert clock["epochs"] == EPOCHS and len(clock["epoch_seconds"]) == EPOCHS
        assert not glob.glob(str(run_dir / "backup" / "*.partial-*"))
    for run in runs:  # every kill was resumed from and finished: checked above
        if run["status"] == "killed":
            at = run["kill"].get("at")
            where = (
                "a drawn moment"
                if at is None
                else "a checkpoint write"
                if at.split(":")[0] in FILE_EVENTS
                else "a traced event"
            )
            reliability_log.record(f"SIGKILL at {where}", "resumed", at=at)


def test_kills_at_drawn_moments_resume_to_the_uninterrupted_weights(tmp_path):
    """5 SIGKILLs (at traced events, half inside checkpoint writes, and after
    drawn seconds): each rerun resumes where the checkpoints say, with the
    uninterrupted run's state; the final weights equal it."""
    _kill_and_resume(tmp_path, kills=5, seed=0)


@pytest.mark.slow  # ~40 training processes: a few minutes on one core
def test_thirty_kills_resume_to_the_uninterrupted_weights(tmp_path):
    runs = _kill_and_resume(tmp_path, kills=30, seed=1)
    # Traced kills name their event; file events are steps of a save.
    in_saves = [
        r
        for r in runs
        if r["kill"] and r["kill"].get("at", "").split(":")[0] in FILE_EVENTS
    ]
    assert len(in_saves) >= 5, [r["kill"] for r in runs]


FILE_EVENTS = ("replace", "remove", "copyfile")


# NaN injection ------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfgen_tests")
class GradientScale(keras.layers.Layer):
    """Identity whose gradient is multiplied by `scale` (NaN injects it)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="scale"
        )

    def call(self, x):
        scale = self.scale

        @tf.custom_gradient
        def scaled(x):
            return tf.identity(x), lambda g: g * tf.cast(scale, g.dtype)

        return scaled(x)


class Inject(keras.callbacks.Callback):
    """At (epoch, batch), sets `variable` to NaN; resets it after the batch
    (for the loss, so only that batch's loss is NaN)."""

    def __init__(self, variable, epoch, batch, reset=False):
        super().__init__()
        self.variable, self.at, self.reset = variable, (epoch, batch), reset

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.variable.assign(float("nan"))

    def on_train_batch_end(self, batch, logs=None):
        if self.reset:
            self.variable.assign(0.0)


LOSS_NAN = keras.Variable(0.0, trainable=False, name="loss_nan")


def _regression(scale_layer=True):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((3,)), keras.layers.Dense(4)]
    if scale_layer:
        layers.append(GradientScale())
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


def _loss_with_injection(y, p):
    return ops.mean(ops.square(y - p)) + LOSS_NAN


def _fit_regression(run_dir, x, injection=None, epochs=3):
    LOSS_NAN.assign(0.0)
    model = _regression()
    callbacks = []
    if injection == "loss":
        callbacks = [Inject(LOSS_NAN, 1, 1, reset=True)]
    elif injection == "gradient":
        scale = model.layers[1].scale
        callbacks = [Inject(scale, 1, 1)]
    y = np.ones((len(x), 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    return training.train(
        model,
        dataset,
        epochs,
        output_dir=str(run_dir),
        precision="float32",
        compile_kwargs={"optimizer": "sgd", "loss": _loss_with_injection},
        sample_every=0,
        callbacks=callbacks,
        verbose=0,
    )


def _assert_checkpoint_after_epoch(run_dir, epoch):
    backup = os.path.join(run_dir, "backup")
    with open(os.path.join(backup, "training_metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["epoch"] == epoch
    weights = os.path.join(backup, "latest.weights.h5")
    files.verify(weights, metadata["weights_sha256"], "checkpoint")
    model = _regression()
    model.load_weights(weights)
    check_finite_weights(model)
    assert not glob.glob(os.path.join(backup, "*.partial-*"))


@pytest.mark.parametrize(
    "injection, where",
    [
        # The loss of epoch 2's second batch is NaN; the weights stay finite.
        ("loss", "epoch 2 of 3, batch 2 of 2: non-finite loss=nan"),
        # Epoch 2's last gradient is NaN: its loss was finite, its weights not.
        ("gradient", "the end of epoch 2 of 3 holds NaN or infinite weights"),
        # A NaN pixel in epoch 2's second batch.
        ("batch", "epoch 2 of 3, batch 2 of 2: non-finite loss=nan"),
    ],
)
def test_nan_stops_training_and_nothing_non_finite_is_saved(injection, where, tmp_path):
    clean = np.random.default_rng(0).random((8, 3)).astype("float32")
    x = clean.copy()
    run_dir = tmp_path / "run"
    if injection == "batch":
        x[5, 0] = np.nan  # in the second of each epoch's two batches
        # Epoch 1 on clean data, then the NaN batch from epoch 2 on.
        _fit_regression(run_dir, clean, epochs=1)
    with pytest.raises(NonFiniteError) as caught:
        _fit_regression(run_dir, x, injection)
    message = str(caught.value)
    assert where in message, message
    assert "holds the checkpoint after epoch 1, where a rerun resumes" in message
    _assert_checkpoint_after_epoch(run_dir, 1)
    assert _history_epochs(run_dir) == [0]
    # Without the fault, a rerun resumes after epoch 1 and finishes.
    model, _ = _fit_regression(run_dir, clean)
    check_finite_weights(model)
    assert _history_epochs(run_dir) == [0, 1, 2]
    _assert_checkpoint_after_epoch(run_dir, 3)


@pytest.mark.parametrize(
    "model",
    [
        lambda: tfgen.VAE(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(16,)),
        lambda: tfgen.PixelCNN(
            image_shape=(4, 4, 1), num_levels=2, filters=8, num_blocks=2
        ),
    ],
    ids=["vae", "pixelcnn"],
)
def test_learning_rate_1e6_stops_with_the_last_finite_checkpoint(model, tmp_path):
    """Issue 18, finding 1: at a learning rate of 1e6 a VAE and a PixelCNN
    trained on, saving NaN checkpoints."""
    images = (np.random.default_rng(0).random((8, 4, 4, 1)) > 0.5).astype("float32")
    with pytest.raises(NonFiniteError, match="Nothing non-finite was saved"):
        training.train(
            model,
            images,
            5,
            output_dir=str(tmp_path),
            precision="float32",
            compile_kwargs=lambda: {"optimizer": keras.optimizers.Adam(1e6)},
            sample_every=0,
            verbose=0,
        )
    backup = tmp_path / "backup"
    metadata = json.loads((backup / "training_metadata.json").read_text())
    files.verify(str(backup / "latest.weights.h5"), metadata["weights_sha256"], "ckpt")
    restored = model()
    restored.compile()
    restored.load_weights(str(backup / "latest.weights.h5"))
    check_finite_weights(restored)


def test_tfgen_train_exits_non_zero_on_nan(fake_data_dir, tmp_path, capsys):
    from tfgen import cli

    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "model": "PixelCNN",
                "config": {
                    "image_shape": [28, 28, 1],
                    "num_levels": 2,
                    "filters": 4,
                    "num_blocks": 1,
                },
                "dataset": {"name": "binarized_mnist"},
                "batch_size": 8,
                "epochs": 3,
                "precision": "float32",
                "optimizers": {"optimizer": {"learning_rate": 1e6}},
            }
        )
    )
    run_dir = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--recipe",
            str(recipe),
            "--data-dir",
            fake_data_dir,
            "--steps-per-epoch",
            "1",
            "-o",
            str(run_dir),
            "--verbose",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "tfgen: error:" in err and "non-finite" in err.lower(), err
    assert not (run_dir / "final").exists()


# Damaged checkpoints ------------------------------------------------------


def _gan():
    return tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,))


def _fit_gan(run_dir, epochs):
    data = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")
    return training.train(
        _gan, data, epochs, output_dir=str(run_dir), sample_every=0, verbose=0
    )[0]


def _flip_bit(path, offset_from_end=4096):
    """Flips one bit inside the weights' data (the last kilobytes of the
    HDF5 file hold the datasets)."""
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - offset_from_end))
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x40]))


def test_a_flipped_bit_falls_back_to_the_previous_checkpoint(tmp_path):
    """Issue 18, finding 7: a flipped bit changed a weight by 6e36 and the
    run resumed from it silently."""
    _fit_gan(tmp_path, 2)
    backup = tmp_path / "backup"
    _flip_bit(backup / "latest.weights.h5")
    with pytest.warns(UserWarning, match="sha256 mismatch.*resuming from the previous"):
        model = _fit_gan(tmp_path, 3)
    # The previous checkpoint was after epoch 1: epochs 2 and 3 ran again.
    assert int(model.g_optimizer.iterations.numpy()) == 3
    assert _history_epochs(tmp_path) == [0, 1, 2]
    # Both checkpoints damaged: training refuses to start over silently.
    _flip_bit(backup / "latest.weights.h5")
    _flip_bit(backup / "latest.weights.h5.bkp")
    with pytest.raises(ValueError, match="No checkpoint in .* can be resumed from"):
        _fit_gan(tmp_path, 4)


def test_a_checkpoint_without_a_sha256_still_resumes(tmp_path):
    """Runs checkpointed before the sha256 was recorded resume, with a
    warning that their weights are not checked."""
    _fit_gan(tmp_path, 1)
    path = tmp_path / "backup" / "training_metadata.json"
    metadata = json.loads(path.read_text())
    del metadata["weights_sha256"]
    path.write_text(json.dumps(metadata))
    with pytest.warns(UserWarning, match="records no sha256"):
        model = _fit_gan(tmp_path, 2)
    assert int(model.g_optimizer.iterations.numpy()) == 2


def test_export_refuses_non_finite_weights(tmp_path, monkeypatch):
    from tfgen import zoo

    model = _fit_gan(tmp_path / "run", 1)
    zoo.save(model, str(tmp_path / "run" / "final"), overwrite=True)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    # However the run's final/ came to hold them, export reads them first.
    monkeypatch.setattr(zoo, "load", lambda path: model)
    with pytest.raises(NonFiniteError, match="not exported"):
        recipes.export(str(tmp_path / "run"), "my_gan", zoo_dir=str(tmp_path))
    assert not (tmp_path / "my_gan").exists()
