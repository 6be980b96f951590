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


def logistic_mixture_num_params(num_mixtures, channels):
    """Parameters per pixel of `discretized_logistic_mixture`: K logits, and
    K locations and K log-scales per channel."""
    return int(num_mixtures) * (1 + 2 * int(channels))


def _logistic_mixture_params(params, num_mixtures, channels, num_levels, min_log_scale):
    """Splits (..., P) into mixture logits (..., K) and per-component logistic
    locations and scales (..., K, C) in level units, for bins (y - 1, y]."""
    k, c = int(num_mixtures), int(channels)
    expected = logistic_mixture_num_params(k, c)
    params = tf.cast(params, tf.float32)
    if params.shape[-1] is not None and params.shape[-1] != expected:
        raise ValueError(
            f"A mixture of {k} logistics over {c} channel(s) takes {expected} "
            f"parameters per pixel. Received: params.shape={tuple(params.shape)}"
        )
    logits = params[..., :k]
    shape = tf.concat([tf.shape(params)[:-1], [k, c]], axis=0)
    loc = tf.reshape(params[..., k : k + k * c], shape)
    log_scale = tf.maximum(tf.reshape(params[..., k + k * c :], shape), min_log_scale)
    # Locations and scales live in [-1, 1] image units (PixelCNN++); level y
    # sits at 2y/(L-1) - 1 and owns the bin (y - 1, y] of the quantization,
    # whose centre y - 1/2 the location is shifted to.
    half = (num_levels - 1) / 2.0
    return logits, (loc + 1.0) * half - 0.5, tf.exp(log_scale) * half


def discretized_logistic_mixture(
    params, num_mixtures, channels, num_levels=256, event_ndims=3, min_log_scale=-7.0
):
    """A discretized mixture of logistics over whole images (Salimans et al.).

    Each pixel is a mixture of `num_mixtures` components; within a component
    the channels are independent logistics discretized to the levels
    0 .. num_levels-1, the two end levels taking the tails, so the
    probabilities of the `num_levels ** channels` values of a pixel sum to 1
    exactly (up to float rounding).

    Args:
        params: (..., H, W, P) with P = `logistic_mixture_num_params(K, C)`:
            K mixture logits, then K*C locations and K*C log-scales (in the
            [-1, 1] image scale), component-major. Cast to float32.
        num_mixtures: K.
        channels: C.
        num_levels: levels per channel, 2 to 256.
        event_ndims: trailing dimensions of one event, counting the channel
            dimension (3: H, W, C).
        min_log_scale: log-scales are clipped from below here.

    Returns:
        `tfd.Independent` over `tfd.MixtureSameFamily`, whose `log_prob`
        takes float levels of shape (..., H, W, C) and is in nats per image.

    References:
        Salimans et al., PixelCNN++, arXiv 1701.05517.
    """
    num_levels = check_num_levels(num_levels)
    logits, loc, scale = _logistic_mixture_params(
        params, num_mixtures, channels, num_levels, min_log_scale
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
