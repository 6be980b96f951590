"""Checks every autoregressive model must pass, shared by the test modules of
each family (PixelCNN, Gated PixelCNN, PixelRNN):

```python
from autoregressive_checks import assert_causal, assert_normalized
assert_causal(model)           # tiny images, e.g. (4, 4, 3)
assert_colours_read_their_pixel(jac)   # R -> G -> B inside each pixel
assert_normalized(model)       # tiny images, e.g. (2, 2, 1) binary
assert_defaults_build_and_train(cls, channels=3)
assert_zoo_metrics(entry)      # a shipped entry's records
assert_cached_sampler_sees_the_network(model, n=2)
```
"""

import itertools

import keras
import numpy as np
import tensorflow as tf
from causality import check_causal

from tfgen import sampling

__all__ = [
    "all_images",
    "assert_cached_sampler_sees_the_network",
    "assert_causal",
    "assert_colours_read_their_pixel",
    "assert_defaults_build_and_train",
    "assert_normalized",
    "assert_zoo_metrics",
    "random_levels",
]


def random_levels(n, image_shape, num_levels, seed=0):
    """Random images on the model's level grid, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, num_levels, (n, *image_shape))
    return (levels / (num_levels - 1)).astype("float32")


def assert_causal(model, labels=None, seed=0, num_inputs=4):
    """Output i depends on no input j >= i and on some input j < i (i > 0),
    in raster × colour order, for the model's image-to-logits network.

    Returns the (D, D) dependency matrix over the D = H·W·C positions:
    entry [i, j] sums |d output i / d input j| over `num_inputs` random
    inputs (`causality.check_causal`)."""
    shape = tuple(model.image_shape)

    def network(x):
        one_hot = None
        if model.num_classes is not None:
            label = 0 if labels is None else labels
            one_hot = tf.one_hot(tf.fill([tf.shape(x)[0]], label), model.num_classes)
        return model.network(model.network_args(x, one_hot))

    return check_causal(
        network,
        shape,
        strict=True,
        seed=seed,
        num_inputs=num_inputs,
        name=type(model).__name__,
    )


def assert_colours_read_their_pixel(jac):
    """G reads its pixel's R, B its R and G, in the (D, D) matrix of an RGB
    model's `assert_causal`. A mask that is too strict passes the leak check
    but wastes bits."""
    for red in range(0, jac.shape[0], 3):
        green, blue = red + 1, red + 2
        assert jac[green, red] > 0 and jac[blue, red] > 0 and jac[blue, green] > 0


def assert_defaults_build_and_train(cls, channels):
    """`cls` with its default sizes builds for 256-level 32x32 RGB images
    (channels=3) or 28x28 grayscale ones (channels=1), whatever the split of
    its features into colour groups, and trains a step (on 8x8 images, for
    speed)."""
    shape = (32, 32, 3) if channels == 3 else (28, 28, 1)
    model = cls(image_shape=shape, num_levels=256)
    assert tuple(model.network.output.shape) == (None, *shape, 256)
    keras.utils.set_random_seed(0)
    small = cls(image_shape=(8, 8, channels), num_levels=256)
    # Eager: tracing a default-size train step takes longer than one step.
    small.compile(run_eagerly=True)
    history = small.fit(
        random_levels(2, (8, 8, channels), 256), batch_size=2, epochs=1, verbose=0
    )
    assert int(small.optimizer.iterations.numpy()) == 1
    assert np.isfinite(history.history["nll"][-1])


def all_images(image_shape, num_levels):
    """Every image of `image_shape` with `num_levels` levels, float32."""
    d = int(np.prod(image_shape))
    levels = np.array(list(itertools.product(range(num_levels), repeat=d)))
    return (levels.reshape(-1, *image_shape) / (num_levels - 1)).astype("float32")


def assert_normalized(model, labels=None, rtol=1e-4):
    """The probabilities of all images sum to 1 (tiny image shapes only)."""
    images = all_images(model.image_shape, model.num_levels)
    if model.num_classes is not None:
        labels = np.full((len(images),), 0 if labels is None else labels, "int32")
    log_p = model.log_prob(images, labels=labels).astype("float64")
    total = float(np.exp(log_p).sum())
    np.testing.assert_allclose(total, 1.0, rtol=rtol)
    return total


def assert_zoo_metrics(entry, images=None):
    """Likelihoods are on the test split (all `images` of it, when given);
    sample-quality records of benchmarks/fid.py name their n_gen and
    feature network instead."""
    names = {m["name"] for m in entry.metrics}
    assert {"test_nll", "test_bits_per_dim"} <= names
    for metric in entry.metrics:
        protocol = metric["protocol"]
        if protocol.get("script") == "benchmarks/fid.py":
            assert protocol["n_gen"] > 0 and protocol["features"]
            continue
        assert protocol["split"] == "test"
        if images is not None:
            assert protocol["images"] == images


def teacher_forced_logits(loop, levels, one_hot=None):
    """{t: logits} that a sampling loop builder (`tfgen.sampling.
    cached_sampler` or `compiled_sampler` of a model, as a function of its
    `choose`) sees at each raster x colour position t when every value is
    forced to the given int levels (n, H, W, C), as the codec decodes; also
    checks that the loop returns those levels."""
    n = len(levels)
    seen = {}

    def record(logits, t):
        seen[int(t)] = np.array(logits)
        return levels.reshape(n, -1)[:, int(t)]

    def choose(logits, t, noise, temperature):
        values = tf.numpy_function(record, [logits, t], tf.int32, stateful=True)
        return tf.reshape(values, [n])

    shape = levels.shape
    out = loop(choose)(
        tf.zeros(shape, tf.int32),
        tf.zeros(shape, tf.bool),
        tf.zeros((*shape, 1)),
        tf.zeros([n, 0]) if one_hot is None else tf.constant(one_hot),
        tf.constant(1.0),
    )
    np.testing.assert_array_equal(out, levels)
    assert sorted(seen) == list(range(int(np.prod(shape[1:]))))
    return seen


def assert_cached_sampler_sees_the_network(model, n, seed=5):
    """Teacher-forced through random images, the cached loop must see at
    every position the whole network's logits on them: values, not only the
    argmax decisions a sample shows. Conditional models get labels 2, 0, 1."""
    levels = np.random.default_rng(seed).integers(
        0, model.num_levels, (n, *model.image_shape)
    )
    levels = levels.astype("int32")
    classes = [2, 0, 1][:n]
    one_hot = np.eye(3, dtype="float32")[classes] if model.num_classes else None
    seen = teacher_forced_logits(
        lambda choose: sampling.cached_sampler(model, choose=choose), levels, one_hot
    )
    labels = None if one_hot is None else tf.constant(one_hot)
    args = model.network_args_from_levels(tf.constant(levels), labels)
    full = np.asarray(model.network(args, training=False), "float32")
    full = full.reshape(n, -1, *full.shape[4:])
    for t, logits in seen.items():
        np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5)
