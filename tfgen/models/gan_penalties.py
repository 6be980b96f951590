"""Gradient penalties on a discriminator's input, per example.

    gradient_penalty  (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = a*x + (1-a)*G(z)
                      (WGAN-GP, Gulrajani et al., arXiv 1704.00028)
    r1_penalty        ||grad_x D(x)||_2^2 at real images x
                      (Mescheder et al., arXiv 1801.04406, Eq. 9; the model
                      adds gamma/2 times it to the discriminator's loss)

Both take `critic`, a callable from images (n, H, W, C) to scores (n, 1),
and differentiate the sum of the scores, so each example's gradient is that
of its own score (the critic must treat examples independently: no batch
norm in training mode).
"""

import tensorflow as tf
from keras import ops

__all__ = ["gradient_penalty", "input_gradient_norms", "r1_penalty"]


def input_gradient_norms(critic, images, squared=False):
    """Per-example ||grad_x critic(x)||_2 (or its square) at `images`."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = ops.sum(ops.cast(critic(images), "float32"))
    grads = ops.cast(tape.gradient(total, images), "float32")
    squares = ops.sum(ops.square(grads), axis=tuple(range(1, len(grads.shape))))
    if squared:
        return squares
    # The epsilon keeps the square root differentiable at a zero gradient.
    return ops.sqrt(squares + 1e-12)


def gradient_penalty(critic, real, fake, alpha):
    """Per-example (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = a*x + (1-a)*G(z).

    Args:
        critic: callable from images to (n, 1) scores.
        real, fake: (n, H, W, C) images.
        alpha: (n,) interpolation weights, one per example.
    """
    alpha = ops.reshape(alpha, (-1, 1, 1, 1))
    interpolated = alpha * real + (1.0 - alpha) * fake
    return ops.square(input_gradient_norms(critic, interpolated) - 1.0)


def r1_penalty(critic, real):
    """Per-example ||grad_x D(x)||_2^2 at the real images `real` (n, H, W, C)."""
    return input_gradient_norms(critic, real, squared=True)
