import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import (
    assert_cached_sampler_sees_the_network,
    random_levels,
)

from tfgen import sampling
from tfgen.levels import from_levels
from tfgen.models import (
    DiagonalBiLSTMPixelRNN,
    GatedPixelCNN,
    PixelCNN,
    RowLSTMPixelRNN,
)

TINY = dict(filters=6, head_filters=12, seed=0)
RNN = dict(first_kernel_size=3, head_filters=12, seed=0)
MODELS = {
    "pixelcnn_binary": lambda: PixelCNN(
        image_shape=(5, 6, 1), num_levels=2, num_blocks=2, **TINY
    ),
    "pixelcnn_rgb256": lambda: PixelCNN(
        image_shape=(4, 4, 3), num_levels=256, num_blocks=2, **TINY
    ),
    "gated_binary": lambda: GatedPixelCNN(
        image_shape=(5, 6, 1), num_levels=2, num_layers=3, **TINY
    ),
    "gated_rgb_conditional": lambda: GatedPixelCNN(
        image_shape=(4, 5, 3), num_levels=4, num_layers=3, num_classes=3, **TINY
    ),
    # PixelRNNs: their recurrent layers step one position at a time.
    "row_lstm_rgb": lambda: RowLSTMPixelRNN(
        image_shape=(4, 5, 3), num_levels=4, units=6, num_layers=2, **RNN
    ),
    "diagonal_rgb": lambda: DiagonalBiLSTMPixelRNN(
        image_shape=(4, 5, 3), num_levels=4, units=6, num_layers=2, **RNN
    ),
}


@pytest.fixture(scope="module")
def models():
    # Seeded weights: some random initial weights give two labels the same
    # sample, and the unseeded state depends on the tests run before.
    keras.utils.set_random_seed(0)
    return {name: build() for name, build in MODELS.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cached_sampler_equals_compiled_sampler(models, name):
    model = models[name]
    assert model.supports_cached_sampling
    compiled = model.sample(5, seed=7, method="compiled")
    cached = model.sample(5, seed=7, method="cached", jit_compile=False)
    np.testing.assert_array_equal(cached, compiled)
    assert not np.array_equal(
        model.sample(5, seed=8, method="cached", jit_compile=False), cached
    )
    if name in ("pixelcnn_rgb256", "gated_rgb_conditional"):
        # XLA-compiled (the default for the cached sampler) draws the same;
        # checked on two models, since each compilation takes seconds.
        np.testing.assert_array_equal(model.sample(5, seed=7), cached)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cached_sampler_computes_the_networks_logits(models, name):
    assert_cached_sampler_sees_the_network(models[name], n=3)


def test_public_sampler_loop_draws_what_sample_draws(models):
    # What benchmarks/sampling_speed.py runs: the loop on pre-drawn noise.
    model = models["gated_rgb_conditional"]
    labels = [2, 0, 1]
    shape = (3, *model.image_shape)
    run = sampling.sampler(model, "compiled")
    noise = sampling.sampling_noise(
        shape, model.num_levels, keras.random.SeedGenerator(4)
    )
    levels = run(
        tf.zeros(shape, tf.int32),
        tf.zeros(shape, tf.bool),
        noise,
        model.one_hot_labels(np.array(labels)),
        tf.constant(1.0),
    )
    np.testing.assert_array_equal(
        from_levels(np.asarray(levels), model.num_levels),
        model.sample(3, seed=4, labels=labels, method="compiled"),
    )


def test_model_keeps_one_loop_per_resolved_options(models):
    model = models["pixelcnn_binary"]
    assert sampling.sampler_options(model) == ("cached", True)
    assert sampling.sampler_options(model, "compiled") == ("compiled", False)
    assert sampling.sampler_options(model, "compiled", 1) == ("compiled", True)
    assert model.sampler() is model.sampler("cached", jit_compile=True)
    assert model.sampler("compiled") is model.sampler("compiled", False)
    assert model.sampler("compiled") is not model.sampler("cached", False)
    with pytest.raises(ValueError, match=r"one of \('auto', 'cached', 'compiled'\)"):
        sampling.sampler(model, "fast")


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("method", ["compiled", "cached"])
def test_completion_keeps_known_pixels(models, name, method):
    model = models[name]
    shape = model.image_shape
    images = random_levels(3, shape, model.num_levels, seed=1)
    known = np.zeros(shape[:2], bool)
    known[: shape[0] // 2] = True
    known[-1, 0] = True  # a known pixel after unknown ones
    labels = None if model.num_classes is None else [0, 1, 2]
    out = model.complete(
        images,
        known,
        num_samples=2,
        seed=0,
        method=method,
        labels=labels,
        jit_compile=False,
    )
    assert out.shape == (3, 2, *shape)
    for k in range(2):
        np.testing.assert_array_equal(out[:, k][:, known], images[:, known])
    # Unknown pixels are sampled (on the grid), not copied.
    assert not np.array_equal(out[:, 0][:, ~known], images[:, ~known])
    scaled = out * (model.num_levels - 1)
    np.testing.assert_array_equal(scaled, np.round(scaled))


def test_completion_with_per_colour_mask(models):
    model = models["pixelcnn_rgb256"]
    images = random_levels(2, model.image_shape, 256, seed=2)
    known = np.zeros((2, *model.image_shape), bool)
    known[:, :, :, 0] = True  # red everywhere is known
    out = model.complete(images, known, seed=0, jit_compile=False)[:, 0]
    np.testing.assert_array_equal(out[..., 0], images[..., 0])


def test_conditional_sampling_uses_labels(models):
    model = models["gated_rgb_conditional"]
    a = model.sample(4, seed=3, labels=0)
    b = model.sample(4, seed=3, labels=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(model.sample(4, seed=3, labels=[0] * 4), a)
    with pytest.raises(ValueError, match="labels"):
        model.sample(4, labels=3)
    with pytest.raises(ValueError, match="unconditional"):
        models["gated_binary"].sample(2, labels=1)


def test_temperature(models):
    model = models["pixelcnn_binary"]
    # Near zero temperature each pixel takes its likelier value given the
    # pixels drawn before it (where the model is not undecided).
    for seed in (0, 1):
        cold = model.sample(3, seed=seed, temperature=1e-6, method="compiled")
        logits = np.asarray(model(cold))
        decided = np.abs(logits) > 1e-3
        assert decided.mean() > 0.5
        np.testing.assert_array_equal(cold[decided], (logits > 0)[decided])
    hot = [model.sample(2, seed=s, method="compiled") for s in (0, 1)]
    assert not np.array_equal(hot[0], hot[1])
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            model.sample(1, temperature=bad)


def test_sampling_arguments_are_checked(models):
    model = models["pixelcnn_binary"]
    with pytest.raises(ValueError, match="method"):
        model.sample(1, method="fast")
    with pytest.raises(ValueError, match="n"):
        model.sample(0)
    images = random_levels(1, model.image_shape, 2)
    with pytest.raises(ValueError, match="known_mask"):
        model.complete(images, np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="bool"):
        model.complete(images, np.ones(model.image_shape[:2]))
    with pytest.raises(ValueError, match="grid"):
        model.complete(images * 0.5 + 0.25, np.ones(model.image_shape[:2], bool))


def test_batches_are_sampled_independently(models):
    model = models["pixelcnn_binary"]
    whole = model.sample(6, seed=5, batch_size=6, method="compiled")
    assert whole.shape == (6, *model.image_shape)
    split = model.sample(6, seed=5, batch_size=4, method="compiled")
    assert split.shape == whole.shape
    np.testing.assert_array_equal(np.unique(split), [0.0, 1.0])


def test_cli_sample_and_complete_write_grids(tmp_path, capsys):
    from PIL import Image

    from tfgen import cli, zoo

    model = MODELS["pixelcnn_binary"]()
    directory = str(tmp_path / "model")
    zoo.save(model, directory)
    out = str(tmp_path / "samples.png")
    assert (
        cli.main(["sample", directory, "-n", "4", "--method", "compiled", "-o", out])
        == 0
    )
    assert os.path.isfile(out)
    data = str(tmp_path / "images.npy")
    np.save(data, random_levels(3, model.image_shape, 2, seed=3))
    grid = str(tmp_path / "completions.png")
    args = ["complete", directory, "--data", data, "--num-images", "3"]
    args += ["--num-samples", "2", "--mask", "bottom_half", "--scale", "1"]
    assert cli.main([*args, "-o", grid, "--npy", str(tmp_path / "c.npy")]) == 0
    # 3 rows of (occluded, 2 completions, original), 2-pixel padding.
    height, width = model.image_shape[:2]
    assert Image.open(grid).size == (4 * (width + 2) + 2, 3 * (height + 2) + 2)
    completions = np.load(str(tmp_path / "c.npy"))
    assert completions.shape == (3, 2, *model.image_shape)
    original = np.load(data)
    np.testing.assert_array_equal(
        completions[:, :, :2], np.stack([original[:, :2]] * 2, 1)
    )
    assert "3 rows" in capsys.readouterr().out


def test_completion_masks():
    from tfgen.sampling import completion_grid, completion_mask

    known = completion_mask((28, 28, 1), "bottom_half")
    assert known[:14].all() and not known[14:].any()
    square = completion_mask((8, 8, 3), "square", size=4)
    assert (~square).sum() == 16 and not square[2:6, 2:6].any()
    with pytest.raises(ValueError, match="mask"):
        completion_mask((8, 8, 1), "left")
    with pytest.raises(ValueError, match="fit"):
        completion_mask((8, 8, 1), "square", size=9)
    images = np.ones((2, 8, 8, 1), "float32")
    rows = completion_grid(images, square, np.zeros((2, 3, 8, 8, 1), "float32"))
    assert rows.shape == (10, 8, 8, 1)
    assert rows[0][~square].max() == 0.5 and rows[4].min() == 1.0
