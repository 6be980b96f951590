"""The GAN tools shared by every adversarial model: losses, penalties,
DiffAugment, spectral normalization, two time scales and truncation,
checked against hand computations."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import recipes
from tfgen.models import gan_losses, gan_penalties, truncation
from tfgen.models.diff_augment import check_policy, diff_augment
from tfgen.models.train_core import replica_uniform

LOGITS_REAL = np.array([-2.0, -0.5, 0.0, 0.7, 3.0], "float32")
LOGITS_FAKE = np.array([1.5, -1.0, 0.0, 2.0, -3.0], "float32")


def tiny(name="GAN", **kwargs):
    config = {
        "GAN": dict(hidden_units=(8,), dropout=0.0),
        "DCGAN": dict(base_filters=4),
        "WGANGP": dict(base_filters=4, n_critic=1),
        "SNGAN": dict(base_filters=4, d_steps=1),
    }[name]
    shape = (8, 8, 1) if name == "GAN" else (8, 8, 3)
    return tfgen.models.get(name)(
        image_shape=shape, latent_dim=4, seed=0, **{**config, **kwargs}
    )


# ------------------------------------------------------------------ losses
def test_hinge_losses_match_hand_computation():
    d = gan_losses.discriminator_loss("hinge", LOGITS_REAL, LOGITS_FAKE)
    # max(0, 1 - l) + max(0, 1 + l~), element by element.
    expected = [
        max(0.0, 1.0 - r) + max(0.0, 1.0 + f)
        for r, f in zip(LOGITS_REAL.tolist(), LOGITS_FAKE.tolist())
    ]
    np.testing.assert_allclose(d, expected, rtol=1e-6)
    np.testing.assert_allclose(expected, [5.5, 1.5, 2.0, 3.3, 0.0], rtol=1e-6)
    g = gan_losses.generator_loss("hinge", LOGITS_FAKE)
    np.testing.assert_allclose(g, -LOGITS_FAKE)


def test_every_loss_against_its_formula():
    r, f = LOGITS_REAL.astype("float64"), LOGITS_FAKE.astype("float64")
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected_d = {
        "logistic": -np.log(sig(r)) - np.log(1 - sig(f)),
        "hinge": np.maximum(0, 1 - r) + np.maximum(0, 1 + f),
        "wasserstein": f - r,
    }
    expected_g = {
        "minimax": np.log(1 - sig(f)),
        "non_saturating": -np.log(sig(f)),
        "hinge": -f,
        "wasserstein": -f,
    }
    assert set(expected_d) == set(gan_losses.DISCRIMINATOR_LOSSES)
    assert set(expected_g) == set(gan_losses.GENERATOR_LOSSES)
    for name, value in expected_d.items():
        got = gan_losses.discriminator_loss(name, LOGITS_REAL, LOGITS_FAKE)
        np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=name)
    for name, value in expected_g.items():
        got = gan_losses.generator_loss(name, LOGITS_FAKE)
        np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=name)
    with pytest.raises(ValueError, match=r"`generator_loss` must be one of.*Received"):
        gan_losses.generator_loss("logistic", LOGITS_FAKE)


def test_a_model_trains_on_the_losses_it_names():
    model = tiny("DCGAN", discriminator_norm="none", discriminator_loss="hinge")
    np.testing.assert_allclose(
        model.discriminator_loss_fn(LOGITS_REAL, LOGITS_FAKE),
        gan_losses.discriminator_loss("hinge", LOGITS_REAL, LOGITS_FAKE),
    )
    with pytest.raises(ValueError, match="Wasserstein"):
        tiny("WGANGP", discriminator_loss="hinge")


# --------------------------------------------------------------- penalties
def test_r1_matches_hand_computation():
    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(size=(3, 2, 2, 1)).astype("float32"))

    # D(x) = 0.5 * sum(x^2) has gradient x, so R1 is ||x||^2 per example.
    def critic(x):
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]

    got = gan_penalties.r1_penalty(critic, real)
    np.testing.assert_allclose(got, (real.numpy() ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)


def test_r1_of_a_linear_discriminator_in_the_model():
    # hidden_units=() makes D(x) = w . x + b: grad_x D = w for every image,
    # so the penalty added is gamma / 2 * ||w||^2.
    model = tiny("GAN", hidden_units=(), r1_weight=4.0)
    real = tf.constant(np.random.default_rng(1).random((3, 8, 8, 1)), "float32")
    penalties = model.penalties(real * 2 - 1, real, None)
    weight, values = penalties["r1_penalty"]
    kernel = model.discriminator.layers[-1].kernel.numpy()
    assert weight == 2.0
    np.testing.assert_allclose(values, [np.sum(kernel**2)] * 3, rtol=1e-5)
    model.compile()
    logs = model.train_on_batch(real.numpy(), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "r1_penalty"}
    assert logs["r1_penalty"] > 0


def test_penalties_refuse_a_batch_norm_discriminator():
    with pytest.raises(ValueError, match=r"r1_penalty.*batch norm.*Received"):
        # DCGAN's default discriminator_norm="batch" (from its second stage)
        tfgen.DCGAN(image_shape=(16, 16, 3), base_filters=4, r1_weight=1.0)
    with pytest.raises(ValueError, match="r1_weight.*>= 0"):
        tiny("GAN", r1_weight=-1.0)


# ------------------------------------------------------------- DiffAugment
def _images(n=4, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, (n, size, size, 3)), "float32")


@pytest.mark.parametrize("policy", [None, "", [], ()])
def test_diff_augment_disabled_is_the_identity(policy):
    x = _images()
    assert diff_augment(x, policy, seed=0) is x
    model = tiny("GAN", diff_augment=policy)
    assert model.diff_augment is None and model._augment(x) is x


@pytest.mark.parametrize(
    "policy", ["color", "translation", "cutout", "color,translation,cutout"]
)
def test_diff_augment_shapes_seeds_and_gradients(policy):
    x = _images()
    out = diff_augment(x, policy, seed=3)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not np.allclose(out, x)
    # The same int seed gives the same augmentation; a SeedGenerator gives
    # the same sequence from the same seed, and fresh draws as it advances.
    np.testing.assert_array_equal(diff_augment(x, policy, seed=3), out)
    assert not np.array_equal(diff_augment(x, policy, seed=4), out)
    a, b = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)
    first = diff_augment(x, policy, seed=a)
    np.testing.assert_array_equal(first, diff_augment(x, policy, seed=b))
    assert not np.array_equal(first, diff_augment(x, policy, seed=a))
    # Differentiable: the images' gradient exists, is finite and not zero.
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.square(diff_augment(x, policy, seed=3)))
    grad = tape.gradient(total, x)
    assert grad is not None and np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_diff_augment_matches_hand_computation():
    n, size = 6, 8
    x = _images(n, size, seed=2).numpy().astype("float64")
    u = replica_uniform([n, 7], 11).numpy().astype("float64")

    # color: brightness, saturation, contrast (DiffAugment's definitions).
    c = x + (u[:, 0] - 0.5)[:, None, None, None]
    m = c.mean(axis=3, keepdims=True)
    c = (c - m) * (2 * u[:, 1])[:, None, None, None] + m
    m = c.mean(axis=(1, 2, 3), keepdims=True)
    c = (c - m) * (u[:, 2] + 0.5)[:, None, None, None] + m
    got = diff_augment(tf.constant(x, "float32"), "color", seed=11)
    np.testing.assert_allclose(got, c, rtol=1e-5, atol=1e-5)

    # translation: out[i, j] = x[i + ti, j + tj], zero outside; |t| <= 1.
    shift = 1  # round(8 / 8)
    ti = np.floor(u[:, 3] * (2 * shift + 1)).astype(int) - shift
    tj = np.floor(u[:, 4] * (2 * shift + 1)).astype(int) - shift
    t = np.zeros_like(x)
    for b in range(n):
        for i in range(size):
            for j in range(size):
                si, sj = i + ti[b], j + tj[b]
                if 0 <= si < size and 0 <= sj < size:
                    t[b, i, j] = x[b, si, sj]
    got = diff_augment(tf.constant(x, "float32"), "translation", seed=11)
    np.testing.assert_allclose(got, t, rtol=1e-6, atol=1e-6)

    # cutout: a 4x4 square (half the side) of zeros centred at a random
    # pixel, clipped at the border.
    half = 4
    ci = np.floor(u[:, 5] * (size + 1 - half % 2)).astype(int)
    cj = np.floor(u[:, 6] * (size + 1 - half % 2)).astype(int)
    k = x.copy()
    for b in range(n):
        i0, j0 = ci[b] - half // 2, cj[b] - half // 2
        k[b, max(i0, 0) : max(i0 + half, 0), max(j0, 0) : max(j0 + half, 0)] = 0
    got = diff_augment(tf.constant(x, "float32"), "cutout", seed=11)
    np.testing.assert_allclose(got, k, rtol=1e-6, atol=1e-6)


def test_diff_augment_policy_is_checked():
    assert check_policy(" color, cutout ") == ("color", "cutout")
    for bad in ("colour", "color,color", ["flip"]):
        with pytest.raises(ValueError, match="DiffAugment policy.*Received"):
            check_policy(bad)


def test_diff_augment_sees_real_and_fake_alike():
    """Both networks' steps augment every image the discriminator sees: the
    real and the generated batch in the discriminator's step, the generated
    one in the generator's."""
    model = tiny("GAN", diff_augment="translation,cutout", d_steps=2)
    model.compile()
    seen = []
    augment = model._augment

    def recording(images):
        seen.append(images)
        return augment(images)

    model._augment = recording
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    model.train_step(tf.constant(x))
    # Two discriminator steps on two images each (real, then fake), then the
    # generator's step on two fakes.
    assert [tuple(s.shape) for s in seen] == [(2, 8, 8, 1)] * 5
    np.testing.assert_allclose(seen[0], x[0::2] * 2 - 1)
    np.testing.assert_allclose(seen[2], x[1::2] * 2 - 1)


# -------------------------------------------------------- spectral norm
def _top_singular_values(model):
    values = []
    for layer in model.discriminator.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            kernel = layer.kernel.numpy()
            matrix = kernel.reshape(-1, kernel.shape[-1])
            values.append(np.linalg.svd(matrix, compute_uv=False)[0])
    return np.array(values)


def test_spectral_norm_brings_the_largest_singular_value_to_one():
    keras.utils.set_random_seed(0)
    model = tfgen.DCGAN(
        image_shape=(16, 16, 3),
        base_filters=4,
        spectral_norm=True,
        discriminator_norm="none",
        seed=0,
    )
    for layer in model.discriminator.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            layer.kernel.assign(layer.kernel * 3.0)  # far from norm 1
    before = _top_singular_values(model)
    assert len(before) == 3 and np.all(before > 1.5)
    x = _images(size=16)
    # One power iteration per training call; random kernels have close top
    # singular values, so the estimate needs a few dozen to settle.
    for _ in range(50):
        model.discriminator(x, training=True)
    np.testing.assert_allclose(_top_singular_values(model), 1.0, atol=1e-2)


def test_spectral_norm_keeps_float32_kernels_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny("SNGAN")
        wrapped = [
            layer
            for layer in model.discriminator.layers
            if isinstance(layer, keras.layers.SpectralNormalization)
        ]
        # every kernel layer: 2 convolutions per stage, the last one, the dense
        assert len(wrapped) == 2 * model.num_stages + 2
        model.discriminator(_images(), training=True)
        for layer in wrapped:
            kernel = layer.kernel.numpy()
            rounded = kernel.astype(tf.bfloat16.as_numpy_dtype).astype("float32")
            assert not np.array_equal(kernel, rounded), layer.name
    finally:
        keras.config.set_dtype_policy(previous)


def test_sngan_is_the_papers_standard_cnn_at_32x32():
    model = tfgen.models.SNGAN(image_shape=(32, 32, 3), seed=0)
    convs = [
        (layer.layer.kernel_size[0], layer.layer.strides[0], layer.layer.filters)
        for layer in model.discriminator.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
        and isinstance(layer.layer, keras.layers.Conv2D)
    ]
    assert convs == [
        (3, 1, 64),
        (4, 2, 64),
        (3, 1, 128),
        (4, 2, 128),
        (3, 1, 256),
        (4, 2, 256),
        (3, 1, 512),
    ]
    slopes = {
        float(layer.negative_slope)
        for layer in model.discriminator.layers
        if isinstance(layer, keras.layers.LeakyReLU)
    }
    assert slopes == {0.1}
    assert model.generator.input_shape == (None, 128)
    deconvs = [
        (layer.kernel_size[0], layer.strides[0], layer.filters)
        for layer in model.generator.layers
        if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert deconvs == [(4, 2, 256), (4, 2, 128), (4, 2, 64)]
    assert model.generator.layers[1].units == 4 * 4 * 512
    assert (model.generator_loss, model.discriminator_loss, model.d_steps) == (
        "hinge",
        "hinge",
        5,
    )
    model.compile()
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert (optimizer.beta_1, optimizer.beta_2) == (0.0, 0.9)
    with pytest.raises(ValueError, match="spectrally normalized"):
        tfgen.models.SNGAN(image_shape=(32, 32, 3), spectral_norm=False)


# ------------------------------------------------------- two time scales
def test_two_time_scales_are_the_two_named_optimizers():
    model = tiny("GAN")
    model.compile(
        d_optimizer=keras.optimizers.SGD(0.1, name="d_optimizer"),
        g_optimizer=keras.optimizers.SGD(0.0, name="g_optimizer"),
    )
    g_before = model.generator.get_weights()
    d_before = model.discriminator.get_weights()
    model.train_on_batch(
        np.random.default_rng(0).random((4, 8, 8, 1)), return_dict=True
    )
    for a, b in zip(g_before, model.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(d_before, model.discriminator.get_weights())
    )
    # A recipe's optimizers block sets each network's own rate.
    spec = recipes.RecipeSpec(
        model="GAN",
        config={},
        dataset={},
        optimizers={
            "d_optimizer": {"learning_rate": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
            "g_optimizer": {"learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9},
        },
    )
    kwargs = recipes.compile_kwargs(spec)
    model.compile(**kwargs)
    assert float(model.d_optimizer.learning_rate) == pytest.approx(4e-4)
    assert float(model.g_optimizer.learning_rate) == pytest.approx(1e-4)


# ------------------------------------------------------------- truncation
def test_truncation_resamples_beyond_the_threshold():
    model = tiny("GAN")
    z = model.latents(5000, seed=0)
    t = model.latents(5000, seed=0, truncation=1.0)
    assert np.abs(t).max() <= 1.0
    # Entries within the threshold are those of the untruncated draw.
    inside = np.abs(z) <= 1.0
    np.testing.assert_array_equal(t[inside], z[inside])
    # N(0, 1) truncated to [-1, 1] has variance 1 - 2 phi(1) / (2 Phi(1) - 1).
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    mass = math.erf(1 / math.sqrt(2))
    np.testing.assert_allclose(t.var(), 1 - 2 * phi / mass, atol=0.01)
    np.testing.assert_array_equal(model.latents(5000, seed=0, truncation=1.0), t)


def test_truncation_shrinks_sample_variance():
    model = tiny("GAN", hidden_units=(16,))
    full = model.sample(400, seed=1)
    tight = model.sample(400, seed=1, truncation=0.3)
    assert tight.var(axis=0).mean() < 0.5 * full.var(axis=0).mean()
    np.testing.assert_array_equal(model.sample(400, seed=1, truncation=0.3), tight)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="truncation.*Received"):
            model.sample(2, seed=0, truncation=bad)


def test_truncate_draws_from_its_generator():
    z = np.array([[0.5, 3.0], [-4.0, 0.1]], "float32")
    out = truncation.truncate(z, 1.0, np.random.default_rng(0))
    assert np.abs(out).max() <= 1.0 and out[0, 0] == 0.5 and out[1, 1] == 0.1
    np.testing.assert_array_equal(truncation.truncate(z, None, None), z)


# ----------------------------------------------------------- configuration
@pytest.mark.parametrize("name", ["GAN", "DCGAN", "WGANGP", "SNGAN"])
def test_every_option_round_trips(name):
    options = dict(r1_weight=2.0, diff_augment="color,cutout", ema_decay=0.99)
    if name != "SNGAN":
        options["spectral_norm"] = True
    if name in ("GAN", "DCGAN"):
        options.update(generator_loss="hinge", discriminator_loss="hinge")
    if name == "DCGAN":
        options["discriminator_norm"] = "layer"
    model = tiny(name, **options)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert clone.diff_augment == "color,cutout" and clone.r1_weight == 2.0
    assert any(
        isinstance(layer, keras.layers.SpectralNormalization)
        for layer in clone.discriminator.layers
    )


@pytest.mark.parametrize("name", ["GAN", "DCGAN", "WGANGP"])
def test_defaults_are_unchanged(name):
    model = tiny(name)
    config = model.get_config()
    assert config["r1_weight"] == 0.0 and config["diff_augment"] is None
    assert config["spectral_norm"] is False
    assert config.get("discriminator_loss", "logistic") == "logistic"
    assert not any(
        isinstance(layer, keras.layers.SpectralNormalization)
        for layer in model.discriminator.layers
    )
    expected = ["d_loss", "g_loss"]
    if name == "WGANGP":
        expected += ["gradient_penalty", "wasserstein_estimate"]
    assert [m.name for m in model.metrics] == expected
