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
nats = -dist.log_prob(tfgen.distributions.to_levels(x, 256))   # (B,)
bpd = tfgen.distributions.bits_per_dim(nats, x.shape[1:])
```
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

__all__ = [
    "assert_levels",
    "bits_per_dim",
    "check_levels",
    "check_num_levels",
    "from_levels",
    "pixel_distribution",
    "to_levels",
]


def check_num_levels(num_levels):
    """Returns `num_levels` as an int in [2, 256], or raises."""
    if (
        isinstance(num_levels, bool)
        or not isinstance(num_levels, int | np.integer)
        or not 2 <= int(num_levels) <= 256
    ):
        raise ValueError(
            f"`num_levels` must be an integer in [2, 256]. Received: num_levels={num_levels!r}"
        )
    return int(num_levels)


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


def to_levels(images, num_levels):
    """Images in [0, 1] on the level grid -> int32 levels (a graph op)."""
    num_levels = check_num_levels(num_levels)
    scaled = tf.cast(images, tf.float32) * float(num_levels - 1)
    return tf.cast(tf.round(scaled), tf.int32)


def from_levels(levels, num_levels, dtype="float32"):
    """int levels -> images in [0, 1] (a graph op)."""
    num_levels = check_num_levels(num_levels)
    return tf.cast(levels, dtype) / float(num_levels - 1)


def check_levels(images, num_levels, name="x", atol=1e-4):
    """Checks that float images in [0, 1] lie on the grid k/(num_levels-1).

    Quantization is a modelling choice, so off-grid input is refused rather
    than rounded behind the caller's back. Returns float32 numpy.
    """
    num_levels = check_num_levels(num_levels)
    x = np.asarray(images, dtype=np.float32)
    scaled = x * (num_levels - 1)
    off = np.abs(scaled - np.round(scaled))
    if off.size and float(off.max()) > atol * (num_levels - 1):
        bad = np.unravel_index(int(np.argmax(off)), off.shape)
        raise ValueError(
            f"`{name}` must lie on the grid k/{num_levels - 1} of a model with "
            f"num_levels={num_levels} (use tfgen.data.load(..., num_levels="
            f"{num_levels}) or round). Received {name}{list(bad)}={x[bad]!r}"
        )
    return x


def assert_levels(images, num_levels, atol=1e-4):
    """Graph-mode `check_levels`: returns float32 `images` after asserting
    they lie in [0, 1] on the grid k/(num_levels-1) (fails the step if not)."""
    num_levels = check_num_levels(num_levels)
    x = tf.cast(images, tf.float32)
    scaled = x * float(num_levels - 1)
    off = tf.reduce_max(tf.abs(scaled - tf.round(scaled)))
    checks = [
        tf.debugging.assert_greater_equal(
            x, 0.0, message="Expected images in [0, 1]; received values below 0."
        ),
        tf.debugging.assert_less_equal(
            x, 1.0, message="Expected images in [0, 1]; received values above 1."
        ),
        tf.debugging.assert_less_equal(
            off,
            atol * (num_levels - 1),
            message=(
                f"Expected images on the grid k/{num_levels - 1} of a model with "
                f"num_levels={num_levels} (use tfgen.data.load(..., num_levels="
                f"{num_levels})); received off-grid values."
            ),
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def bits_per_dim(nats, image_shape):
    """Negative log-likelihood in nats per image -> bits per dimension."""
    num_dims = int(np.prod([int(d) for d in image_shape]))
    return nats / (num_dims * math.log(2.0))
