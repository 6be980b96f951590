import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import training
from tfgen.models import latent
from tfgen.models.gan_penalties import gradient_penalty

TINY = {
    "GAN": dict(hidden_units=(16, 32), dropout=0.0),
    "DCGAN": dict(base_filters=4),
    "WGANGP": dict(base_filters=4, n_critic=2),
    "ConditionalDCGAN": dict(base_filters=4, num_classes=10),
    "SNGAN": dict(base_filters=4, d_steps=1),
}


def make(name, image_shape=(28, 28, 1), **kwargs):
    cls = tfgen.models.get(name)
    return cls(
        image_shape=image_shape, latent_dim=8, seed=0, **{**TINY[name], **kwargs}
    )


def batches(name, images, batch_size=8):
    if name == "ConditionalDCGAN":
        labels = np.arange(len(images)) % 10
        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size)


@pytest.mark.parametrize("name", sorted(TINY))
def test_mixed_bfloat16_step(name, images28):
    model, history = training.train(
        lambda: make(name),
        batches(name, images28),
        1,
        precision="mixed_bfloat16",
        verbose=0,
    )
    first = next(layer for layer in model.generator.layers if hasattr(layer, "kernel"))
    assert first.compute_dtype == "bfloat16" and first.kernel.dtype == "float32"
    assert model.generator.output.dtype == "float32"
    assert np.isfinite(history.history["g_loss"][-1])


def test_cifar_shapes():
    model = make("DCGAN", image_shape=(32, 32, 3))
    assert model.generator.output_shape == (None, 32, 32, 3)
    assert model.discriminator.output_shape == (None, 1)
    assert model.sample(2, seed=0).shape == (2, 32, 32, 3)


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_per_generator_step(k, images28):
    model = make("GAN", d_steps=k)
    model.compile()
    data = np.concatenate([images28, images28])[:24]
    model.fit(data, batch_size=12, epochs=1, verbose=0)  # 2 train steps
    assert int(model.g_optimizer.iterations) == 2
    assert int(model.d_optimizer.iterations) == 2 * k


def test_wgan_gp_counts_n_critic(images28):
    model = make("WGANGP", n_critic=4)
    model.compile()
    model.fit(images28, batch_size=16, epochs=1, verbose=0)
    assert (
        int(model.d_optimizer.iterations) == 4 * int(model.g_optimizer.iterations) == 4
    )


def test_wgan_without_penalty(images28):
    model = make("WGANGP", gp_weight=0.0)
    model.compile()
    history = model.fit(images28, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][-1])


def test_gradient_penalty_matches_hand_computation():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 2, 2, 1)).astype("float32")
    fake = rng.normal(size=(3, 2, 2, 1)).astype("float32")
    alpha = np.array([0.0, 0.25, 1.0], "float32")

    # D(x) = 0.5 * sum(x^2) has gradient x, so the penalty is (||x_hat|| - 1)^2.
    def critic(x):
        return (
            0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3], keepdims=False)[:, None]
        )

    got = gradient_penalty(critic, real, fake, alpha).numpy()
    x_hat = alpha[:, None, None, None] * real + (1 - alpha[:, None, None, None]) * fake
    expected = (np.sqrt((x_hat**2).sum(axis=(1, 2, 3))) - 1.0) ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_minimax_and_non_saturating_losses():
    model = make("GAN")
    logits = np.array([-2.0, 0.0, 3.0], "float32")
    d = 1 / (1 + np.exp(-logits))
    model.generator_loss = "minimax"
    np.testing.assert_allclose(
        model.generator_loss_fn(logits), np.log(1 - d), rtol=1e-5
    )
    model.generator_loss = "non_saturating"
    np.testing.assert_allclose(model.generator_loss_fn(logits), -np.log(d), rtol=1e-5)
    real, fake = np.array([1.0, -1.0], "float32"), np.array([0.5, 2.0], "float32")
    dr, df = 1 / (1 + np.exp(-real)), 1 / (1 + np.exp(-fake))
    np.testing.assert_allclose(
        model.discriminator_loss_fn(real, fake),
        -np.log(dr) - np.log(1 - df),
        rtol=1e-5,
    )


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("ema_decay", [None, 0.999])
def test_config_round_trip(name, ema_decay):
    model = make(name, ema_decay=ema_decay)
    config = model.get_config()
    assert config["ema_decay"] == ema_decay
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)
    )
    assert type(restored) is type(model) and restored.get_config() == config


@pytest.mark.parametrize("name", sorted(TINY))
def test_save_load_identical_samples(name, tmp_path, images28):
    model, _ = training.train(
        lambda: make(name), batches(name, images28), 1, precision="float32", verbose=0
    )
    tfgen.zoo.save(model, str(tmp_path / "saved"))
    loaded = tfgen.zoo.load(str(tmp_path / "saved"))
    np.testing.assert_array_equal(model.sample(6, seed=3), loaded.sample(6, seed=3))
    assert not np.array_equal(model.sample(6, seed=3), model.sample(6, seed=4))


def test_conditional_sampling_uses_labels():
    model = make("ConditionalDCGAN")
    a = model.sample(4, seed=0, labels=3)
    b = model.sample(4, seed=0, labels=[3, 3, 3, 3])
    c = model.sample(4, seed=0, labels=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_interpolation_endpoints():
    model = make("DCGAN")
    z = model.latents(2, seed=0)
    for method in ("linear", "slerp"):
        path = model.interpolate(steps=5, z0=z[0], z1=z[1], method=method)
        assert path.shape == (5, 28, 28, 1)
        np.testing.assert_allclose(path[0], model.generate(z[:1])[0], atol=1e-5)
        np.testing.assert_allclose(path[-1], model.generate(z[1:])[0], atol=1e-5)
    # One end given: the other is the matching prior draw of `latents`.
    half = model.interpolate(steps=3, z0=z[0], method="linear", seed=4)
    np.testing.assert_allclose(half[0], model.generate(z[:1])[0], atol=1e-5)
    end = model.latents(2, seed=4)[1:]
    np.testing.assert_allclose(half[-1], model.generate(end)[0], atol=1e-5)


def test_attribute_vector_of_latents():
    codes = np.array([[0, 0], [2, 0], [1, 1], [1, 5]], "float32")
    labels = [3, 3, 8, 8]
    vector = latent.attribute_vector(codes, labels, source=3, target=8)
    np.testing.assert_array_equal(vector, [1 - 1, 3 - 0])
    np.testing.assert_array_equal(
        latent.apply_attribute(codes[:2], vector, strength=0.5), [[0, 1.5], [2, 1.5]]
    )
    with pytest.raises(ValueError, match="No code with label 5"):
        latent.attribute_vector(codes, labels, 5, 8)
    with pytest.raises(ValueError, match="one entry per code"):
        latent.attribute_vector(codes, labels[:3], 3, 8)
    with pytest.raises(ValueError, match=r"vector.shape=\(3,\)"):
        latent.apply_attribute(codes, np.zeros(3))
    # A GAN's attribute vector is that of its latents; applying it
    # generates from the moved latents.
    model = make("GAN")
    z = model.latents(6, seed=0)
    labels = np.array([0, 1, 0, 1, 1, 0])
    vector = model.attribute_vector(z, labels, source=0, target=1)
    np.testing.assert_allclose(
        vector, z[labels == 1].mean(0) - z[labels == 0].mean(0), rtol=1e-6
    )
    np.testing.assert_array_equal(
        model.apply_attribute(z[:2], vector, strength=2.0),
        model.generate(z[:2] + 2.0 * vector),
    )
    with pytest.raises(ValueError, match=r"`z` must have shape \(n, 8\)"):
        model.attribute_vector(z[:, :3], labels, 0, 1)


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_generator_average_matches_hand_computation(strategy, images28):
    start = {}

    def build():
        model = make("DCGAN", ema_decay=0.9)
        start["weights"] = model.generator.get_weights()
        return model

    # One batch: one generator step, so the average is 0.9 * start + 0.1 * live.
    model, _ = training.train(
        build,
        batches("DCGAN", images28, batch_size=16),
        1,
        strategy=strategy,
        precision="float32",
        verbose=0,
    )
    live = model.generator.get_weights()
    average = model.ema_generator.get_weights()
    assert len(average) == len(live) == len(start["weights"])
    for a, s, w in zip(average, start["weights"], live):
        np.testing.assert_allclose(a, 0.9 * s + 0.1 * w, rtol=1e-6, atol=1e-7)
    # Batch-norm moving statistics are averaged too, and nothing averaged trains.
    assert len(model.ema_generator.non_trainable_weights) > 0
    assert not model.ema_generator.trainable_weights


def test_sampling_uses_the_average_and_round_trips(tmp_path, images28):
    model, _ = training.train(
        lambda: make("DCGAN", ema_decay=0.5),
        batches("DCGAN", images28),
        1,
        precision="float32",
        verbose=0,
    )
    z = model.latents(4, seed=2)
    np.testing.assert_array_equal(model.sample(4, seed=2), model.generate(z))
    averaged = model.generate(z)
    live = model.generate(z, use_ema=False)
    assert not np.allclose(averaged, live)
    tfgen.zoo.save(model, str(tmp_path / "saved"))
    loaded = tfgen.zoo.load(str(tmp_path / "saved"))
    assert loaded.ema_decay == 0.5
    np.testing.assert_array_equal(loaded.generate(z), averaged)
    np.testing.assert_array_equal(loaded.generate(z, use_ema=False), live)
    loaded.reset_ema()
    np.testing.assert_array_equal(loaded.generate(z), live)


class TestBadInput:
    def test_wrong_image_shape(self, images28):
        model = make("DCGAN", image_shape=(32, 32, 3))
        model.compile()
        with pytest.raises(ValueError, match=r"shape \(batch, 32, 32, 3\).*Received"):
            model.fit(images28, batch_size=8, epochs=1, verbose=0)

    def test_uint8_images(self):
        model = make("DCGAN")
        model.compile()
        x = np.zeros((8, 28, 28, 1), "uint8")
        with pytest.raises(TypeError, match="float images in \\[0, 1\\].*uint8"):
            model.fit(x, batch_size=8, epochs=1, verbose=0)

    def test_values_out_of_range(self, images28):
        model = make("DCGAN")
        model.compile()
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="Expected images in \\[0, 1\\]"
        ):
            model.fit(images28 * 255.0, batch_size=8, epochs=1, verbose=0)

    def test_conditional_needs_labels(self, images28):
        model = make("ConditionalDCGAN")
        model.compile()
        with pytest.raises(ValueError, match="class-conditional"):
            model.fit(images28, batch_size=8, epochs=1, verbose=0)

    def test_labels_out_of_range(self):
        with pytest.raises(ValueError, match=r"\[0, 10\).*Received"):
            make("ConditionalDCGAN").sample(2, labels=[0, 10])

    def test_labels_on_unconditional(self):
        with pytest.raises(ValueError, match="unconditional"):
            make("DCGAN").sample(2, labels=1)

    def test_bad_latent_shape(self):
        with pytest.raises(ValueError, match=r"\(n, 8\).*Received"):
            make("DCGAN").generate(np.zeros((2, 7)))

    def test_bad_sample_count(self):
        with pytest.raises(ValueError, match="positive integer"):
            make("DCGAN").sample(0)

    def test_bad_image_shape(self):
        with pytest.raises(ValueError, match="image_shape"):
            tfgen.DCGAN(image_shape=(28, 28))

    def test_bad_generator_loss(self):
        with pytest.raises(ValueError, match="generator_loss"):
            make("GAN", generator_loss="logistic")

    @pytest.mark.parametrize("decay", [0.0, 1.0, 1.5, -0.1])
    def test_bad_ema_decay(self, decay):
        with pytest.raises(ValueError, match=r"ema_decay.*\(0, 1\).*Received"):
            make("DCGAN", ema_decay=decay)

    def test_reset_without_average(self):
        with pytest.raises(ValueError, match="no generator average"):
            make("DCGAN").reset_ema()

    def test_wgan_refuses_batch_norm(self):
        with pytest.raises(ValueError, match="batch norm"):
            make("WGANGP", discriminator_norm="batch")
