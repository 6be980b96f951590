"""Checks every autoregressive model must pass, shared by the test modules of
each family (PixelCNN, Gated PixelCNN, PixelRNN):

```python
from autoregressive_checks import assert_causal, assert_normalized
assert_causal(model)           # tiny images, e.g. (4, 4, 3)
assert_normalized(model)       # tiny images, e.g. (2, 2, 1) binary
```
"""

import itertools

import keras
import numpy as np
import tensorflow as tf

from tfgen import training

__all__ = [
    "all_images",
    "assert_causal",
    "assert_normalized",
    "assert_two_replica_step_equals_one",
    "input_output_jacobian",
    "random_levels",
]


def random_levels(n, image_shape, num_levels, seed=0):
    """Random images on the model's level grid, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, num_levels, (n, *image_shape))
    return (levels / (num_levels - 1)).astype("float32")


def input_output_jacobian(model, labels=None, seed=0):
    """d logits / d input as a (D, D) array over the D = H·W·C positions in
    raster × colour order: entry [i, j] is the gradient of output position i
    (a random projection of its level logits, so that no cancellation hides
    a dependence) with respect to input position j.

    One backward pass: the image is repeated D times as a batch, and row k
    of the batch carries the gradient of output k only."""
    shape = tuple(model.image_shape)
    d = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    # Continuous inputs away from the grid: every path carries a gradient.
    image = rng.uniform(0.05, 0.95, (1, *shape)).astype("float32")
    x = tf.constant(np.repeat(image, d, axis=0))
    one_hot = None
    if model.num_classes is not None:
        labels = 0 if labels is None else labels
        one_hot = tf.one_hot([labels] * d, model.num_classes)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.cast(model.network(model.network_args(x, one_hot)), tf.float32)
        if model.num_levels > 2:
            weights = tf.constant(
                rng.normal(size=(model.num_levels,)).astype("float32")
            )
            logits = tf.reduce_sum(logits * weights, axis=-1)
        selected = tf.reduce_sum(tf.reshape(logits, [d, d]) * tf.eye(d))
    jac = tape.gradient(selected, x)
    return np.asarray(jac).reshape(d, d)


def assert_causal(model, labels=None, seed=0, num_inputs=4):
    """Output i depends on no input j >= i and on some input j < i (i > 0),
    in raster × colour order. Gradients are summed in absolute value over
    `num_inputs` random inputs, so that a ReLU that happens to be off at one
    input does not hide a dependence."""
    jac = sum(
        np.abs(input_output_jacobian(model, labels=labels, seed=seed + k))
        for k in range(num_inputs)
    )
    d = jac.shape[0]
    future = np.triu(np.ones((d, d), bool))  # j >= i
    leaks = np.argwhere(future & (jac > 0))
    shape = tuple(model.image_shape)
    if leaks.size:
        i, j = leaks[0]
        raise AssertionError(
            f"{type(model).__name__}: output {np.unravel_index(i, shape)} depends on "
            f"input {np.unravel_index(j, shape)} at or after it "
            f"({len(leaks)} leaking pairs; gradient {jac[i, j]:.3g})"
        )
    blind = [i for i in range(1, d) if not np.any(jac[i, :i] > 0)]
    if blind:
        raise AssertionError(
            f"{type(model).__name__}: outputs {[np.unravel_index(i, shape) for i in blind[:5]]} "
            "depend on no earlier input"
        )
    return jac


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


def _sgd():
    return {"optimizer": keras.optimizers.SGD(0.1, name="optimizer")}


def assert_two_replica_step_equals_one(build, data, batch_size):
    """One training step on 2 replicas (MirroredStrategy over 2 logical CPUs,
    see conftest.py) gives the weights of one step on 1 replica."""

    def run(strategy):
        model, _ = training.train(
            build,
            tf.data.Dataset.from_tensor_slices(data).batch(batch_size),
            1,
            strategy=strategy,
            precision="float32",
            compile_kwargs=_sgd,
            seed=1,
            verbose=0,
        )
        return model

    single = run("default")
    mirrored = training.get_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2
    double = run(mirrored)
    assert int(double.optimizer.iterations.numpy()) == 1
    for a, b in zip(single.get_weights(), double.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    keras.utils.set_random_seed(1)
    fresh = build()
    moved = [
        not np.allclose(a, b) for a, b in zip(fresh.get_weights(), single.get_weights())
    ]
    assert any(moved)
