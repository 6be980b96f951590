"""PixelCNN++: normalization, causality, the likelihood against NumPy, the
sampler's conditionals against the likelihood, the compiled-loop fallback,
config and weights, and a tiny fit. (The contract row in test_contract.py
covers fit steps in both precisions, two replicas and the seed rule.)"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import (
    assert_causal,
    assert_colours_read_their_pixel,
    assert_normalized,
    random_levels,
)
from causality import check_causal
from codec_models import register_tiny
from test_distributions import numpy_pixel_prob

import tfgen
from tfgen import codec, recipes, sampling, training, zoo
from tfgen.models import PixelCNNPlusPlus

TINY = dict(filters=4, num_blocks=1, num_mixtures=2, dropout=0.0, num_downsamplings=1)


def build(shape, levels, **kwargs):
    keras.utils.set_random_seed(0)
    return PixelCNNPlusPlus(shape, num_levels=levels, **{**TINY, "seed": 0, **kwargs})


# Models are shared by the tests: building and tracing one takes seconds.
@pytest.fixture(scope="module")
def rgb():
    """4x4 RGB with 256 levels at two resolutions (4x4, 2x2)."""
    return build((4, 4, 3), 256)


@pytest.fixture(scope="module")
def gray():
    """2x2 grayscale with 6 levels, class-conditional, one resolution."""
    return build((2, 2, 1), 6, num_classes=3, num_downsamplings=0)


def test_probabilities_of_all_images_sum_to_one(gray):
    # RGB: 2^12 images, each colour's conditional read from the coupling.
    assert_normalized(build((2, 2, 3), 2, num_downsamplings=0))
    assert_normalized(gray, labels=2)


def test_outputs_depend_only_on_earlier_inputs(rgb):
    jac = assert_causal(rgb)
    assert_colours_read_their_pixel(jac)
    # The mixture parameters of a pixel read none of its colours: only the
    # coupling does. The last pixel sees every earlier one (no blind spot).
    deps = check_causal(
        lambda x: rgb.mixture_network(rgb.network_args(x)),
        (4, 4, 3),
        groups=1,
        strict=True,
        name="mixture_network",
    )
    assert np.all(deps[-1, :-1] > 0)


def test_log_prob_matches_numpy(rgb):
    x = random_levels(2, (4, 4, 3), 256, seed=1)
    params = np.asarray(rgb.mixture_network(rgb.network_args(tf.constant(x))))
    levels = np.round(x * 255).astype(int)
    want = [
        sum(
            np.log(numpy_pixel_prob(params[n, i, j], levels[n, i, j], 2, 256))
            for i in range(4)
            for j in range(4)
        )
        for n in range(2)
    ]
    np.testing.assert_allclose(rgb.log_prob(x), want, rtol=1e-5)
    np.testing.assert_allclose(
        rgb.bits_per_dim(x), -np.array(want) / (48 * np.log(2.0)), rtol=1e-5
    )
    dist = rgb.distribution(x)
    np.testing.assert_allclose(
        dist.log_prob(rgb.distribution_values(x)), want, rtol=1e-5
    )


def test_sampler_draws_from_the_likelihood(rgb):
    """The network's per-level log-probabilities at an image sum to its
    log_prob, samples are on the grid, and a near-zero temperature draws
    each colour's most likely level given the colours drawn before it."""
    x = random_levels(3, (4, 4, 3), 256, seed=2)
    tables = np.asarray(rgb.network(rgb.network_args(tf.constant(x))))
    levels = np.round(x * 255).astype(int)
    picked = np.take_along_axis(tables, levels[..., None], -1)[..., 0]
    np.testing.assert_allclose(picked.sum((1, 2, 3)), rgb.log_prob(x), rtol=1e-5)

    greedy = rgb.sample(2, seed=0, temperature=1e-4)
    grid = greedy * 255
    np.testing.assert_array_equal(grid, np.round(grid))
    tables = np.asarray(rgb.network(rgb.network_args(tf.constant(greedy))))
    drawn = np.take_along_axis(tables, np.round(grid).astype(int)[..., None], -1)
    # The untrained tails hold near-equal mass at 0 and 255: ties within
    # what the noise at this temperature can swap.
    np.testing.assert_array_less(tables.max(-1) - drawn[..., 0], 1e-2)


def test_auto_sampling_picks_the_cached_sampler(rgb):
    # Pixel identity with the compiled loop: tests/test_pixel_cnn_pp_sampler.py.
    assert rgb.supports_cached_sampling
    assert sampling.sampler_options(rgb, "auto") == ("cached", False)
    images = random_levels(2, (4, 4, 3), 256, seed=4)
    known = sampling.completion_mask((4, 4, 3), "bottom_half")
    filled = rgb.complete(images, known, seed=0)[:, 0]
    np.testing.assert_array_equal(filled[:, :2], images[:, :2])


def test_config_round_trip_and_weights(gray, tmp_path):
    config = gray.get_config()
    assert config["num_classes"] == 3 and config["num_downsamplings"] == 0
    twin = PixelCNNPlusPlus.from_config({**config, "dropout": 0.25})
    assert PixelCNNPlusPlus.from_config(twin.get_config()).get_config() == {
        **config,
        "dropout": 0.25,
    }
    path = str(tmp_path / "pp.weights.h5")
    gray.save_weights(path)
    twin.load_weights(path)
    x = random_levels(2, (2, 2, 1), 6, seed=5)
    np.testing.assert_array_equal(
        twin.log_prob(x, labels=[0, 2]), gray.log_prob(x, labels=[0, 2])
    )
    # Dropout is on in training only.
    args = twin.network_args(tf.constant(x), twin.one_hot_labels([0, 2]))
    assert not np.array_equal(
        twin.mixture_network(args, training=True), twin.mixture_network(args)
    )


def test_likelihood_is_float32_under_mixed_precision():
    with training.precision_policy("mixed_bfloat16"):
        model = build((4, 4, 3), 256)
    assert model.mixture_network.output.dtype == "float32"
    assert model.network.output.dtype == "float32"
    assert model.mixture_network.get_layer("up1_0_u_conv1").compute_dtype == "bfloat16"


@pytest.mark.slow
def test_a_bf16_step_through_the_strided_layers():
    """The contract row trains one resolution; this steps through the
    strided and transposed layers in bf16 (its trace takes ~10 s)."""
    with training.precision_policy("mixed_bfloat16"):
        model = build((4, 4, 3), 256)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logs = model.train_on_batch(random_levels(2, (4, 4, 3), 256), return_dict=True)
    assert np.isfinite(logs["nll"])


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(dropout=1.0), "dropout"),
        (dict(num_downsamplings=3), "divisible by 8"),
        (dict(num_downsamplings=-1), "non-negative"),
        (dict(num_mixtures=0), "num_mixtures"),
    ],
)
def test_bad_sizes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelCNNPlusPlus((4, 4, 3), **{**TINY, **kwargs})


def test_is_exported():
    assert tfgen.PixelCNNPlusPlus is PixelCNNPlusPlus
    assert tfgen.models.get("PixelCNNPlusPlus") is PixelCNNPlusPlus


def test_codec_round_trip_is_bit_exact(tmp_path, monkeypatch):
    """The codec's float64 copy computes the level tables in float64: its
    parallel encoding pass and its compiled decoding loop agree bit for bit
    (in float32 they differ by an ulp, which the range decoder cannot
    absorb)."""
    monkeypatch.setattr(zoo, "_REGISTRY", dict(zoo._REGISTRY))
    config = dict(image_shape=(2, 2, 3), num_levels=256, **TINY)
    model = register_tiny("PixelCNNPlusPlus", config, tmp_path, "pp-tiny")
    levels = np.random.default_rng(7).integers(0, 256, (5, 2, 2, 3))
    blob = codec.compress(levels, model, batch_size=3)
    np.testing.assert_array_equal(codec.decompress(blob), levels)


RECIPE = os.path.join(
    os.path.dirname(__file__), "..", "recipes", "pixelcnn_pp_cifar.json"
)


def test_the_cifar_recipe_schedule_ends_with_its_run():
    spec = recipes.from_file(RECIPE)
    assert spec.model == "PixelCNNPlusPlus" and spec.dataset["name"] == "cifar10"
    steps = spec.epochs * (50_000 // spec.batch_size)  # drop_remainder
    rate = spec.optimizers["optimizer"]["learning_rate"]["config"]
    assert rate["decay_steps"] == steps
    # tests/test_training.py builds it and takes a step (every recipe file).


def test_a_tiny_fit_lowers_the_loss(gray):
    """Last: it trains the shared model."""
    gray.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = random_levels(8, (2, 2, 1), 6, seed=6)
    x[:, 1, 1] = x[:, 0, 0]  # learnable from the past
    labels = np.arange(8) % 3
    before = float(gray.log_prob(x, labels=labels).mean())
    batches = tf.data.Dataset.from_tensors((x, labels)).repeat()
    gray.fit(batches, steps_per_epoch=40, epochs=1, verbose=0)
    after = float(gray.log_prob(x, labels=labels).mean())
    assert after > before + 0.2 * abs(before), (before, after)
