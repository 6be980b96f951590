"""Likelihood estimators of latent-variable models: the ELBO and the
importance-weighted bound IWAE_k on log p(x).

For a model with prior p(z), decoder p(x|z) and a diagonal Gaussian
posterior q(z|x) = N(mean(x), diag(scale(x)^2)), the log importance weight
of a draw z ~ q(z|x) is

    log w(z) = log p(x|z) + log p(z) - log q(z|x),

and with k independent draws z_1 .. z_k,

    ELBO   = E_q[log w(z)]                              (estimated by the mean)
    IWAE_k = E_q[log (1/k) sum_i w(z_i)]                 (estimated by one draw)
           = E_q[logsumexp_i log w(z_i)] - log k.

By Jensen's inequality ELBO = IWAE_1 <= IWAE_k <= IWAE_{k+1} <= log p(x),
and IWAE_k tends to log p(x) as k grows when w is bounded (Burda et al.,
Theorem 1). Both estimators draw z = mean + scale * eps with eps ~ N(0, I)
(the reparameterization of Kingma & Welling) and fold the log weights into
one running value per image chunk by chunk (a running logsumexp for IWAE, a
running sum for the ELBO), so k = 5000 samples of a large decoder fit in
memory.

The model is any object with this latent-variable interface:

    posterior_params(x) -> (mean, scale), float32 (n, latent_dim): q(z|x)
    prior()             -> a TFP distribution over z (event (latent_dim,))
    decoder_log_prob(z, x) -> log p(x|z) in nats, float32, for the n inputs
        x and latents z of shape (S, n, latent_dim): shape (S, n)

`tfgen.VAE` exposes it; `VAE.log_prob`, `VAE.elbo` and `VAE.bits_per_dim`
delegate here.

References:
    Kingma & Welling, Auto-Encoding Variational Bayes, arXiv 1312.6114;
    Burda et al., Importance Weighted Autoencoders, arXiv 1509.00519.
"""

import math
import weakref

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfgen.progress import batch_starts
from tfgen.validation import check_positive_int

__all__ = ["elbo", "iwae_bound", "log_prior_ratio", "log_weights"]


def log_weights(model, x, eps):
    """log p(x|z) + log p(z) - log q(z|x) at z = mean(x) + scale(x) * eps.

    Args:
        model: a model with the latent-variable interface (module docstring).
        x: a batch of n inputs, as `model.posterior_params` takes them.
        eps: standard normal draws of shape (S, n, latent_dim).

    Returns:
        float32 tensor (S, n): the log importance weights, in nats.
    """
    x = tf.convert_to_tensor(x)
    mean, scale = model.posterior_params(x)
    eps = tf.convert_to_tensor(eps, tf.float32)
    if eps.shape.rank != 3 or eps.shape[1:] != mean.shape:
        raise ValueError(
            f"`eps` must have shape (S, {mean.shape[0]}, {mean.shape[1]}). "
            f"Received: eps.shape={tuple(eps.shape)}"
        )
    return _compiled_log_weights(model)(model, x, mean, scale, eps)


def log_prior_ratio(model, mean, scale, z):
    """log p(z) - log q(z|x) for the posterior N(mean, diag(scale^2)): the
    part of a log weight that does not involve the decoder.

    Args:
        model: a model with the latent-variable interface (its `prior()`).
        mean, scale: float32 (n, latent_dim), the posterior's parameters.
        z: latents (..., n, latent_dim).

    Returns:
        float32 tensor (..., n), in nats.
    """
    posterior = tfd.MultivariateNormalDiag(loc=mean, scale_diag=scale)
    return model.prior().log_prob(z) - posterior.log_prob(z)


def _log_weights(model, x, mean, scale, eps):
    z = mean + scale * eps
    return model.decoder_log_prob(z, x) + log_prior_ratio(model, mean, scale, z)


# One compiled `_log_weights` per model (traced once per input shape), which
# goes with the model: a single module-level tf.function would keep every
# model's graphs, and the variables they capture, for the whole process.
_COMPILED = weakref.WeakKeyDictionary()


def _compiled_log_weights(model):
    if model not in _COMPILED:
        _COMPILED[model] = tf.function(_log_weights, reduce_retracing=True)
    return _COMPILED[model]


def iwae_bound(
    model,
    x,
    num_samples=5000,
    batch_size=100,
    chunk_size=None,
    seed=None,
    progress=False,
):
    """The importance-weighted bound IWAE_k on log p(x), in nats per input.

    IWAE_k = log (1/k) sum_i p(x, z_i) / q(z_i|x) with z_i ~ q(z|x): the
    ELBO for k = 1, tending to log p(x) as k grows (module docstring).

    Args:
        model: a model with the latent-variable interface (module docstring).
        x: n inputs (a numpy array, already checked by the model).
        num_samples: k, importance samples per input.
        batch_size: inputs per forward pass.
        chunk_size: samples per input drawn at once (None: all k).
        seed: int seed of the `tf.random.Generator` that draws eps, batch
            by batch and chunk by chunk (None: fresh draws). Nearby seeds
            share most draws (`from_seed` puts the seed in the Philox
            counter: seed s + 1 gives the draws of seed s shifted by four),
            so independent estimates need seeds far apart, or None.
        progress: show a tqdm bar over the batches.

    Returns:
        float64 array (n,).

    Example:

    ```python
    from tfgen.models import estimators

    model = tfgen.VAE((28, 28, 1), latent_dim=2)
    x = (np.random.rand(4, 28, 28, 1) < 0.5).astype("float32")
    bound = estimators.iwae_bound(model, x, num_samples=100, seed=0)
    ```

    References:
        Burda et al., Importance Weighted Autoencoders, arXiv 1509.00519.
    """
    k = check_positive_int(num_samples, "num_samples")

    def logsumexp(running, log_w):
        return tf.reduce_logsumexp(tf.concat([running[None], log_w], 0), 0)

    total = _fold_log_weights(
        model, x, k, batch_size, chunk_size, seed, progress, logsumexp, -np.inf
    )
    return total - math.log(k)


def elbo(
    model, x, num_samples=1, batch_size=100, chunk_size=None, seed=None, progress=False
):
    """The ELBO E_q[log p(x|z) + log p(z) - log q(z|x)], in nats per input,
    estimated by the mean of the log weights of `num_samples` draws per
    input. Arguments as for `iwae_bound`; with the same `seed`,
    `batch_size` and `chunk_size` both use the same draws, so per input
    `elbo <= iwae_bound` (a mean is at most a log-mean-exp), with equality
    for one sample.

    References:
        Kingma & Welling, Auto-Encoding Variational Bayes, arXiv 1312.6114.
    """
    k = check_positive_int(num_samples, "num_samples")

    def add(running, log_w):
        return running + tf.reduce_sum(log_w, axis=0)

    total = _fold_log_weights(
        model, x, k, batch_size, chunk_size, seed, progress, add, 0.0
    )
    return total / float(k)


def _fold_log_weights(model, x, k, batch_size, chunk_size, seed, progress, fold, init):
    """Folds the (chunk, batch) log weights of k draws per input into one
    running value per input, chunk by chunk, so memory stays bounded."""
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_size = (
        k if chunk_size is None else check_positive_int(chunk_size, "chunk_size")
    )
    if seed is None:
        rng = tf.random.Generator.from_non_deterministic_state()
    else:
        rng = tf.random.Generator.from_seed(seed)
    log_weights_fn = _compiled_log_weights(model)
    out = []
    for start in batch_starts(len(x), batch_size, progress):
        xb = tf.convert_to_tensor(x[start : start + batch_size])
        mean, scale = model.posterior_params(xb)
        running = tf.fill([xb.shape[0]], float(init))
        for s in range(0, k, chunk_size):
            eps = rng.normal([min(chunk_size, k - s), xb.shape[0], mean.shape[-1]])
            running = fold(running, log_weights_fn(model, xb, mean, scale, eps))
        out.append(running.numpy().astype("float64"))
    return np.concatenate(out) if out else np.zeros((0,))
