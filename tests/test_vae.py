import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

import tfgen
from tfgen import distributions, training
from tfgen.cli import main

TINY = dict(latent_dim=4, hidden_units=(32,), base_filters=4, seed=0)


def _binary(n=16, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) < 0.3).astype("float32")


def _bytes(n=8, shape=(28, 28, 1), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, *shape)) / 255.0).astype("float32")


def _trained(model, x, steps=30, lr=3e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr, name="optimizer"))
    model.fit(x, epochs=steps, batch_size=len(x), verbose=0)
    return model


# ------------------------------------------------------------------ likelihood
def test_elbo_below_iwae_and_iwae_nondecreasing_in_k():
    keras.utils.set_random_seed(0)
    x = _binary(32, (8, 8, 1))
    model = tfgen.VAE((8, 8, 1), latent_dim=2, hidden_units=(32,), seed=0)
    _trained(model, x, steps=20)
    elbo = model.elbo(x, num_samples=2000, seed=1).mean()
    iwae = {
        k: np.mean([model.log_prob(x, num_samples=k, seed=s).mean() for s in range(4)])
        for k in (1, 10, 100, 1000)
    }
    # IWAE_1 is an unbiased estimate of the ELBO.
    assert iwae[1] == pytest.approx(elbo, abs=0.5)
    assert elbo <= iwae[10]
    assert iwae[1] < iwae[10] < iwae[100] < iwae[1000]


def test_log_prob_matches_numerical_integration_with_1d_latent():
    keras.utils.set_random_seed(0)
    x = _binary(8, (4, 4, 1), seed=3)
    model = tfgen.VAE((4, 4, 1), latent_dim=1, hidden_units=(16,), seed=0)
    _trained(model, x, steps=50)
    # log p(x) = log ∫ p(x|z) N(z; 0, 1) dz on a fine grid (trapezoid-free
    # Riemann sum; the integrand is smooth and negligible beyond |z| = 10).
    z = np.linspace(-10.0, 10.0, 8001, dtype="float32")[:, None]
    params = model.decoder(z)
    levels = tfgen.levels.to_levels(x, 2)
    log_px_z = model._pixel_distribution(params[:, None]).log_prob(levels[None])
    log_prior = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    integrand = np.asarray(log_px_z, "float64") + log_prior.astype("float64")
    exact = logsumexp(integrand, axis=0) + math.log(float(z[1, 0] - z[0, 0]))
    iwae = model.log_prob(x, num_samples=20000, seed=0)
    np.testing.assert_allclose(iwae, exact, atol=0.02)
    # ...where the ELBO is visibly looser, so the match is not trivial.
    assert np.max(exact - model.elbo(x, num_samples=2000, seed=0)) > 0.1
    assert np.all(iwae <= exact + 0.02)
    # The bound is chunked: chunk size does not change it beyond noise.
    chunked = model.log_prob(x, num_samples=20000, chunk_size=333, seed=0)
    np.testing.assert_allclose(chunked, exact, atol=0.02)


def test_decoder_log_prob_is_the_decoder_likelihood_for_any_leading_shape():
    x = _bytes(3)
    model = tfgen.VAE((28, 28, 1), likelihood="categorical", **TINY)
    z = model.latents(6, seed=0).reshape(2, 3, model.latent_dim)
    levels = tfgen.levels.to_levels(x, 256)
    by_row = [model.decoder_distribution(z[s]).log_prob(levels) for s in range(2)]
    np.testing.assert_allclose(model.decoder_log_prob(z, x), by_row, rtol=1e-6)
    np.testing.assert_allclose(model.decoder_log_prob(z[1], x), by_row[1], rtol=1e-6)


def test_analytic_kl_equals_monte_carlo_kl():
    x = _binary(4)
    model = tfgen.VAE((28, 28, 1), **TINY)
    q = model.posterior(x)
    assert isinstance(q, tfgen.distributions.tfd.MultivariateNormalDiag) or (
        type(q).__name__ == "MultivariateNormalDiag"
    )
    mean, scale = model.posterior_params(x)
    analytic = np.asarray(model.analytic_kl(mean, scale))
    z = q.sample(200000, seed=(1, 2))
    mc = np.asarray(tf.reduce_mean(q.log_prob(z) - model.prior().log_prob(z), axis=0))
    np.testing.assert_allclose(analytic, mc, rtol=0.02, atol=0.02)
    np.testing.assert_allclose(
        analytic, np.asarray(q.kl_divergence(model.prior())), rtol=1e-5
    )


def test_gradients_reach_encoder_through_reparameterized_sample():
    x = _binary(4)
    model = tfgen.VAE((28, 28, 1), **TINY)
    levels = tfgen.levels.to_levels(x, 2)
    eps = tf.random.stateless_normal((4, model.latent_dim), seed=(0, 1))
    with tf.GradientTape() as tape:
        log_px, _ = model._elbo_terms(x, levels, eps, training=True)
        # Only the reconstruction term: it depends on the encoder solely
        # through z = mean + scale * eps.
        loss = -tf.reduce_sum(log_px)
    grads = tape.gradient(loss, model.encoder.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_discretized_logistic_mixture_sums_to_one():
    rng = np.random.default_rng(0)
    # One grey pixel, 256 levels: every value of the support at once.
    params = rng.normal(size=(1, 1, 1, 3 * 5)).astype("float32")
    params[..., 10:] -= 2.0  # small scales: mass on few levels
    dist = distributions.discretized_logistic_mixture(params, 5, 1)
    levels = np.arange(256, dtype="float32").reshape(256, 1, 1, 1)
    log_p = np.asarray(dist.log_prob(levels), "float64")
    assert logsumexp(log_p) == pytest.approx(0.0, abs=1e-5)
    # The exact mean agrees with the enumeration.
    mean = np.asarray(distributions.discretized_logistic_mixture_mean(params, 5, 1))
    assert float(mean.reshape(())) == pytest.approx(
        float(np.sum(np.exp(log_p) * np.arange(256)) / 255), abs=1e-4
    )
    # RGB with 8 levels: the 8**3 joint values of a pixel sum to 1.
    params = rng.normal(size=(1, 1, 3 * (1 + 2 * 3))).astype("float32")
    dist = distributions.discretized_logistic_mixture(params, 3, 3, num_levels=8)
    grid = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(
        -1, 1, 1, 3
    )
    log_p = np.asarray(dist.log_prob(grid.astype("float32")), "float64")
    assert logsumexp(log_p) == pytest.approx(0.0, abs=1e-5)


def test_discretized_logistic_mixture_rejects_wrong_parameter_count():
    with pytest.raises(ValueError, match="takes 15 parameters"):
        distributions.discretized_logistic_mixture(np.zeros((1, 2, 2, 14)), 5, 1)


def test_bits_per_dim_of_8bit_model():
    x = _bytes(4)
    model = tfgen.VAE((28, 28, 1), likelihood="logistic_mixture", **TINY)
    bpd = model.bits_per_dim(x, num_samples=4)
    nats = -model.log_prob(x, num_samples=4)
    np.testing.assert_allclose(bpd, nats / (784 * math.log(2)), rtol=1e-4)
    assert np.all(bpd > 0)


# ------------------------------------------------------------- training steps
@pytest.mark.parametrize(
    "likelihood,encoder,decoder,shape",
    [
        ("bernoulli", "mlp", "mlp", (28, 28, 1)),
        ("bernoulli", "conv", "conv", (28, 28, 1)),
        ("categorical", "mlp", "conv", (28, 28, 1)),
        ("logistic_mixture", "conv", "mlp", (32, 32, 3)),
    ],
)
def test_fit_step_for_each_likelihood_and_network(likelihood, encoder, decoder, shape):
    x = _binary(4, shape) if likelihood == "bernoulli" else _bytes(4, shape)
    model = tfgen.VAE(
        shape, likelihood=likelihood, encoder=encoder, decoder=decoder, **TINY
    )
    model.compile()
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, epochs=1, batch_size=4, verbose=0).history
    assert set(history) >= {"elbo", "reconstruction", "kl", "loss"}
    assert np.isfinite(history["elbo"][0])
    assert history["elbo"][0] == pytest.approx(
        -(history["reconstruction"][0] + history["kl"][0]), rel=1e-5
    )
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert model.sample(2, seed=0).shape == (2, *shape)
    assert model.evaluate(x, batch_size=4, verbose=0, return_dict=True)["kl"] >= 0


def test_kl_warmup_ramps_the_kl_weight():
    x = _binary(4)
    model = tfgen.VAE((28, 28, 1), kl_warmup_steps=4, beta=2.0, **TINY)
    model.compile()
    weights = []
    for _ in range(6):
        weights.append(float(model.kl_weight()))
        model.train_on_batch(x)
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_mixed_bfloat16_step_keeps_float32_losses():
    x = _binary(4)
    with training.precision_policy("mixed_bfloat16"):
        model = tfgen.VAE((28, 28, 1), **TINY)
        model.compile()
        logs = model.train_on_batch(x, return_dict=True)
    assert model.encoder.layers[-1].compute_dtype == "float32"
    assert model.decoder.layers[1].compute_dtype == "bfloat16"
    assert all(np.isfinite(v) for v in logs.values())
    assert model.log_prob(x, num_samples=2).dtype == np.float64


def test_iwae_training_bound_is_the_estimators_iwae_k_of_the_same_draws():
    # The step's loss with importance_samples=k is -log (1/k) sum_i w_i,
    # the same log weights `estimators.log_weights` gives for the same eps.
    from tfgen.models import estimators

    x = _binary(5, (8, 8, 1))
    model = tfgen.VAE((8, 8, 1), importance_samples=3, **TINY)
    eps = np.random.default_rng(1).standard_normal((3, 5, 4)).astype("float32")
    loss, log_px, kl = model._iwae_terms(x, eps, 1.0, False)
    log_w = estimators.log_weights(model, x, eps).numpy().astype("float64")
    np.testing.assert_allclose(
        -np.asarray(loss), logsumexp(log_w, axis=0) - math.log(3), rtol=1e-5
    )
    z_free = model.decoder_log_prob(
        model.posterior_params(x)[0] + model.posterior_params(x)[1] * eps, x
    )
    np.testing.assert_allclose(log_px, np.mean(z_free, axis=0), rtol=1e-5)
    # With the warm-up weight at 0 the bound only sees log p(x|z).
    loss0, _, _ = model._iwae_terms(x, eps, 0.0, False)
    np.testing.assert_allclose(
        -np.asarray(loss0), logsumexp(z_free, axis=0) - math.log(3), rtol=1e-5
    )


def test_iwae_training_fits_and_tracks_minus_the_bound():
    x = _binary(16, (8, 8, 1))
    model = tfgen.VAE((8, 8, 1), importance_samples=5, **TINY)
    assert model.get_config()["importance_samples"] == 5
    _trained(model, x, steps=15)
    logs = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)
    # -IWAE_5 <= -ELBO on the same draws; the tracked elbo uses the draws'
    # mean log p(x|z) and the analytic KL.
    assert logs["loss"] <= -logs["elbo"] + 1.0
    assert logs["elbo"] == pytest.approx(-logs["reconstruction"] - logs["kl"])
    history = model.history.history["loss"]
    assert history[-1] < history[0]
    with pytest.raises(ValueError, match="importance_samples"):
        tfgen.VAE((8, 8, 1), importance_samples=0, **TINY)


# ------------------------------------------------------------------ bad input
def test_bad_input_raises_clear_errors():
    model = tfgen.VAE((28, 28, 1), **TINY)
    model.compile()
    with pytest.raises(ValueError, match=r"shape \(batch, 28, 28, 1\)"):
        model.train_on_batch(np.zeros((2, 32, 32, 1), "float32"))
    with pytest.raises(TypeError, match="float images"):
        model.train_on_batch(np.zeros((2, 28, 28, 1), "uint8"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="above 1"):
        model.train_on_batch(np.full((2, 28, 28, 1), 255.0, "float32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="binary images"):
        model.train_on_batch(np.full((2, 28, 28, 1), 0.5, "float32"))
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(np.zeros((2, 28, 28), "float32"))
    with pytest.raises(TypeError, match="float array"):
        model.encode(np.zeros((2, 28, 28, 1), "uint8"))
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        model.log_prob(np.full((2, 28, 28, 1), -1.0, "float32"))
    with pytest.raises(ValueError, match="binary images"):
        model.log_prob(np.full((1, 28, 28, 1), 0.5, "float32"))
    eight_bit = tfgen.VAE((28, 28, 1), likelihood="categorical", **TINY)
    with pytest.raises(ValueError, match="8-bit"):
        eight_bit.log_prob(np.full((1, 28, 28, 1), 0.3, "float32"))
    with pytest.raises(ValueError, match="likelihood"):
        tfgen.VAE((28, 28, 1), likelihood="gaussian")
    with pytest.raises(ValueError, match="encoder"):
        tfgen.VAE((28, 28, 1), encoder="resnet")
    with pytest.raises(ValueError, match="num_samples"):
        model.log_prob(_binary(1), num_samples=0)
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=3)


# ------------------------------------------------------------- serialization
def test_get_config_and_save_load_round_trip(tmp_path):
    x = _binary(4)
    model = tfgen.VAE((28, 28, 1), likelihood="bernoulli", kl_warmup_steps=7, **TINY)
    model.compile()
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    config = model.get_config()
    clone = tfgen.VAE.from_config(config)
    assert clone.get_config() == config
    tfgen.zoo.save(model, str(tmp_path / "vae"))
    loaded = tfgen.zoo.load(str(tmp_path / "vae"))
    assert isinstance(loaded, tfgen.VAE)
    np.testing.assert_array_equal(loaded.sample(3, seed=1), model.sample(3, seed=1))
    np.testing.assert_allclose(
        loaded.log_prob(x, num_samples=8, seed=0),
        model.log_prob(x, num_samples=8, seed=0),
        rtol=1e-6,
    )


# ---------------------------------------------------------------- latent tools
def test_latent_tools():
    x = _binary(6)
    model = tfgen.VAE((28, 28, 1), **TINY)
    codes = model.encode(x)
    assert codes.shape == (6, 4)
    np.testing.assert_allclose(model.features(x), codes)
    assert not np.allclose(model.encode(x, sample=True, seed=0), codes)
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1
    binary = model.decode(codes, mode="sample", seed=0)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    np.testing.assert_array_equal(
        model.decode(codes, mode="mode"), model.decode(codes) > 0.5
    )
    # Interpolation between two images starts and ends at their reconstructions.
    for method in ("linear", "slerp"):
        row = model.interpolate(x[0], x[1], steps=5, method=method)
        assert row.shape == (5, 28, 28, 1)
        np.testing.assert_allclose(row[0], recon[0], atol=1e-5)
        np.testing.assert_allclose(row[-1], recon[1], atol=1e-5)
    prior_row = model.interpolate(steps=4, seed=3)
    np.testing.assert_array_equal(prior_row, model.interpolate(steps=4, seed=3))
    labels = np.array([0, 0, 0, 7, 7, 7])
    vector = model.attribute_vector(x, labels, source=0, target=7)
    np.testing.assert_allclose(vector, codes[3:].mean(0) - codes[:3].mean(0), rtol=1e-5)
    moved = model.apply_attribute(x[:3], vector)
    np.testing.assert_allclose(moved, model.decode(codes[:3] + vector), atol=1e-6)
    with pytest.raises(ValueError, match="No code with label 5"):
        model.attribute_vector(x, labels, 0, 5)
    with pytest.raises(ValueError, match="one entry per code"):
        model.attribute_vector(x, labels[:5], 0, 7)
    with pytest.raises(ValueError, match=r"vector.shape=\(3,\)"):
        model.apply_attribute(x[:3], vector[:3])
    # One end given: the other is the matching prior draw of `latents`.
    half = model.interpolate(None, x[1], steps=3, method="linear", seed=2)
    # Decoded in a batch of 3 against a batch of 1: float32 kernels may differ
    # in the last bit (seen on an AVX2-only CPU), as for the ends above.
    np.testing.assert_allclose(
        half[0], model.decode(model.latents(2, 2)[:1])[0], atol=1e-6
    )
    np.testing.assert_allclose(half[-1], recon[1], atol=1e-5)


@pytest.mark.parametrize("likelihood", ["categorical", "logistic_mixture"])
def test_decode_modes_of_8bit_likelihoods(likelihood):
    model = tfgen.VAE((28, 28, 1), likelihood=likelihood, **TINY)
    z = model.latents(3, seed=0)
    for mode in ("mean", "mode", "sample"):
        images = model.decode(z, mode=mode, seed=0)
        assert images.shape == (3, 28, 28, 1)
        assert images.min() >= 0 and images.max() <= 1
    on_grid = model.decode(z, mode="sample", seed=0) * 255
    np.testing.assert_allclose(on_grid, np.round(on_grid), atol=1e-3)


def test_linear_probe_separates_linearly_separable_features():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 5)) * 4
    labels = rng.integers(0, 3, 600)
    features = centers[labels] + rng.normal(size=(600, 5))
    result = tfgen.probe.linear_probe(
        features[:400], labels[:400], features[400:], labels[400:], epochs=20
    )
    assert result["test_accuracy"] > 0.95
    assert result["num_test"] == 200 and result["dim"] == 5
    with pytest.raises(ValueError, match="integer labels"):
        tfgen.probe.linear_probe(features, labels.astype("float32"), features, labels)


# ------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def saved_vae(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("vae") / "model")
    model = tfgen.VAE((28, 28, 1), **TINY)
    tfgen.zoo.save(
        model, directory, metadata={"recipe": {"dataset": {"name": "mnist"}}}
    )
    return directory


def test_cli_reconstruct_sample_interpolate(saved_vae, fake_data_dir, tmp_path, capsys):
    from PIL import Image

    out = str(tmp_path / "recon.png")
    code = main(
        [
            "reconstruct",
            saved_vae,
            "--data-dir",
            fake_data_dir,
            "-n",
            "12",
            "--nrow",
            "8",
            "-o",
            out,
        ]
    )
    assert code == 0 and os.path.isfile(out)
    # Two originals rows and two reconstruction rows of 8 28-pixel tiles.
    assert Image.open(out).size == (2 * (8 * 30 + 2), 2 * (4 * 30 + 2))
    npy = str(tmp_path / "x.npy")
    np.save(npy, (_binary(3) * 255).astype("uint8"))
    # The CLI replaces an existing output only when told to.
    assert main(["reconstruct", saved_vae, "--data", npy, "-o", out]) == 1
    assert (
        main(["reconstruct", saved_vae, "--data", npy, "-o", out, "--overwrite"]) == 0
    )
    bad_split = ["--data", "mnist:valid", "-o", out, "--overwrite"]
    capsys.readouterr()
    assert main(["reconstruct", saved_vae, *bad_split]) == 1
    assert "Unknown split 'valid'" in capsys.readouterr().err
    out = str(tmp_path / "sample.png")
    assert main(["sample", saved_vae, "-n", "4", "-o", out]) == 0
    out = str(tmp_path / "row.png")
    assert (
        main(["interpolate", saved_vae, "--steps", "10", "--rows", "1", "-o", out]) == 0
    )
    assert Image.open(out).size == (2 * (10 * 30 + 2), 2 * (30 + 2))
