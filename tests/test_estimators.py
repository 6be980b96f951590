"""The ELBO and IWAE estimators of `tfgen.models.estimators`, on a linear
Gaussian model whose likelihood, posterior and bounds have closed forms."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp
from scipy.stats import norm

import tfgen
from tfgen.distributions import tfd
from tfgen.models import estimators

EXACT_GAIN, EXACT_SCALE = 0.5, math.sqrt(0.5)


class LinearGaussian:
    """z ~ N(0, I), x | z ~ N(z, I), so p(x) = N(0, 2 I) and the true
    posterior is p(z|x) = N(x / 2, I / 2). The variational posterior is
    q(z|x) = N(gain * x + shift, scale^2 I): exact for gain 1/2, shift 0,
    scale sqrt(1/2)."""

    def __init__(self, gain=EXACT_GAIN, shift=0.0, scale=EXACT_SCALE, dim=2):
        self.gain, self.shift, self.scale, self.dim = gain, shift, scale, dim

    def posterior_params(self, x):
        x = tf.cast(x, tf.float32)
        return self.gain * x + self.shift, tf.fill(tf.shape(x), self.scale)

    def prior(self):
        return tfd.MultivariateNormalDiag(
            loc=tf.zeros([self.dim]), scale_diag=tf.ones([self.dim])
        )

    def decoder_log_prob(self, z, x):
        likelihood = tfd.MultivariateNormalDiag(loc=z, scale_diag=tf.ones_like(z))
        return likelihood.log_prob(tf.cast(x, tf.float32))

    # Closed forms, in float64 NumPy.
    def log_p(self, x):
        return norm.logpdf(x, scale=math.sqrt(2.0)).sum(-1)

    def numpy_log_weights(self, x, eps):
        mean, scale = self.gain * x + self.shift, self.scale
        z = mean + scale * eps
        log_joint = norm.logpdf(x, loc=z).sum(-1) + norm.logpdf(z).sum(-1)
        return log_joint - norm.logpdf(z, loc=mean, scale=scale).sum(-1)

    def elbo(self, x):
        """log p(x) - KL(q(z|x) || p(z|x)), per dimension summed."""
        mean, var = self.gain * x + self.shift, self.scale**2
        kl = 0.5 * (np.log(0.5 / var) + (var + (mean - x / 2) ** 2) / 0.5 - 1.0)
        return self.log_p(x) - kl.sum(-1)


def _inputs(n=5, dim=2, seed=0):
    return np.random.default_rng(seed).normal(scale=1.5, size=(n, dim))


def test_log_weights_match_numpy():
    model = LinearGaussian(gain=0.3, shift=0.2, scale=0.9)
    x = _inputs()
    eps = np.random.default_rng(1).normal(size=(7, 5, 2))
    got = estimators.log_weights(model, x.astype("float32"), eps.astype("float32"))
    assert got.shape == (7, 5)
    np.testing.assert_allclose(got, model.numpy_log_weights(x, eps), atol=1e-4)
    with pytest.raises(ValueError, match=r"shape \(S, 5, 2\)"):
        estimators.log_weights(model, x, eps[:, :3])


@pytest.mark.parametrize("batch_size,chunk_size", [(5, None), (2, 3)])
def test_iwae_and_elbo_are_numpy_bounds_of_their_draws(batch_size, chunk_size):
    # The draws are those of tf.random.Generator.from_seed(seed): for each
    # batch of inputs, chunk after chunk of (chunk, batch, latent_dim).
    model = LinearGaussian(gain=0.3, shift=0.2, scale=0.9)
    x, k, seed = _inputs(), 8, 11
    rng = tf.random.Generator.from_seed(seed)
    log_w = []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        chunks = []
        for s in range(0, k, chunk_size or k):
            shape = [min(chunk_size or k, k - s), len(xb), 2]
            chunks.append(model.numpy_log_weights(xb, rng.normal(shape).numpy()))
        log_w.append(np.concatenate(chunks))
    log_w = np.concatenate(log_w, axis=1)  # (k, n)
    kwargs = dict(batch_size=batch_size, chunk_size=chunk_size, seed=seed)
    iwae = estimators.iwae_bound(model, x, num_samples=k, **kwargs)
    elbo = estimators.elbo(model, x, num_samples=k, **kwargs)
    assert iwae.dtype == elbo.dtype == np.float64 and iwae.shape == (5,)
    np.testing.assert_allclose(iwae, logsumexp(log_w, axis=0) - math.log(k), atol=1e-4)
    np.testing.assert_allclose(elbo, log_w.mean(axis=0), atol=1e-4)


def test_exact_posterior_makes_every_bound_log_p():
    # With q = p(z|x) every weight p(x, z) / q(z|x) equals p(x).
    model = LinearGaussian()
    x = _inputs()
    for k in (1, 7, 50):
        for chunk_size in (None, 4):
            iwae = estimators.iwae_bound(
                model, x, num_samples=k, chunk_size=chunk_size, seed=k
            )
            np.testing.assert_allclose(iwae, model.log_p(x), atol=1e-4)
    elbo = estimators.elbo(model, x, num_samples=3, seed=0)
    np.testing.assert_allclose(elbo, model.log_p(x), atol=1e-4)


def test_one_sample_iwae_is_the_elbo_sample_and_iwae_bounds_elbo_on_same_draws():
    model = LinearGaussian(gain=0.1, scale=1.3)
    x = _inputs(seed=2)
    np.testing.assert_array_equal(
        estimators.iwae_bound(model, x, num_samples=1, seed=5),
        estimators.elbo(model, x, num_samples=1, seed=5),
    )
    # Same seed and chunks, same draws: a log-mean-exp is at least a mean.
    kwargs = dict(num_samples=10, chunk_size=3, batch_size=2, seed=6)
    iwae = estimators.iwae_bound(model, x, **kwargs)
    elbo = estimators.elbo(model, x, **kwargs)
    assert np.all(iwae >= elbo - 1e-6) and np.any(iwae > elbo + 0.1)


def test_bounds_in_expectation_against_closed_forms():
    model = LinearGaussian(gain=0.1, shift=0.3, scale=1.2)
    x = _inputs(n=4, seed=3)
    log_p, elbo = model.log_p(x), model.elbo(x)
    assert np.all(log_p - elbo > 0.3)  # a visibly loose posterior
    # The ELBO estimate converges to its closed form.
    estimate = estimators.elbo(model, x, num_samples=20000, seed=0)
    np.testing.assert_allclose(estimate, elbo, atol=0.05)

    # E[IWAE_k] grows with k from the ELBO towards log p(x) (Burda et al.):
    # each input repeated gives independent draws of the bound in one call.
    def mean_iwae(k, reps):
        repeated = np.repeat(x, reps, axis=0)
        bound = estimators.iwae_bound(model, repeated, k, batch_size=20000, seed=k)
        return bound.reshape(len(x), reps).mean(axis=1)

    iwae_1, iwae_10, iwae_1000 = (
        mean_iwae(1, 20000),
        mean_iwae(10, 1000),
        mean_iwae(1000, 100),
    )
    np.testing.assert_allclose(iwae_1, elbo, atol=0.06)
    assert np.all(iwae_1 < iwae_10) and np.all(iwae_10 < iwae_1000)
    np.testing.assert_allclose(iwae_1000, log_p, atol=0.03)


def test_bad_arguments_and_empty_input():
    model = LinearGaussian()
    x = _inputs()
    for name, kwargs in (
        ("num_samples", dict(num_samples=0)),
        ("batch_size", dict(batch_size=0)),
        ("chunk_size", dict(chunk_size=-1)),
    ):
        with pytest.raises(ValueError, match=f"`{name}` must be a positive integer"):
            estimators.iwae_bound(model, x, **{"num_samples": 2, **kwargs})
    assert estimators.elbo(model, x[:0], seed=0).shape == (0,)
    # Without a seed the draws are fresh.
    model = LinearGaussian(gain=0.1, scale=1.3)
    assert not np.array_equal(
        estimators.elbo(model, x, num_samples=2),
        estimators.elbo(model, x, num_samples=2),
    )


def test_vae_log_prob_and_elbo_delegate_to_the_estimators():
    model = tfgen.VAE((8, 8, 1), latent_dim=3, hidden_units=(16,), seed=0)
    x = (np.random.default_rng(0).random((5, 8, 8, 1)) < 0.3).astype("float32")
    kwargs = dict(num_samples=6, batch_size=2, chunk_size=4, seed=3)
    np.testing.assert_array_equal(
        model.log_prob(x, **kwargs), estimators.iwae_bound(model, x, **kwargs)
    )
    np.testing.assert_array_equal(
        model.elbo(x, **kwargs), estimators.elbo(model, x, **kwargs)
    )
