"""DCGAN and its class-conditional variant."""

import keras
from keras import layers

from tfgen.models.gan import AdversarialModel, convolution_stages, normalization

__all__ = ["DCGAN", "ConditionalDCGAN"]

_NORMS = ("batch", "layer", "none")


@keras.saving.register_keras_serializable(package="tfgen")
class DCGAN(AdversarialModel):
    """Deep convolutional GAN: strided transposed convolutions, batch norm.

    The generator projects z to a 4x4 (7x7 for 28x28 images) map with
    `base_filters * 2**(n-1)` channels and doubles the resolution n times,
    halving the channels, with batch norm and ReLU, ending in tanh. The
    discriminator mirrors it with stride-2 convolutions and LeakyReLU(0.2),
    without normalization on its first layer, and ends in one logit.

    Args:
        image_shape: (height, width, channels); height and width divisible
            so that n >= 1 stride-2 stages reach a 4..7 pixel seed
            (28x28 and 32x32 both work).
        latent_dim: size of z.
        base_filters: channels of the last generator stage and of the first
            discriminator stage.
        kernel_size: kernel size of every (transposed) convolution.
        discriminator_norm: `"batch"`, `"layer"` or `"none"`.
        num_classes, d_steps, generator_loss, seed: see `AdversarialModel`.
        **kwargs: the other `AdversarialModel` arguments (`ema_decay`,
            `discriminator_loss`, `r1_weight`, `diff_augment`,
            `spectral_norm`), then `keras.Model`'s.

    Example:

    ```python
    model = tfgen.DCGAN(image_shape=(32, 32, 3), base_filters=64)
    model.compile()  # Adam(2e-4, beta_1=0.5) for both networks
    model.fit(tfgen.data.load("cifar10", batch_size=64, shuffle=True), epochs=30)
    grid = model.sample(64, seed=0)
    ```

    References:
        Radford et al., Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks, arXiv 1511.06434.
    """

    def __init__(
        self,
        image_shape,
        latent_dim=100,
        base_filters=64,
        kernel_size=4,
        discriminator_norm="batch",
        num_classes=None,
        d_steps=1,
        generator_loss="non_saturating",
        seed=None,
        **kwargs,
    ):
        self.base_filters = int(base_filters)
        self.kernel_size = int(kernel_size)
        if discriminator_norm not in _NORMS:
            raise ValueError(
                f"`discriminator_norm` must be one of {_NORMS}. "
                f"Received: discriminator_norm={discriminator_norm!r}"
            )
        self.discriminator_norm = discriminator_norm
        self.num_stages = convolution_stages(image_shape, "DCGAN")
        super().__init__(
            image_shape,
            latent_dim=latent_dim,
            num_classes=num_classes,
            d_steps=d_steps,
            generator_loss=generator_loss,
            seed=seed,
            **kwargs,
        )

    def build_generator(self):
        n = self.num_stages
        seed_h = self.image_shape[0] // 2**n
        seed_w = self.image_shape[1] // 2**n
        filters = self.base_filters * 2 ** (n - 1)
        inputs, h = self._generator_inputs()
        h = layers.Dense(seed_h * seed_w * filters, use_bias=False)(h)
        h = layers.Reshape((seed_h, seed_w, filters))(h)
        h = normalization("batch")(h)
        h = layers.ReLU()(h)
        for stage in range(n - 1):
            filters //= 2
            h = layers.Conv2DTranspose(
                filters, self.kernel_size, strides=2, padding="same", use_bias=False
            )(h)
            h = normalization("batch")(h)
            h = layers.ReLU()(h)
            del stage
        h = layers.Conv2DTranspose(
            self.image_shape[-1], self.kernel_size, strides=2, padding="same"
        )(h)
        images = layers.Activation("tanh", dtype="float32")(h)
        return keras.Model(inputs, images, name="generator")

    def build_discriminator(self):
        inputs, h = self._discriminator_inputs()
        filters = self.base_filters
        for stage in range(self.num_stages):
            h = self._discriminator_layer(
                layers.Conv2D(
                    filters,
                    self.kernel_size,
                    strides=2,
                    padding="same",
                    use_bias=stage == 0 or self.discriminator_norm == "none",
                )
            )(h)
            norm = None if stage == 0 else normalization(self.discriminator_norm)
            if norm is not None:
                h = norm(h)
            h = layers.LeakyReLU(0.2)(h)
            filters *= 2
        h = layers.Flatten()(h)
        logits = self._discriminator_layer(layers.Dense(1, dtype="float32"))(h)
        return keras.Model(inputs, logits, name="discriminator")

    def get_config(self):
        config = super().get_config()
        config.update(
            base_filters=self.base_filters,
            kernel_size=self.kernel_size,
            discriminator_norm=self.discriminator_norm,
        )
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class ConditionalDCGAN(DCGAN):
    """Class-conditional DCGAN: both networks see the label.

    The generator takes [z, one_hot(y)]; the discriminator sees the image
    with one-hot label planes appended as extra channels. Train on
    `(images, labels)` batches; sample with `labels=`.

    Args:
        image_shape: (height, width, channels).
        num_classes: number of classes (required).
        **kwargs: the other `DCGAN` arguments.

    Example:

    ```python
    model = tfgen.ConditionalDCGAN(image_shape=(28, 28, 1), num_classes=10)
    model.compile()
    model.fit(tfgen.data.load("mnist", labels=True, batch_size=64), epochs=5)
    sevens = model.sample(16, labels=7, seed=0)
    ```

    References:
        Mirza & Osindero, Conditional Generative Adversarial Nets,
        arXiv 1411.1784; Radford et al., arXiv 1511.06434.
    """

    def __init__(self, image_shape, num_classes=10, **kwargs):
        if num_classes is None:
            raise ValueError(
                "ConditionalDCGAN needs `num_classes`. Received: num_classes=None"
            )
        super().__init__(image_shape, num_classes=num_classes, **kwargs)
