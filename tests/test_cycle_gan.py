import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen
from tfgen import cli, training
from tfgen.layers import ImagePool
from tfgen.models.cycle_gan import cycle_loss, identity_loss, least_squares_loss
from tfgen.models.diff_augment import diff_augment

SHAPE = (8, 8, 3)
TINY = dict(base_filters=4, num_blocks=1, discriminator_layers=2, pool_size=50)


def make(**kwargs):
    return tfgen.CycleGAN(image_shape=SHAPE, seed=0, **{**TINY, **kwargs})


def pairs(n=8, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random((n, *SHAPE)).astype("float32")
    b = rng.random((n, *SHAPE)).astype("float32")
    return a, b


def _sgd():
    names = ("g_ab_optimizer", "g_ba_optimizer", "d_a_optimizer", "d_b_optimizer")
    return {name: keras.optimizers.SGD(0.1, name=name) for name in names}


@pytest.fixture(scope="module")
def mirrored_run():
    """One mirrored, mixed-precision epoch (2 steps) of a tiny CycleGAN: its
    trace is most of this file's time, so the tests of the step and of saving
    a trained model share it."""
    data = tf.data.Dataset.from_tensor_slices(pairs()).batch(4)
    return training.train(make, data, 1, strategy="mirrored", verbose=0)


def test_mirrored_fit_step_shares_the_pools(mirrored_run):
    # The default run's CycleGAN fit step; test_contract.py's float32 and
    # mixed-precision one-step checks of the row run under --runslow.
    model, history = mirrored_run
    for name in ("g_loss", "d_a_loss", "d_b_loss", "cycle_loss", "identity_loss"):
        assert np.isfinite(history.history[name][-1])
    # Every named optimizer was built in compile and stepped twice.
    for name in _sgd():
        assert getattr(model, name).name == name
        assert int(getattr(model, name).iterations.numpy()) == 2
    # Each replica's pool took its share of the 8 generated images.
    assert int(np.asarray(model.pool_a.count.value)) in (4, 8)


def test_config_and_save_load_round_trip(tmp_path, mirrored_run):
    config = make(num_blocks=2, cycle_weight=5.0).get_config()
    assert tfgen.CycleGAN.from_config(config).get_config() == config
    # A trained model (weights moved, pools filled) saves and loads whole.
    model, _ = mirrored_run
    tfgen.zoo.save(model, str(tmp_path / "cg"))
    loaded = tfgen.zoo.load(str(tmp_path / "cg"))
    for got, want in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=want.path)
    assert int(np.asarray(loaded.pool_a.count.value)) > 0
    np.testing.assert_array_equal(
        loaded.pool_a.images.numpy(), model.pool_a.images.numpy()
    )
    # The model trained in mixed precision and loads in float32 (the global
    # policy): it translates as the trained weights do in float32.
    trained = make()
    trained.set_weights(model.get_weights())
    a, _ = pairs(3, seed=5)
    np.testing.assert_allclose(loaded.translate(a), trained.translate(a), atol=1e-6)


class TestImagePool:
    def test_fills_to_size_and_returns_new_images_meanwhile(self):
        pool = ImagePool(50, seed=0)
        x = np.arange(60, dtype="float32").reshape(60, 1, 1, 1)
        # While filling, every image is stored and returned as it is.
        np.testing.assert_array_equal(pool(x[:30]).numpy(), x[:30])
        np.testing.assert_array_equal(pool(x[30:50]).numpy(), x[30:50])
        assert int(pool.count.numpy()) == 50
        np.testing.assert_array_equal(pool.images.numpy().ravel(), np.arange(50))
        pool(x[50:])
        assert int(pool.count.numpy()) == 50

    def test_full_pool_swaps_with_probability_one_half(self):
        pool = ImagePool(50, seed=1)
        pool(np.arange(50, dtype="float32").reshape(50, 1, 1, 1))
        queries = -1.0 - np.arange(2000, dtype="float32").reshape(2000, 1, 1, 1)
        out = pool(queries).numpy().ravel()
        swapped = out != queries.ravel()
        # Binomial(2000, 1/2): the standard deviation of the fraction is 0.011.
        assert abs(swapped.mean() - 0.5) < 0.05
        # A swapped-out image is one the pool held: a stored original (>= 0)
        # or an earlier query, never a later one.
        later = [
            v < 0 and v <= q for v, q in zip(out[swapped], queries.ravel()[swapped])
        ]
        assert not any(later)
        assert int(pool.count.numpy()) == 50

    def test_zero_size_passes_through(self):
        x = np.ones((3, 2, 2, 1), "float32")
        np.testing.assert_array_equal(ImagePool(0)(x).numpy(), x)

    def test_bad_size(self):
        with pytest.raises(ValueError, match="non-negative integer"):
            ImagePool(-1)


def test_losses_match_hand_computation():
    real = np.array([[0.0, 1.0], [2.0, -1.0]], "float32").reshape(2, 1, 2, 1)
    other = np.array([[1.0, 1.0], [0.0, 0.0]], "float32").reshape(2, 1, 2, 1)
    # mean |other - real| per image: (1 + 0) / 2 and (2 + 1) / 2.
    np.testing.assert_allclose(cycle_loss(real, other, 10.0), [5.0, 15.0])
    np.testing.assert_allclose(identity_loss(real, other, 5.0), [2.5, 7.5])
    # mean (d - 1)^2 and mean d^2 over patches.
    d = np.array([[0.5, 1.0], [3.0, -1.0]], "float32").reshape(2, 1, 2, 1)
    np.testing.assert_allclose(least_squares_loss(d, 1.0), [0.125, 4.0])
    np.testing.assert_allclose(least_squares_loss(d, 0.0), [0.625, 5.0])


def test_model_losses_match_hand_computation():
    model = make(cycle_weight=10.0, identity_weight=0.5)
    a, b = (x * 2.0 - 1.0 for x in pairs(2))
    _, _, adversarial, cycle, identity = model._generator_losses(a, b)
    g, f = model.generator_ab, model.generator_ba
    fake_b, fake_a = g(a).numpy(), f(b).numpy()
    want_cycle = 10.0 * (
        np.abs(f(fake_b).numpy() - a).mean(axis=(1, 2, 3))
        + np.abs(g(fake_a).numpy() - b).mean(axis=(1, 2, 3))
    )
    want_identity = 5.0 * (
        np.abs(g(b).numpy() - b).mean(axis=(1, 2, 3))
        + np.abs(f(a).numpy() - a).mean(axis=(1, 2, 3))
    )
    want_adversarial = ((model.discriminator_b(fake_b).numpy() - 1.0) ** 2).mean(
        axis=(1, 2, 3)
    ) + ((model.discriminator_a(fake_a).numpy() - 1.0) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(cycle, want_cycle, rtol=1e-5)
    np.testing.assert_allclose(identity, want_identity, rtol=1e-5)
    np.testing.assert_allclose(adversarial, want_adversarial, rtol=1e-5)
    # No identity term when its weight is 0.
    _, _, _, _, none = make(identity_weight=0.0)._generator_losses(a, b)
    np.testing.assert_array_equal(none, [0.0, 0.0])


class TestDiffAugment:
    POLICY = "translation,cutout"

    def test_every_discriminator_input_is_augmented(self):
        model = make(diff_augment=self.POLICY)
        # An int seed draws the same augmentation on every call, so the
        # step's losses can be recomputed by hand.
        model.augment_seed = 7
        a, b = (x * 2.0 - 1.0 for x in pairs(2))
        plain = make()
        plain.set_weights(model.get_weights())
        _, _, adversarial, cycle, identity = model._generator_losses(a, b)
        _, _, adversarial_plain, cycle_plain, identity_plain = plain._generator_losses(
            a, b
        )
        fake_b, fake_a = model.generator_ab(a), model.generator_ba(b)

        def seen(discriminator, images):
            return discriminator(diff_augment(images, self.POLICY, 7)).numpy()

        want = ((seen(model.discriminator_b, fake_b) - 1.0) ** 2).mean(
            axis=(1, 2, 3)
        ) + ((seen(model.discriminator_a, fake_a) - 1.0) ** 2).mean(axis=(1, 2, 3))
        np.testing.assert_allclose(adversarial, want, rtol=1e-5)
        assert not np.allclose(adversarial, adversarial_plain)
        # Cycle and identity terms never pass through a discriminator.
        np.testing.assert_array_equal(cycle, cycle_plain)
        np.testing.assert_array_equal(identity, identity_plain)
        # The discriminator's step sees augmented real and fake images too.
        model.compile(**_sgd())
        d_loss = model._discriminator_step(
            model.discriminator_b, model.d_b_optimizer, b, fake_b
        )
        want_d = 0.5 * (
            ((seen(plain.discriminator_b, b) - 1.0) ** 2).mean(axis=(1, 2, 3))
            + (seen(plain.discriminator_b, fake_b) ** 2).mean(axis=(1, 2, 3))
        )
        np.testing.assert_allclose(d_loss, want_d, rtol=1e-5)

    @pytest.mark.slow  # tracing the four-network train step: ~13 s on one core
    def test_fit_step_with_augmentation(self):
        model = make(diff_augment=self.POLICY)
        model.compile(**_sgd())
        history = model.fit(
            tf.data.Dataset.from_tensor_slices(pairs(4)).batch(4), epochs=1, verbose=0
        )
        assert np.isfinite(history.history["g_loss"][-1])

    def test_config_and_paper_default(self):
        model = make(diff_augment=self.POLICY)
        config = model.get_config()
        assert config["diff_augment"] == self.POLICY
        assert tfgen.CycleGAN.from_config(config).get_config() == config
        # Without a policy the model keeps the paper's variables (no seed
        # state), so entries trained without augmentation load unchanged.
        assert make().get_config()["diff_augment"] is None
        assert not hasattr(make(), "augment_seed")
        with pytest.raises(ValueError, match="DiffAugment policy"):
            make(diff_augment="rotate")


def test_translate_keeps_shape_and_range():
    model = make()
    a, _ = pairs(5)
    for direction in ("a2b", "b2a"):
        out = model.translate(a, direction=direction, batch_size=2)
        assert out.shape == a.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
    forward, back = model.cycle(a[:2])
    assert forward.shape == back.shape == (2, *SHAPE)


def test_linear_decay_schedule():
    rate = training.LinearDecay(2e-4, 100, 200)
    values = [float(rate(s)) for s in (0, 100, 150, 200, 300)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 1e-4, 0.0, 0.0], atol=1e-12)
    again = training.LinearDecay.from_config(rate.get_config())
    assert float(again(150)) == pytest.approx(1e-4)
    model = make()
    model.compile(decay_steps=(1, 3))
    assert float(model.g_ab_optimizer.learning_rate) == pytest.approx(2e-4)


class TestBadInput:
    def test_single_domain_batches(self):
        model = make()
        model.compile()
        with pytest.raises(ValueError, match=r"\(a, b\)"):
            model.fit(pairs()[0], batch_size=4, epochs=1, verbose=0)

    def test_wrong_shape(self):
        with pytest.raises(ValueError, match=r"\(None, 8, 8, 3\).*Received"):
            make().translate(np.zeros((2, 4, 4, 3), "float32"))

    def test_out_of_range(self):
        with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
            make().translate(np.full((1, *SHAPE), 2.0, "float32"))

    def test_bad_direction(self):
        with pytest.raises(ValueError, match="direction"):
            make().translate(pairs(1)[0], direction="b2b")

    def test_indivisible_shape(self):
        with pytest.raises(ValueError, match="divisible by 4"):
            tfgen.CycleGAN(image_shape=(10, 10, 3))

    def test_does_not_pretend_to_sample(self):
        assert not hasattr(make(), "sample")


class TestUnpairedData:
    def test_class_subsets(self, fake_data_dir):
        x, y = tfgen.data.load_arrays("cifar10", "train", data_dir=fake_data_dir)
        cats = tfgen.data.load_domain("cifar10:cat", data_dir=fake_data_dir)
        np.testing.assert_array_equal(cats, x[y == 3])
        dogs = tfgen.data.load_domain("cifar10:5", data_dir=fake_data_dir)
        ds = tfgen.data.load_unpaired(
            "cifar10:cat", "cifar10:5", data_dir=fake_data_dir, shuffle=True, seed=0
        )
        items = list(ds.as_numpy_iterator())
        assert len(items) == max(len(cats), len(dogs))
        a, b = items[0]
        assert a.shape == b.shape == (32, 32, 3) and a.dtype == np.float32

    def test_folders_and_bad_names(self, tmp_path, fake_data_dir):
        rng = np.random.default_rng(0)
        for side, n in (("a", 3), ("b", 5)):
            tfgen.images.save_images(
                rng.random((n, 8, 8, 3)),
                str(tmp_path / side),
                [f"{i}.png" for i in range(n)],
            )
        ds = tfgen.data.load_unpaired(
            str(tmp_path / "a"), str(tmp_path / "b"), batch_size=2
        )
        assert sum(int(a.shape[0]) for a, _ in ds) == 5
        with pytest.raises(ValueError, match="Unknown class"):
            tfgen.data.load_domain("cifar10:unicorn", data_dir=fake_data_dir)
        with pytest.raises(tfgen.data.DatasetNotFoundError, match="download=True"):
            tfgen.data.load_domain(
                "cycle_gan/horse2zebra:A", tfds_data_dir=str(tmp_path / "tfds")
            )


def test_preview_grid(fake_data_dir):
    model = tfgen.CycleGAN(image_shape=(32, 32, 3), seed=0, **TINY)
    images, nrow = model.preview(
        4, domain_a="cifar10:cat", domain_b="cifar10:dog", data_dir=fake_data_dir
    )
    assert nrow == 3 and images.shape[1:] == (32, 32, 3) and len(images) % 3 == 0


def test_cli_translate(tmp_path, capsys):
    model = make()
    tfgen.zoo.save(model, str(tmp_path / "cg"))
    rng = np.random.default_rng(0)
    tfgen.images.save_images(
        rng.random((3, *SHAPE)), str(tmp_path / "in"), ["x.png", "y.png", "z.png"]
    )
    out = tmp_path / "out"
    assert (
        cli.main(
            ["translate", str(tmp_path / "cg"), str(tmp_path / "in"), "-o", str(out)]
        )
        == 0
    )
    assert sorted(os.listdir(out)) == ["grid.png", "x.png", "y.png", "z.png"]
    one = tmp_path / "one.png"
    code = cli.main(
        [
            "translate",
            str(tmp_path / "cg"),
            str(tmp_path / "in" / "x.png"),
            "--direction",
            "b2a",
            "-o",
            str(one),
        ]
    )
    assert code == 0 and one.exists() and (tmp_path / "one_grid.png").exists()
    tfgen.images.save_images(
        rng.random((1, 4, 4, 3)), str(tmp_path / "small"), ["s.png"]
    )
    # Images of the wrong size are refused input (exit 1), and nothing is written.
    refused = tmp_path / "refused"
    code = cli.main(
        ["translate", str(tmp_path / "cg"), str(tmp_path / "small"), "-o", str(refused)]
    )
    assert code == 1 and "Received" in capsys.readouterr().err
    assert not refused.exists()
