"""Pixel distributions: TFP distributions built from network outputs.

Networks return plain tensors (logits or mixture parameters) from `call()`;
the functions here turn them into `tfd` objects, so that every family shares
one definition of "the likelihood of an image" and of its units.

Images live in [0, 1] at the model's boundary. A model with `num_levels`
levels per channel sees the grid k / (num_levels - 1), k = 0 .. num_levels-1:
2 levels are binary images, 256 levels are 8-bit images divided by 255.

```python
logits = network(x)                                   # (B, H, W, C, 256)
dist = tfgen.distributions.pixel_distribution(logits, num_levels=256)
nats = -dist.log_prob(tfgen.levels.to_levels(x, 256))   # (B,)
bpd = tfgen.distributions.bits_per_dim(nats, x.shape[1:])
```
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from tfgen.levels import check_num_levels

__all__ = [
    "bits_per_dim",
    "coupled_logistic_mixture_level_log_probs",
    "discretized_logistic_mixture",
    "discretized_logistic_mixture_mean",
    "logistic_mixture_level_probs",
    "logistic_mixture_num_params",
    "pixel_distribution",
]


def pixel_distribution(params, num_levels, event_ndims=3):
    """A distribution over whole images from per-pixel parameters.

    Args:
        params: for `num_levels == 2`, Bernoulli logits of shape
            (..., H, W, C); otherwise categorical logits (..., H, W, C,
            num_levels). Cast to float32, whatever the compute dtype.
        num_levels: levels per channel, 2 to 256.
        event_ndims: trailing dimensions that form one event (3: H, W, C).

    Returns:
        `tfd.Independent` over `tfd.Bernoulli` or `tfd.Categorical`, whose
        samples and `log_prob` arguments are int32 levels of shape
        (..., H, W, C) and whose `log_prob` is in nats per image.
    """
    num_levels = check_num_levels(num_levels)
    logits = tf.cast(params, tf.float32)
    if num_levels == 2:
        base = tfd.Bernoulli(logits=logits, dtype=tf.int32)
    else:
        if logits.shape[-1] is not None and logits.shape[-1] != num_levels:
            raise ValueError(
                f"Categorical logits must end in a dimension of {num_levels} "
                f"levels. Received: logits.shape={tuple(logits.shape)}"
            )
        base = tfd.Categorical(logits=logits, dtype=tf.int32)
    return tfd.Independent(base, reinterpreted_batch_ndims=event_ndims)


def logistic_mixture_num_params(num_mixtures, channels, coupled=False):
    """Parameters per pixel of `discretized_logistic_mixture`: K logits, K
    locations and K log-scales per channel and, for the coupled mixture,
    K coefficients per pair of channels (C (C - 1) / 2 pairs)."""
    k, c = int(num_mixtures), int(channels)
    pairs = c * (c - 1) // 2 if coupled else 0
    return k * (1 + 2 * c + pairs)


def _logistic_mixture_params(
    params,
    num_mixtures,
    channels,
    num_levels,
    min_log_scale,
    coupling=None,
    dtype=tf.float32,
):
    """Splits (..., P) into mixture logits (..., K) and per-component logistic
    locations and scales (..., K, C) in level units, for bins (y - 1, y].

    With `coupling` (float levels (..., C)), P also holds K coefficients per
    channel pair, tanh-squashed, and channel c's location moves by
    sum_{c' < c} coefficient[c, c'] * x_c' where x_c' is channel c''s value
    of `coupling` in the [-1, 1] image scale (PixelCNN++'s linear dependence
    between colours: pairs (G, R), (B, R), (B, G) for RGB). Computed in
    `dtype`."""
    k, c = int(num_mixtures), int(channels)
    expected = logistic_mixture_num_params(k, c, coupled=coupling is not None)
    params = tf.cast(params, dtype)
    if params.shape[-1] is not None and params.shape[-1] != expected:
        coupled = " with coupled channels" if coupling is not None else ""
        raise ValueError(
            f"A mixture of {k} logistics over {c} channel(s){coupled} takes "
            f"{expected} parameters per pixel. Received: params.shape="
            f"{tuple(params.shape)}"
        )
    logits = params[..., :k]
    shape = tf.concat([tf.shape(params)[:-1], [k, c]], axis=0)
    loc = tf.reshape(params[..., k : k + k * c], shape)
    log_scale = tf.reshape(params[..., k + k * c : k + 2 * k * c], shape)
    log_scale = tf.maximum(log_scale, min_log_scale)
    half = (num_levels - 1) / 2.0
    if coupling is not None and c > 1:
        pairs = c * (c - 1) // 2
        coeffs = tf.tanh(
            tf.reshape(
                params[..., k + 2 * k * c :],
                tf.concat([tf.shape(params)[:-1], [k, pairs]], axis=0),
            )
        )
        image = tf.cast(coupling, dtype) / half - 1.0  # levels -> [-1, 1]
        shifts, pair = [tf.zeros_like(loc[..., 0])], 0
        for channel in range(1, c):
            shift = 0.0
            for earlier in range(channel):
                shift += coeffs[..., pair] * image[..., None, earlier]
                pair += 1
            shifts.append(shift)
        loc = loc + tf.stack(shifts, axis=-1)
    # Locations and scales live in [-1, 1] image units (PixelCNN++); level y
    # sits at 2y/(L-1) - 1 and owns the bin (y - 1, y] of the quantization,
    # whose centre y - 1/2 the location is shifted to.
    return logits, (loc + 1.0) * half - 0.5, tf.exp(log_scale) * half


def discretized_logistic_mixture(
    params,
    num_mixtures,
    channels,
    num_levels=256,
    event_ndims=3,
    min_log_scale=-7.0,
    coupling=None,
):
    """A discretized mixture of logistics over whole images (Salimans et al.).

    Each pixel is a mixture of `num_mixtures` components; within a component
    the channels are logistics discretized to the levels 0 .. num_levels-1,
    the two end levels taking the tails:

        p(x) = sum_k pi_k prod_c P(x_c | loc_kc(x_<c), scale_kc)

    With `coupling=None` the locations are constants and the probabilities
    of the `num_levels ** channels` values of a pixel sum to 1 (up to float
    rounding). With `coupling`, PixelCNN++'s linear dependence between
    colours: loc_kG = mu_kG + a_k x_R, loc_kB = mu_kB + b_k x_R + c_k x_G
    (x in the [-1, 1] image scale). The locations then depend on the
    value, so the distribution is built for one image, the `coupling`
    levels, and its `log_prob` is exact at those levels only (as an
    autoregressive model's `distribution(x)` is exact at x); sample from the
    conditionals of `coupled_logistic_mixture_level_log_probs` instead.

    Args:
        params: (..., H, W, P) with P = `logistic_mixture_num_params(K, C,
            coupled=coupling is not None)`: K mixture logits, then K*C
            locations and K*C log-scales (in the [-1, 1] image scale),
            component-major, then (coupled) K*C(C-1)/2 coefficients before
            tanh, component-major, pairs ordered (G, R), (B, R), (B, G).
            Cast to float32.
        num_mixtures: K.
        channels: C.
        num_levels: levels per channel, 2 to 256.
        event_ndims: trailing dimensions of one event, counting the channel
            dimension (3: H, W, C).
        min_log_scale: log-scales are clipped from below here.
        coupling: None, or the float levels (..., H, W, C) the coupled
            locations read (the image whose `log_prob` is wanted).

    Returns:
        `tfd.Independent` over `tfd.MixtureSameFamily`, whose `log_prob`
        takes float levels of shape (..., H, W, C) and is in nats per image.

    References:
        Salimans et al., PixelCNN++: Improving the PixelCNN with Discretized
        Logistic Mixture Likelihood and Other Modifications, arXiv 1701.05517.
    """
    num_levels = check_num_levels(num_levels)
    logits, loc, scale = _logistic_mixture_params(
        params, num_mixtures, channels, num_levels, min_log_scale, coupling
    )
    components = tfd.Independent(
        tfd.QuantizedDistribution(
            tfd.Logistic(loc, scale), low=0.0, high=float(num_levels - 1)
        ),
        reinterpreted_batch_ndims=1,
    )
    pixels = tfd.MixtureSameFamily(tfd.Categorical(logits=logits), components)
    return tfd.Independent(pixels, reinterpreted_batch_ndims=event_ndims - 1)


def logistic_mixture_level_probs(
    params, num_mixtures, channels, num_levels=256, min_log_scale=-7.0
):
    """The tables of `discretized_logistic_mixture`: mixture logits (..., K)
    and each component's probabilities of the levels, (..., K, C, L).

    Level y takes the logistic's mass on (y - 1, y], the end levels the
    tails, as `tfd.QuantizedDistribution` does; the pixel's probability of
    (y_1, ..., y_C) is sum_k softmax(logits)_k prod_c table[k, c, y_c]. An
    entropy coder codes the channels in order from these (the codec).
    """
    num_levels = check_num_levels(num_levels)
    logits, loc, scale = _logistic_mixture_params(
        params, num_mixtures, channels, num_levels, min_log_scale
    )
    thresholds = tf.range(num_levels - 1, dtype=tf.float32)
    cdf = tf.sigmoid((thresholds - loc[..., None]) / scale[..., None])
    zeros = tf.zeros_like(cdf[..., :1])
    ones = tf.ones_like(cdf[..., :1])
    edges = tf.concat([zeros, cdf, ones], axis=-1)
    return logits, edges[..., 1:] - edges[..., :-1]


def _bin_log_probs(levels, loc, scale, num_levels):
    """log P(Y = y) of logistics (loc, scale) discretized to bins (y - 1, y],
    the end levels taking the tails, at float `levels` y (broadcast), in log
    space throughout: sigmoid(b) - sigmoid(a) = sigmoid(b) sigmoid(-a)
    (1 - exp(a - b)), so far tails stay finite instead of rounding to 0."""
    upper = (levels - loc) / scale
    lower = upper - 1.0 / scale
    first = tf.math.log_sigmoid(upper)
    last = tf.math.log_sigmoid(-lower)
    inner = first + last + tf.math.log(-tf.math.expm1(-1.0 / scale))
    return tf.where(
        levels < 0.5, first, tf.where(levels > num_levels - 1.5, last, inner)
    )


def coupled_logistic_mixture_level_log_probs(
    params,
    coupling,
    num_mixtures,
    channels,
    num_levels=256,
    min_log_scale=-7.0,
    dtype="float32",
):
    """Each channel's conditional of the coupled `discretized_logistic_mixture`
    over all its levels, given the earlier channels of the same pixel:
    (..., C, L) of

        log p(x_c = y | x_<c) = logsumexp_k (w_kc + log P_k(x_c = y | x_<c))
                                - logsumexp_k w_kc,
        w_kc = log pi_k + sum_{c' < c} log P_k(x_c' | x_<c')

    (the mixture weights given the channels already known), where x_<c are
    the `coupling` levels of the channels before c; entry c does not depend
    on coupling[..., c:]. These are what a sampler draws each colour from
    and an entropy coder codes it with; summed at the image's own levels
    they give `discretized_logistic_mixture(..., coupling=levels).log_prob`.

    Args:
        params: as in `discretized_logistic_mixture` (coupled).
        coupling: float levels (..., C) of the pixels (later channels may
            hold anything: they are not read).
        num_mixtures, channels, num_levels, min_log_scale: as there.
        dtype: of the computation and the result: float32, or float64 for
            the codec, whose tables must be the same bits in a parallel pass
            and in a compiled step-by-step loop (float32 transcendentals
            differ between the two by an ulp).
    """
    num_levels = check_num_levels(num_levels)
    coupling = tf.cast(coupling, dtype)
    logits, loc, scale = _logistic_mixture_params(
        params, num_mixtures, channels, num_levels, min_log_scale, coupling, dtype
    )
    # log P_k(x_c' | x_<c') of the known levels, then exclusive sums over c.
    known = _bin_log_probs(coupling[..., None, :], loc, scale, num_levels)
    weights = tf.nn.log_softmax(logits, axis=-1)[..., None] + tf.cumsum(
        known, axis=-1, exclusive=True
    )  # (..., K, C)
    grid = tf.range(num_levels, dtype=dtype)
    table = _bin_log_probs(grid, loc[..., None], scale[..., None], num_levels)
    joint = tf.reduce_logsumexp(weights[..., None] + table, axis=-3)  # (..., C, L)
    return joint - tf.reduce_logsumexp(weights, axis=-2)[..., None]


def discretized_logistic_mixture_mean(
    params, num_mixtures, channels, num_levels=256, min_log_scale=-7.0
):
    """The exact mean image, in [0, 1], of `discretized_logistic_mixture`.

    E[Y] = sum_{y>=1} P(Y >= y) = sum_{j=0}^{L-2} P(X > j) per component.
    """
    num_levels = check_num_levels(num_levels)
    logits, loc, scale = _logistic_mixture_params(
        params, num_mixtures, channels, num_levels, min_log_scale
    )
    thresholds = tf.range(num_levels - 1, dtype=tf.float32)
    above = tf.sigmoid((loc[..., None] - thresholds) / scale[..., None])
    mean_levels = tf.reduce_sum(above, axis=-1)  # (..., K, C)
    weights = tf.nn.softmax(logits, axis=-1)[..., None]
    return tf.reduce_sum(weights * mean_levels, axis=-2) / float(num_levels - 1)


def bits_per_dim(nats, image_shape):
    """Negative log-likelihood in nats per image -> bits per dimension."""
    num_dims = int(np.prod([int(d) for d in image_shape]))
    return nats / (num_dims * math.log(2.0))
