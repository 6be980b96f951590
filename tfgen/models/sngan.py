"""SN-GAN: the standard CNN of Miyato et al. with a spectrally normalized
discriminator and the hinge loss."""

import keras
from keras import layers

from tfgen.models.gan import AdversarialModel, convolution_stages, normalization

__all__ = ["SNGAN"]


@keras.saving.register_keras_serializable(package="tfgen")
class SNGAN(AdversarialModel):
    """SN-GAN with the paper's standard CNN (Table 3 of arXiv 1802.05957).

    For 32x32 images and `base_filters=64` (b), the networks are Table 3's
    CIFAR-10 pair (M_g = 4):

    ```
    generator                              discriminator (spectral norm on all)
    z in R^128 ~ N(0, I)                   image 32x32x3 in [-1, 1]
    dense -> 4x4x512 (8b), BN, ReLU        3x3 conv s1  64 (b),   lReLU(0.1)
    4x4 deconv s2 256 (4b), BN, ReLU       4x4 conv s2  64 (b),   lReLU
    4x4 deconv s2 128 (2b), BN, ReLU       3x3 conv s1 128 (2b),  lReLU
    4x4 deconv s2  64 (b),  BN, ReLU       4x4 conv s2 128 (2b),  lReLU
    3x3 conv s1 3, tanh                    3x3 conv s1 256 (4b),  lReLU
                                           4x4 conv s2 256 (4b),  lReLU
                                           3x3 conv s1 512 (8b),  lReLU
                                           dense -> 1
    ```

    Other sizes take n = `num_upsamplings(height)` stride-2 stages (28x28:
    two, from a 7x7 seed; 48x48 (STL-10, M_g = 6): three), each a
    (3x3 s1, 4x4 s2) pair of convolutions in the discriminator and one
    deconvolution in the generator. The paper's conditional models use a
    projection discriminator; here a class-conditional SNGAN
    (`num_classes`) takes labels as `AdversarialModel` does (concatenated
    to z and appended to the image as planes).

    Training defaults: hinge losses for both networks, `d_steps` (n_dis) =
    5 discriminator updates per generator update, each on its own slice of
    the batch (so feed batches of 5 * 64), and `compile()`'s default
    Adam(lr=2e-4, beta_1=0, beta_2=0.9) for both networks, the setting the
    paper's hinge-loss runs and its public reproductions use (the paper
    compares six others, A-F, in Section 4; `d_steps` and `compile`'s
    optimizers set them).
    Spectral normalization is Keras's `SpectralNormalization` (one power
    iteration per training call; see `tfgen.layers.spectral_norm` for how
    it differs from the paper's reparametrization).

    Args:
        image_shape: (height, width, channels); the sides halve at least
            once to a 4..7 pixel seed.
        latent_dim: size of z (128 in the paper).
        base_filters: b above (64 in the paper).
        d_steps: n_dis, discriminator updates per generator update.
        generator_loss, discriminator_loss: default `"hinge"` (the paper
            also trains `"non_saturating"` with `"logistic"`).
        num_classes, seed, ema_decay, r1_weight, diff_augment: see
            `AdversarialModel`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = tfgen.models.SNGAN(image_shape=(32, 32, 3))
    model.compile()  # Adam(2e-4, beta_1=0, beta_2=0.9) for both networks
    data = tfgen.data.load("cifar10", batch_size=5 * 64, shuffle=True)
    model.fit(data, epochs=1)
    images = model.sample(64, seed=0, truncation=1.5)
    ```

    References:
        Miyato et al., Spectral Normalization for Generative Adversarial
        Networks, arXiv 1802.05957 (Table 3, the standard CNN; Section 4).
        Lim & Ye, Geometric GAN, arXiv 1705.02894 (the hinge loss).
    """

    default_optimizer = {"learning_rate": 2e-4, "beta_1": 0.0, "beta_2": 0.9}

    def __init__(
        self,
        image_shape,
        latent_dim=128,
        base_filters=64,
        d_steps=5,
        generator_loss="hinge",
        discriminator_loss="hinge",
        **kwargs,
    ):
        if not kwargs.pop("spectral_norm", True):
            raise ValueError(
                "SNGAN's discriminator is spectrally normalized by definition. "
                "Expected spectral_norm=True (or left out). Received: "
                "spectral_norm=False; use DCGAN for an unnormalized one."
            )
        self.base_filters = int(base_filters)
        self.num_stages = convolution_stages(image_shape, "SNGAN")
        super().__init__(
            image_shape,
            latent_dim=latent_dim,
            d_steps=d_steps,
            generator_loss=generator_loss,
            discriminator_loss=discriminator_loss,
            spectral_norm=True,
            **kwargs,
        )

    def build_generator(self):
        n = self.num_stages
        seed_h = self.image_shape[0] // 2**n
        seed_w = self.image_shape[1] // 2**n
        filters = self.base_filters * 2**n
        inputs, h = self._generator_inputs()
        h = layers.Dense(seed_h * seed_w * filters)(h)
        h = normalization("batch")(h)
        h = layers.ReLU()(h)
        h = layers.Reshape((seed_h, seed_w, filters))(h)
        for _ in range(n):
            filters //= 2
            h = layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(h)
            h = normalization("batch")(h)
            h = layers.ReLU()(h)
        h = layers.Conv2D(self.image_shape[-1], 3, padding="same")(h)
        images = layers.Activation("tanh", dtype="float32")(h)
        return keras.Model(inputs, images, name="generator")

    def build_discriminator(self):
        inputs, h = self._discriminator_inputs()
        for stage in range(self.num_stages):
            filters = self.base_filters * 2**stage
            for kernel_size, strides in ((3, 1), (4, 2)):
                conv = layers.Conv2D(
                    filters, kernel_size, strides=strides, padding="same"
                )
                h = self._discriminator_layer(conv)(h)
                h = layers.LeakyReLU(0.1)(h)
        last = layers.Conv2D(self.base_filters * 2**self.num_stages, 3, padding="same")
        h = layers.LeakyReLU(0.1)(self._discriminator_layer(last)(h))
        h = layers.Flatten()(h)
        logits = self._discriminator_layer(layers.Dense(1, dtype="float32"))(h)
        return keras.Model(inputs, logits, name="discriminator")

    def get_config(self):
        config = super().get_config()
        config.pop("spectral_norm")
        config.update(base_filters=self.base_filters)
        return config
