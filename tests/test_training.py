import csv
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import training

WORKER = os.path.join(os.path.dirname(__file__), "train_worker.py")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _history_epochs(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


# Slow: three training processes (~20 s); in the default run,
# test_training_faults' drawn kills check the resumed state, history and
# wall clock. Only this test checks the sample grids across a real restart.
@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    killed = subprocess.run(
        [sys.executable, WORKER, run_dir, "--epochs", "3", "--kill-after-epoch", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    with open(os.path.join(run_dir, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 2
    dump = str(tmp_path / "weights.npz")
    resumed = subprocess.run(
        [sys.executable, WORKER, run_dir, "--epochs", "3", "--dump", dump],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Epochs 0 and 1 ran before the kill; only epoch 2 ran after it.
    assert _history_epochs(run_dir) == [0, 1, 2]
    with np.load(dump) as saved:
        # The optimizers' step counters came back from the checkpoint.
        assert int(saved["g_iterations"]) == 3 * 2
        assert int(saved["d_iterations"]) == 3 * 2
    assert sorted(os.listdir(os.path.join(run_dir, "samples"))) == [
        "epoch_0001.png",
        "epoch_0002.png",
        "epoch_0003.png",
    ]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # two worker processes on localhost: ~30 s on one core
def test_multi_worker_training_on_localhost(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ)
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        env["CUDA_VISIBLE_DEVICES"] = ""
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    WORKER,
                    str(tmp_path / "run"),
                    "--epochs",
                    "2",
                    "--strategy",
                    "multi_worker",
                    "--dump",
                    str(tmp_path / f"worker{index}.npz"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    with np.load(tmp_path / "worker0.npz") as a, np.load(tmp_path / "worker1.npz") as b:
        assert int(a["g_iterations"]) == int(b["g_iterations"]) == 2 * 2
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-7)
    # Only the chief writes into the run folder; the other worker has its own.
    assert os.path.isfile(tmp_path / "run" / "history.csv")
    assert os.path.isdir(tmp_path / "run" / "worker_worker_1")


def test_precision_policy_is_restored():
    before = keras.config.dtype_policy().name
    with training.precision_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


def test_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        training.get_strategy("tpu_pod")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.get_strategy("multi_worker")


def test_recipe_file_with_a_schedule_and_weight_average(tmp_path):
    from tfgen import recipes

    path = tmp_path / "recipe.json"
    path.write_text(
        json.dumps(
            {
                "model": "PixelCNN",
                "config": {"image_shape": [8, 8, 1], "num_levels": 2},
                "dataset": {"name": "binarized_mnist"},
                "optimizers": {
                    "optimizer": {
                        "learning_rate": {
                            "class_name": "CosineDecay",
                            "config": {
                                "initial_learning_rate": 1e-3,
                                "decay_steps": 100,
                            },
                        },
                        "use_ema": True,
                    }
                },
            }
        )
    )
    spec = recipes.from_file(str(path))
    optimizer = recipes.compile_kwargs(spec)["optimizer"]
    assert optimizer.name == "optimizer" and optimizer.use_ema
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)
    path.write_text(json.dumps({"model": "PixelCNN", "epochz": 3}))
    with pytest.raises(ValueError, match="Unknown recipe fields \\['epochz'\\]"):
        recipes.from_file(str(path))


# Recipes from files in the repository (runs in progress, before export).
RECIPE_FILES = sorted(
    os.path.join(REPO, "recipes", name)
    for name in (
        os.listdir(os.path.join(REPO, "recipes"))
        if os.path.isdir(os.path.join(REPO, "recipes"))
        else []
    )
    if name.endswith(".json")
)


def _recipe_case(source):
    # CycleGAN's recipe builds two 32x32 ResNet generators (~35 s on one
    # core), PixelCNN++'s CIFAR recipe a 3.9M-parameter U-Net (~60 s), SNGAN's
    # five discriminator steps per generator step ~44 s.
    slow = source.startswith(("cyclegan", "recipes/pixelcnn_pp", "recipes/sngan"))
    return pytest.param(source, marks=[pytest.mark.slow] if slow else [])


def _recipe_sources():
    """Every zoo entry's recipe and every recipe file, each distinct recipe
    once: an exported run's file is its entry's recipe."""
    from tfgen import recipes

    files = [os.path.relpath(p, REPO) for p in RECIPE_FILES]
    in_files = [recipes.from_file(os.path.join(REPO, f)) for f in files]
    entries = [
        n for n in sorted(tfgen.zoo.list()) if recipes.from_zoo(n) not in in_files
    ]
    return entries + files


@pytest.mark.parametrize("source", [_recipe_case(s) for s in _recipe_sources()])
def test_every_recipe_runs_one_tiny_step(source, fake_data_dir, tmp_path):
    """The recipe's own model class, config, optimizers and precision build
    and take one step of 8 fake images; only the depth, the batch, the epochs
    and the grids are cut down."""
    from tfgen import recipes

    spec = (
        recipes.from_file(os.path.join(REPO, source))
        if source.endswith(".json")
        else recipes.from_zoo(source)
    )
    # At most two layers or blocks: the step still builds the recipe's model
    # class at its image size and widths, with its optimizers, schedule, EMA,
    # precision and validation; more depth only adds traced copies of the
    # same layer (the 7-layer PixelRNN recipes took 10-13 s a step).
    depth = {
        key: min(spec.config[key], 2)
        for key in ("num_layers", "num_blocks")
        if key in spec.config
    }
    spec = spec.replace(depth, epochs=1, batch_size=8)
    model = recipes.run(
        spec,
        str(tmp_path / "run"),
        data_dir=fake_data_dir,
        steps_per_epoch=1,
        verbose=0,
        sample_every=0,
    )
    assert type(model).__name__ == spec.model
    assert os.path.isfile(tmp_path / "run" / "final" / "model.weights.h5")
    if spec.validation:  # held-out curves beside the training ones
        with open(tmp_path / "run" / "history.csv") as f:
            assert "val_" in f.readline()


def _tiny_gan_recipe(**fields):
    """An MLP GAN on the fake MNIST, no grids."""
    from tfgen import recipes

    return recipes.RecipeSpec(
        model="GAN",
        config={"image_shape": [28, 28, 1], "latent_dim": 2, "hidden_units": [8]},
        dataset={"name": "mnist", "split": "train"},
        sample_every=0,
        **fields,
    )


def test_a_resumed_recipe_run_ends_with_the_uninterrupted_weights(
    fake_data_dir, tmp_path
):
    """The recipe's shuffled data stream starts at the epoch the checkpoint
    holds: one epoch, a stop, then two more give the weights of three
    epochs in one go (before, each rerun replayed epoch 0's order)."""
    from tfgen import recipes

    spec = _tiny_gan_recipe(batch_size=4, precision="float32")

    def run(folder, epochs):
        return recipes.run(
            spec.replace(epochs=epochs),
            str(tmp_path / folder),
            data_dir=fake_data_dir,
            verbose=0,
        )

    whole = run("whole", 3)
    run("stopped", 1)
    resumed = run("stopped", 3)
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


_NO_GPU = pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")),
    reason="bfloat16 is native on a GPU",
)


@pytest.mark.parametrize(
    "flags, policy",
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ({"avx2", "amx_bf16"}, "mixed_bfloat16"),
        ({"avx", "avx2", "fma"}, "float32"),
        (set(), "float32"),
    ],
)
@_NO_GPU
def test_auto_precision_follows_native_bfloat16(flags, policy, monkeypatch):
    from tfgen import reporting

    monkeypatch.setattr(reporting, "cpu_flags", lambda: frozenset(flags))
    assert training.resolve_precision("auto") == policy
    assert training.resolve_precision("float32") == "float32"
    with training.precision_policy("auto"):
        assert keras.config.dtype_policy().name == policy


@_NO_GPU
def test_bfloat16_without_native_support_warns_and_auto_is_recorded(
    fake_data_dir, tmp_path, monkeypatch
):
    from tfgen import recipes, reporting

    monkeypatch.setattr(reporting, "cpu_flags", lambda: frozenset({"avx2"}))
    build = lambda: tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,))  # noqa: E731
    data = np.zeros((4, 4, 4, 1), "float32")
    with pytest.warns(UserWarning, match=r"AVX2, no bf16.*precision='auto'"):
        training.train(build, data, 1, precision="mixed_bfloat16", verbose=0)
    spec = _tiny_gan_recipe(batch_size=8, precision="auto")
    model = recipes.run(
        spec,
        str(tmp_path / "run"),
        data_dir=fake_data_dir,
        steps_per_epoch=1,
        verbose=0,
    )
    with open(tmp_path / "run" / "run.json") as f:
        assert json.load(f)["recipe"]["precision"] == "float32"
    assert model.dtype_policy.name == "float32"


@pytest.mark.parametrize("epochs, steps_per_epoch", [(1, 0), (0, None), (1, -1)])
def test_sizes_below_one_are_refused(epochs, steps_per_epoch):
    with pytest.raises(ValueError, match="positive integer"):
        training.train(
            lambda: tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2),
            np.zeros((4, 4, 4, 1), "float32"),
            epochs,
            steps_per_epoch=steps_per_epoch,
            verbose=0,
        )


def test_a_damaged_latest_checkpoint_resumes_from_the_previous(tmp_path):
    """Issue 18, finding 2: an empty training_metadata.json (a kill during
    Keras's in-place rewrite) made every rerun fail with a JSON error."""
    run_dir = str(tmp_path / "run")
    data = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")

    def build():
        return tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,))

    def fit(epochs):
        return training.train(
            build, data, epochs, output_dir=run_dir, sample_every=0, verbose=0
        )[0]

    fit(2)
    backup = os.path.join(run_dir, "backup")
    assert sorted(os.listdir(backup)) == [
        "latest.weights.h5",
        "latest.weights.h5.bkp",
        "training_metadata.json",
        "training_metadata.json.bkp",
    ]
    open(os.path.join(backup, "training_metadata.json"), "w").close()
    open(os.path.join(run_dir, "wall_clock.json"), "w").close()
    with pytest.warns(UserWarning, match="resuming from the previous one"):
        model = fit(3)
    # The previous checkpoint was after epoch 1: epochs 2 and 3 ran again.
    assert int(model.g_optimizer.iterations.numpy()) == 3
    assert _history_epochs(run_dir) == [0, 1, 2]


def test_a_resumed_run_says_where_it_resumes(tmp_path, capsys):
    """Issue 22: a resumed run said nothing about resuming."""
    run_dir = str(tmp_path / "run")
    data = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")

    def build():
        return tfgen.GAN(image_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,))

    def fit(epochs, verbose=2):
        training.train(
            build, data, epochs, output_dir=run_dir, sample_every=0, verbose=verbose
        )
        return capsys.readouterr().out

    assert "resuming" not in fit(1)
    out = fit(3)
    backup = os.path.join(run_dir, "backup")
    # Numbered as Keras's own "Epoch 2/3" line that follows it.
    assert (
        f"resuming from epoch 2 of 3 (the checkpoint after epoch 1 in {backup})" in out
    )
    assert out.index("resuming from epoch 2") < out.index("Epoch 2/3")
    assert "nothing left to train" in fit(3)
    assert fit(3, verbose=0) == ""
