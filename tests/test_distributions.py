"""tfgen.distributions: the coupled discretized logistic mixture of
PixelCNN++ against a direct NumPy computation, its normalization, and its
per-level conditionals against its log_prob. (The uncoupled mixture is
tested with its user, tests/test_vae.py, and the codec's tables in
tests/test_codec.py.)"""

import itertools

import numpy as np
import pytest

from tfgen import distributions


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_pixel_prob(params, x, k, levels):
    """p(x) of one RGB pixel (params (P,), int levels (3,)) by the paper's formulas, in float64: bins of
    half-width 1/(L-1) around x in [-1, 1], the end levels taking the tails,
    G's mean moved by a*R, B's by b*R + c*G."""
    params = np.asarray(params, np.float64)
    pi = np.exp(params[:k] - params[:k].max())
    pi /= pi.sum()
    mu = params[k : 4 * k].reshape(k, 3)
    log_s = np.maximum(params[4 * k : 7 * k].reshape(k, 3), -7.0)
    a, b, c = np.tanh(params[7 * k :].reshape(k, 3)).T
    v = 2.0 * np.asarray(x, np.float64) / (levels - 1) - 1.0
    means = np.stack([mu[:, 0], mu[:, 1] + a * v[0], mu[:, 2] + b * v[0] + c * v[1]], 1)
    half_bin = 1.0 / (levels - 1)
    total = 0.0
    for comp in range(k):
        p = pi[comp]
        for ch in range(3):
            inv_s = np.exp(-log_s[comp, ch])
            hi = (
                1.0
                if x[ch] == levels - 1
                else _sigmoid(inv_s * (v[ch] + half_bin - means[comp, ch]))
            )
            lo = (
                0.0
                if x[ch] == 0
                else _sigmoid(inv_s * (v[ch] - half_bin - means[comp, ch]))
            )
            p *= hi - lo
        total += p
    return total


def _random_params(shape, k, seed=0):
    rng = np.random.default_rng(seed)
    p = distributions.logistic_mixture_num_params(k, 3, coupled=True)
    params = rng.normal(size=(*shape, p)).astype("float32")
    params[..., 4 * k : 7 * k] -= 2.0  # sharper components, as trained ones are
    return params


def test_coupled_parameter_count():
    assert distributions.logistic_mixture_num_params(10, 3, coupled=True) == 100
    assert distributions.logistic_mixture_num_params(10, 3) == 70
    assert distributions.logistic_mixture_num_params(4, 1, coupled=True) == 12


@pytest.mark.parametrize("levels", [256, 5])
def test_coupled_log_prob_matches_numpy(levels):
    k = 3
    params = _random_params((1, 2, 2), k)
    rng = np.random.default_rng(1)
    x = rng.integers(0, levels, (1, 2, 2, 3)).astype("float32")
    x[0, 0, 0] = [0, levels - 1, levels // 2]  # both tails
    dist = distributions.discretized_logistic_mixture(
        params, k, 3, num_levels=levels, coupling=x
    )
    got = float(dist.log_prob(x)[0])
    want = sum(
        np.log(numpy_pixel_prob(params[0, i, j], x[0, i, j], k, levels))
        for i in range(2)
        for j in range(2)
    )
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_coupled_pixel_sums_to_one():
    """Over all 16^3 values of one pixel, each with its own coupling."""
    levels, k = 16, 2
    params = _random_params((), k, seed=2)
    values = np.array(list(itertools.product(range(levels), repeat=3)), "float32")
    dist = distributions.discretized_logistic_mixture(
        np.broadcast_to(params, (len(values), params.shape[-1])),
        k,
        3,
        num_levels=levels,
        event_ndims=1,
        coupling=values,
    )
    total = np.exp(np.asarray(dist.log_prob(values), np.float64)).sum()
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


@pytest.mark.parametrize("levels", [256, 2])
def test_level_conditionals_are_the_log_prob(levels):
    """Each channel's table is normalized, and the tables at the pixel's own
    levels sum to the distribution's log_prob: the sampler and the codec
    see the likelihood the model trains on."""
    k = 4
    params = _random_params((3, 2, 2), k, seed=3)
    x = np.random.default_rng(4).integers(0, levels, (3, 2, 2, 3)).astype("float32")
    tables = np.asarray(
        distributions.coupled_logistic_mixture_level_log_probs(
            params, x, k, 3, num_levels=levels
        ),
        np.float64,
    )
    assert tables.shape == (3, 2, 2, 3, levels)
    np.testing.assert_allclose(np.exp(tables).sum(-1), 1.0, rtol=1e-5)
    picked = np.take_along_axis(tables, x.astype(int)[..., None], -1)[..., 0]
    dist = distributions.discretized_logistic_mixture(
        params, k, 3, num_levels=levels, coupling=x
    )
    np.testing.assert_allclose(
        picked.sum((1, 2, 3)), np.asarray(dist.log_prob(x)), rtol=1e-5, atol=1e-4
    )
    # Channel c's table ignores the pixel's channels c and later.
    changed = x.copy()
    changed[..., 2] = (changed[..., 2] + 1) % levels
    again = distributions.coupled_logistic_mixture_level_log_probs(
        params, changed, k, 3, num_levels=levels
    )
    np.testing.assert_array_equal(np.asarray(again), tables.astype("float32"))


def test_far_tails_stay_finite():
    """A sharp component far from a level gives a tiny, not a zero,
    probability (the codec and the loss take its log)."""
    k = 1
    params = np.zeros((1, distributions.logistic_mixture_num_params(k, 3, True)))
    params[0, 1:4] = -1.0  # locations at level 0
    params[0, 4:7] = -7.0  # the sharpest scale
    x = np.zeros((1, 3), "float32")
    tables = np.asarray(
        distributions.coupled_logistic_mixture_level_log_probs(params, x, k, 3)
    )
    assert np.all(np.isfinite(tables)) and tables[0, 0, 200] < -1000


def test_coupled_mixture_rejects_the_uncoupled_count():
    with pytest.raises(ValueError, match="coupled channels takes 30 parameters"):
        distributions.discretized_logistic_mixture(
            np.zeros((1, 2, 2, 21)), 3, 3, coupling=np.zeros((1, 2, 2, 3))
        )
