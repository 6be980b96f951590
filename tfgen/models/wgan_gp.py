"""Wasserstein GAN with gradient penalty."""

import keras
import tensorflow as tf
from keras import ops

from tfgen.models.dcgan import DCGAN
from tfgen.models.train_core import replica_uniform

__all__ = ["WGANGP", "gradient_penalty"]


def gradient_penalty(critic, real, fake, alpha):
    """Per-example (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = a*x + (1-a)*G(z).

    Args:
        critic: callable from images to (n, 1) scores.
        real, fake: (n, H, W, C) images.
        alpha: (n,) interpolation weights, one per example.
    """
    alpha = ops.reshape(alpha, (-1, 1, 1, 1))
    interpolated = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        total = ops.sum(ops.cast(critic(interpolated), "float32"))
    grads = ops.cast(tape.gradient(total, interpolated), "float32")
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
    return ops.square(norms - 1.0)


@keras.saving.register_keras_serializable(package="tfgen")
class WGANGP(DCGAN):
    """WGAN-GP: a DCGAN-shaped critic trained on the Wasserstein loss.

    critic loss = D(G(z)) - D(x) + lambda * (||grad D(x_hat)||_2 - 1)^2,
    with x_hat = a*x + (1 - a)*G(z), a ~ U(0, 1) drawn per example;
    generator loss = -D(G(z)). The critic takes `n_critic` steps per
    generator step, each on its own slice of the batch, and uses no batch
    norm (the penalty is per example); `"layer"` norm is the paper's option.

    Args:
        image_shape: (height, width, channels).
        n_critic: critic updates per generator update.
        gp_weight: lambda.
        discriminator_norm: `"none"` (default) or `"layer"`.
        **kwargs: the other `DCGAN` arguments.

    Example:

    ```python
    model = tfgen.WGANGP(image_shape=(32, 32, 3), n_critic=5)
    model.compile()  # Adam(1e-4, beta_1=0, beta_2=0.9), as in the paper
    model.fit(tfgen.data.load("cifar10", batch_size=5 * 64, shuffle=True), epochs=1)
    ```

    References:
        Gulrajani et al., Improved Training of Wasserstein GANs, arXiv 1704.00028.
    """

    default_optimizer = {"learning_rate": 1e-4, "beta_1": 0.0, "beta_2": 0.9}

    def __init__(
        self,
        image_shape,
        n_critic=5,
        gp_weight=10.0,
        discriminator_norm="none",
        **kwargs,
    ):
        if discriminator_norm == "batch":
            raise ValueError(
                "WGAN-GP's penalty is per example, so its critic cannot use batch norm. "
                "Expected discriminator_norm='none' or 'layer'. "
                f"Received: discriminator_norm={discriminator_norm!r}"
            )
        # n_critic is WGAN-GP's name for d_steps, and its loss is fixed:
        # a conflicting value is refused, not dropped.
        d_steps = kwargs.pop("d_steps", n_critic)
        if d_steps != n_critic:
            raise ValueError(
                "WGANGP sets its critic steps with `n_critic` (d_steps is the same "
                f"thing). Received: n_critic={n_critic!r}, d_steps={d_steps!r}"
            )
        generator_loss = kwargs.pop("generator_loss", "wasserstein")
        if generator_loss != "wasserstein":
            raise ValueError(
                "WGANGP trains with the Wasserstein loss. Expected "
                f"generator_loss='wasserstein'. Received: {generator_loss!r}"
            )
        self.gp_weight = float(gp_weight)
        super().__init__(
            image_shape,
            d_steps=n_critic,
            generator_loss="wasserstein",
            discriminator_norm=discriminator_norm,
            **kwargs,
        )
        self.gp_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.w_tracker = keras.metrics.Mean(name="wasserstein_estimate")

    @property
    def n_critic(self):
        return self.d_steps

    @property
    def metrics(self):
        return super().metrics + [self.gp_tracker, self.w_tracker]

    def discriminator_loss(self, real_logits, fake_logits):
        return fake_logits - real_logits

    def penalty(self, real, fake, labels):
        if self.gp_weight == 0:  # the plain WGAN loss, without a penalty
            return None
        alpha = replica_uniform([ops.shape(real)[0]], self.seed_generator)
        if labels is None:
            critic = lambda images: self.discriminator(images, training=True)  # noqa: E731
        else:
            critic = lambda images: self.discriminator(  # noqa: E731
                self._with_labels(images, labels), training=True
            )
        return self.gp_weight * gradient_penalty(critic, real, fake, alpha)

    def _track_discriminator(self, penalty, real_logits, fake_logits, n):
        weight = ops.cast(n, "float32")
        if penalty is not None:
            self.gp_tracker.update_state(
                ops.mean(penalty) / self.gp_weight, sample_weight=weight
            )
        self.w_tracker.update_state(
            ops.mean(real_logits - fake_logits), sample_weight=weight
        )

    def get_config(self):
        config = super().get_config()
        config.pop("d_steps")
        config.pop("generator_loss")
        config.update(n_critic=self.n_critic, gp_weight=self.gp_weight)
        return config
