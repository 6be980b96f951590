"""Adversarial training shared by every GAN, and the MLP GAN of Goodfellow et al."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from tfgen.layers.spectral_norm import spectral_norm as spectral_norm_wrapper
from tfgen.models import gan_losses, gan_penalties, latent
from tfgen.models import truncation as truncation_module
from tfgen.models.base import GenerativeModel, num_upsamplings
from tfgen.models.diff_augment import check_policy, diff_augment
from tfgen.models.train_core import (
    build_optimizers,
    minimize,
    replica_normal,
    split_labels,
)
from tfgen.progress import batch_starts
from tfgen.validation import check_image_batch, check_labels, check_positive_int

__all__ = ["AdversarialModel", "GAN", "convolution_stages", "normalization"]


def normalization(kind, name=None):
    """The normalization layer of a GAN network: `"batch"`, `"layer"` or
    `"none"` (None)."""
    if kind == "batch":
        # Under a multi-replica strategy, synchronized statistics make a step
        # on R replicas equal a step on one replica with the same global
        # batch; on one replica they would only add a no-op all-reduce.
        synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
        return layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name
        )
    if kind == "layer":
        return layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5, name=name)
    return None


def convolution_stages(image_shape, model_name):
    """The stride-2 stages of a convolutional GAN for `image_shape`: from a
    4..7 pixel seed to the image (28 -> 2, 32 -> 3), the same for both sides;
    a ValueError when the sides do not halve to such a seed."""
    height, width = tuple(image_shape)[:2]
    stages = num_upsamplings(int(height))
    if stages < 1 or num_upsamplings(int(width)) != stages:
        raise ValueError(
            f"{model_name} needs square-ish images whose sides halve at least once "
            "to a 4..7 pixel seed (e.g. 28x28 or 32x32). "
            f"Received: image_shape={tuple(image_shape)}"
        )
    return stages


def _check_r1_weight(weight):
    value = float(weight)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(
            "`r1_weight` (gamma) must be a finite number >= 0, e.g. 10.0. "
            f"Received: r1_weight={weight!r}"
        )
    return value


def _check_decay(decay):
    if decay is None:
        return None
    value = float(decay)
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"`ema_decay` must be None or in (0, 1), e.g. 0.999. Received: ema_decay={decay!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="tfgen")
class AdversarialModel(GenerativeModel):
    """A generator and a discriminator trained against each other.

    Subclasses supply `build_generator()` and `build_discriminator()`, which
    return functional Keras models: the generator maps a latent vector (and a
    one-hot label, when conditional) to images in [-1, 1]; the discriminator
    maps images in [-1, 1] (and a one-hot label) to one logit per image.

    Each `train_step` consumes one batch of real images in [0, 1] and makes
    `d_steps` discriminator updates, each on its own slice `x[i::d_steps]` of
    the batch (Algorithm 1 of Goodfellow et al.: k minibatches of m examples,
    so feed batches of k·m), then one generator update on m fresh latents.
    Losses are summed per example and divided by the global batch, so that
    the gradients the optimizers sum across replicas are global means.

    Args:
        image_shape: (height, width, channels) of the images.
        latent_dim: size of the latent vector z ~ N(0, I).
        num_classes: number of classes for a class-conditional model; `None`
            for an unconditional one. Conditional models train on
            `(images, labels)` batches and sample with `labels=`.
        d_steps: discriminator updates per generator update (k).
        ema_decay: if set (e.g. 0.999), keep `ema_generator`, an exponential
            moving average of the generator's weights (batch-norm moving
            statistics included, as timm's `ModelEmaV2` averages buffers),
            updated after every generator step; `sample` and `generate` use
            it unless `use_ema=False`. `None` keeps none.
        generator_loss: `"non_saturating"` (descend -log D(G(z))),
            `"minimax"` (descend log(1 - D(G(z)))), `"hinge"` or
            `"wasserstein"` (both descend -D(G(z))); see
            `tfgen.models.gan_losses`.
        seed: seed of the model's `keras.random.SeedGenerator`.
        discriminator_loss: `"logistic"` (-log D(x) - log(1 - D(G(z)))),
            `"hinge"` (relu(1 - D(x)) + relu(1 + D(G(z)))) or
            `"wasserstein"` (D(G(z)) - D(x)).
        r1_weight: gamma of the R1 penalty, gamma/2 * ||grad_x D(x)||^2 on
            the real images (as the discriminator sees them), added to the
            discriminator's loss; 0 for none. Needs a discriminator without
            batch norm (the gradient is per example).
        diff_augment: a DiffAugment policy, e.g. `"color,translation,cutout"`
            (`tfgen.models.diff_augment`): every image the discriminator
            sees, real or generated, in both networks' steps, is augmented
            first, with parameters from the model's `SeedGenerator`. None
            for none.
        spectral_norm: wrap every kernel layer of the discriminator in
            `keras.layers.SpectralNormalization`
            (`tfgen.layers.spectral_norm`).
        **kwargs: passed to `keras.Model`.

    Two time scales (TTUR, Heusel et al., arXiv 1706.08500) are the two
    named optimizers of `compile`, each with its own learning rate:
    `compile(d_optimizer=keras.optimizers.Adam(4e-4, 0.0, 0.9),
    g_optimizer=keras.optimizers.Adam(1e-4, 0.0, 0.9))`, or a recipe's
    `optimizers` block. `sample(..., truncation=t)` draws latents truncated
    to |z_i| <= t (`tfgen.models.truncation`).

    Example:

    ```python
    class TinyGAN(tfgen.models.AdversarialModel):
        def build_generator(self):
            inputs, h = self._generator_inputs()
            h = keras.layers.Dense(int(np.prod(self.image_shape)), activation="tanh")(h)
            return keras.Model(inputs, keras.layers.Reshape(self.image_shape)(h))

        def build_discriminator(self):
            inputs, h = self._discriminator_inputs()
            logits = keras.layers.Dense(1)(keras.layers.Flatten()(h))
            return keras.Model(inputs, logits)

    model = TinyGAN(image_shape=(28, 28, 1), d_steps=2)
    model.compile(d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(2e-4))
    ```

    References:
        Goodfellow et al., Generative Adversarial Networks, arXiv 1406.2661.
        Yazici et al., The Unusual Effectiveness of Averaging in GAN
        Training, arXiv 1806.04498 (the generator EMA).
        Mescheder et al., Which Training Methods for GANs do actually
        Converge?, arXiv 1801.04406 (R1).
        Zhao et al., Differentiable Augmentation for Data-Efficient GAN
        Training, arXiv 2006.10738.
        Miyato et al., Spectral Normalization for Generative Adversarial
        Networks, arXiv 1802.05957.
    """

    default_optimizer = {"learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999}

    def __init__(
        self,
        image_shape,
        latent_dim=100,
        num_classes=None,
        d_steps=1,
        generator_loss="non_saturating",
        seed=None,
        ema_decay=None,
        discriminator_loss="logistic",
        r1_weight=0.0,
        diff_augment=None,
        spectral_norm=False,
        **kwargs,
    ):
        super().__init__(image_shape, **kwargs)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.num_classes = (
            None
            if num_classes is None
            else check_positive_int(num_classes, "num_classes")
        )
        self.d_steps = check_positive_int(d_steps, "d_steps")
        self.generator_loss = gan_losses.check_loss(generator_loss, "generator")
        self.discriminator_loss = gan_losses.check_loss(
            discriminator_loss, "discriminator"
        )
        self.r1_weight = _check_r1_weight(r1_weight)
        policy = check_policy(diff_augment)
        self.diff_augment = ",".join(policy) if policy else None
        self.spectral_norm = bool(spectral_norm)
        self.seed = seed
        self.ema_decay = _check_decay(ema_decay)
        self.generator = self.build_generator()
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = self.build_generator()
            self.ema_generator.trainable = False
            self.ema_generator.set_weights(self.generator.get_weights())
        self.discriminator = self.build_discriminator()
        batch_norms = [
            layer.name
            for layer in self.discriminator.layers
            if isinstance(layer, layers.BatchNormalization)
        ]
        if self.penalty_names() and batch_norms:
            # Batch statistics mix the examples: no per-example gradient.
            raise ValueError(
                f"The penalties {self.penalty_names()} are per example, so the "
                "discriminator cannot use batch norm with them (e.g. "
                "discriminator_norm='none' or 'layer'). Received a discriminator "
                f"with {batch_norms}."
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        # One tracker per penalty in use, of its unweighted mean.
        self.penalty_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.penalty_names()
        }
        # Both networks are functional and already built.
        self.built = True

    # ----------------------------------------------------------------- networks
    def build_generator(self):
        raise NotImplementedError

    def build_discriminator(self):
        raise NotImplementedError

    def _generator_inputs(self):
        z = keras.Input((self.latent_dim,), name="z")
        if self.num_classes is None:
            return z, z
        y = keras.Input((self.num_classes,), name="label_one_hot")
        return [z, y], layers.Concatenate()([z, y])

    def _discriminator_layer(self, layer):
        """`layer`, spectrally normalized when the model says so; every
        discriminator's kernel layers pass through here."""
        return spectral_norm_wrapper(layer) if self.spectral_norm else layer

    def _discriminator_inputs(self):
        x = keras.Input(self.image_shape, name="image")
        if self.num_classes is None:
            return x, x
        y = keras.Input((self.num_classes,), name="label_one_hot")
        h, w = self.image_shape[:2]
        maps = layers.Reshape((1, 1, self.num_classes))(y)
        maps = layers.UpSampling2D((h, w))(maps)
        return [x, y], layers.Concatenate()([x, maps])

    def _with_labels(self, tensor, labels):
        if self.num_classes is None:
            return tensor
        one_hot = ops.one_hot(
            ops.cast(labels, "int32"), self.num_classes, dtype="float32"
        )
        return [tensor, one_hot]

    def call(self, inputs, training=False):
        """Generator output in [-1, 1]; `inputs` is z, or [z, one_hot_labels]."""
        return self.generator(inputs, training=training)

    # ---------------------------------------------------------------- training
    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Sets the two optimizers and builds them on their variables.

        Call under the strategy's scope: the optimizers' slots are created
        here, as MirroredStrategy needs, not lazily inside `train_step`.
        """
        optimizers = build_optimizers(
            {"d_optimizer": d_optimizer, "g_optimizer": g_optimizer},
            {
                "d_optimizer": self.discriminator.trainable_variables,
                "g_optimizer": self.generator.trainable_variables,
            },
            self.default_optimizer,
        )
        self.d_optimizer = optimizers["d_optimizer"]
        self.g_optimizer = optimizers["g_optimizer"]
        kwargs.setdefault("optimizer", self.g_optimizer)
        super().compile(**kwargs)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker] + list(
            self.penalty_trackers.values()
        )

    def discriminator_loss_fn(self, real_logits, fake_logits):
        """Per-example `discriminator_loss` from float32 logits (n,)."""
        return gan_losses.discriminator_loss(
            self.discriminator_loss, real_logits, fake_logits
        )

    def generator_loss_fn(self, fake_logits):
        """Per-example `generator_loss` from float32 logits (n,)."""
        return gan_losses.generator_loss(self.generator_loss, fake_logits)

    def penalty_names(self):
        """The names of the penalties `penalties` returns (and tracks)."""
        return ["r1_penalty"] if self.r1_weight > 0 else []

    def penalties(self, real, fake, labels):
        """`{name: (weight, per-example penalty)}` added to the
        discriminator's loss, at the images as the discriminator sees them
        (after DiffAugment); R1 when `r1_weight` > 0."""
        if self.r1_weight == 0:
            return {}
        r1 = gan_penalties.r1_penalty(self._critic(labels), real)
        return {"r1_penalty": (0.5 * self.r1_weight, r1)}

    def _critic(self, labels):
        """The discriminator as a function of images alone, for penalties."""
        if labels is None:
            return lambda images: self.discriminator(images, training=True)
        return lambda images: self.discriminator(
            self._with_labels(images, labels), training=True
        )

    def _augment(self, images):
        """Images as the discriminator sees them: DiffAugmented if asked."""
        if self.diff_augment is None:
            return images
        return diff_augment(images, self.diff_augment, self.seed_generator)

    def _unpack(self, data):
        images, labels = split_labels(data, self.num_classes, type(self).__name__)
        images = check_image_batch(images, self.image_shape)
        return images * 2.0 - 1.0, labels

    def _latents(self, n):
        return replica_normal([n, self.latent_dim], self.seed_generator)

    def _discriminator_step(self, real, labels):
        z = self._latents(ops.shape(real)[0])
        fake = self.generator(self._with_labels(z, labels), training=True)
        real = self._augment(real)
        fake = self._augment(fake)

        def loss():
            real_logits = ops.cast(
                self.discriminator(self._with_labels(real, labels), training=True),
                "float32",
            )
            fake_logits = ops.cast(
                self.discriminator(self._with_labels(fake, labels), training=True),
                "float32",
            )
            per_example = self.discriminator_loss_fn(
                real_logits[:, 0], fake_logits[:, 0]
            )
            penalties = self.penalties(real, fake, labels)
            for weight, values in penalties.values():
                per_example = per_example + weight * values
            return per_example, (penalties, real_logits, fake_logits)

        per_example, (penalties, real_logits, fake_logits) = minimize(
            loss, (self.d_optimizer, self.discriminator.trainable_variables)
        )
        return per_example, penalties, real_logits, fake_logits

    def _generator_step(self, n, labels):
        z = self._latents(n)

        def loss():
            fake = self._augment(
                self.generator(self._with_labels(z, labels), training=True)
            )
            fake_logits = ops.cast(
                self.discriminator(self._with_labels(fake, labels), training=True),
                "float32",
            )
            return self.generator_loss_fn(fake_logits[:, 0]), None

        per_example, _ = minimize(
            loss, (self.g_optimizer, self.generator.trainable_variables)
        )
        return per_example

    def train_step(self, data):
        real, labels = self._unpack(data)
        k = self.d_steps
        for i in range(k):
            real_i = real[i::k]
            labels_i = None if labels is None else labels[i::k]
            n = ops.shape(real_i)[0]
            d_per_example, penalties, real_logits, fake_logits = (
                self._discriminator_step(real_i, labels_i)
            )
            weight = ops.cast(n, "float32")
            self.d_loss_tracker.update_state(
                ops.mean(d_per_example), sample_weight=weight
            )
            for name, (_, values) in penalties.items():
                self.penalty_trackers[name].update_state(
                    ops.mean(values), sample_weight=weight
                )
            self._track_discriminator(real_logits, fake_logits, n)
        labels_g = None if labels is None else labels[0::k]
        n = ops.shape(real[0::k])[0]
        g_per_example = self._generator_step(n, labels_g)
        if self.ema_generator is not None:
            self._update_ema()
        self.g_loss_tracker.update_state(
            ops.mean(g_per_example), sample_weight=ops.cast(n, "float32")
        )
        return {m.name: m.result() for m in self.metrics}

    def _track_discriminator(self, real_logits, fake_logits, n):
        """Hook for subclasses with more trackers."""

    def _update_ema(self):
        # Every replica holds the same generator after the optimizer's
        # all-reduce, so each computes the same average.
        decay = self.ema_decay
        for average, live in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(
                average * decay + ops.cast(live, average.dtype) * (1.0 - decay)
            )

    def reset_ema(self):
        """Copies the live generator's weights into `ema_generator`."""
        if self.ema_generator is None:
            raise ValueError(
                f"{type(self).__name__} keeps no generator average. "
                "Received: ema_decay=None; build the model with ema_decay=0.999."
            )
        self.ema_generator.set_weights(self.generator.get_weights())

    # ---------------------------------------------------------------- sampling
    def latents(self, n, seed=None, truncation=None):
        """`n` latent vectors z ~ N(0, I), reproducible for an int `seed`.

        `truncation`: a threshold t > 0; every entry with |z_i| > t is drawn
        again until none is (`tfgen.models.truncation`). The entries within
        t are those of the untruncated draw with the same seed; the redraws
        come from a NumPy generator seeded by `int_seed(seed)`.
        """
        n = check_positive_int(n, "n")
        threshold = truncation_module.check_truncation(truncation)
        z = np.asarray(
            keras.random.normal((n, self.latent_dim), seed=self.noise_seed(seed)),
            "float32",
        )
        if threshold is None:
            return z
        rng = np.random.default_rng(self.int_seed(seed))
        return truncation_module.truncate(z, threshold, rng)

    def sampling_generator(self, use_ema=True):
        """The network `generate` runs: the weight average when the model
        keeps one and `use_ema`, else the live generator."""
        if use_ema and self.ema_generator is not None:
            return self.ema_generator
        return self.generator

    def generate(self, z, labels=None, batch_size=256, progress=False, use_ema=True):
        """Maps latents z (n, latent_dim) to images (n, H, W, C) in [0, 1],
        with the generator average when the model keeps one and `use_ema`."""
        z = latent.check_latents(z, self.latent_dim)
        labels = check_labels(labels, z.shape[0], self.num_classes)
        batches = batch_starts(z.shape[0], batch_size, progress, desc="generate")
        generator = self.sampling_generator(use_ema)
        out = []
        for start in batches:
            zb = ops.convert_to_tensor(z[start : start + batch_size])
            lb = None if labels is None else labels[start : start + batch_size]
            images = generator(self._with_labels(zb, lb), training=False)
            out.append(np.asarray(ops.cast(images, "float32")))
        images = (
            np.concatenate(out, axis=0) if out else np.zeros((0, *self.image_shape))
        )
        return np.clip((images + 1.0) / 2.0, 0.0, 1.0).astype("float32")

    def sample(
        self,
        n,
        seed=None,
        labels=None,
        batch_size=256,
        progress=False,
        use_ema=True,
        truncation=None,
    ):
        """Draws `n` images in [0, 1]; `labels` (ints) for conditional models,
        by default cycling through the classes. `use_ema`: see `generate`.
        `truncation`: a threshold t on |z_i| (the truncation trick, see
        `latents`); None samples the untruncated prior."""
        return self.generate(
            self.latents(n, seed, truncation=truncation),
            labels=labels,
            batch_size=batch_size,
            progress=progress,
            use_ema=use_ema,
        )

    def interpolate(
        self, steps=8, z0=None, z1=None, method="slerp", seed=None, labels=None
    ):
        """Images along a path between two latents (random ones by default).

        `method` is `"linear"` or `"slerp"` (spherical, which keeps the norm
        typical of a Gaussian latent; White 2016, arXiv 1609.04468).
        """
        z = latent.latent_path(self, z0, z1, steps, method, seed)
        if labels is not None and np.ndim(labels) == 0:
            labels = np.full((steps,), labels)
        return self.generate(z, labels=labels)

    def attribute_vector(self, z, labels, source, target):
        """The mean of the latents `z` (n, latent_dim) whose images have
        class `target` minus the mean of those of class `source`; `labels`
        (n,) are the classes of the generated images (from a classifier or
        by eye). See `tfgen.models.latent.attribute_vector`."""
        z = latent.check_latents(z, self.latent_dim)
        return latent.attribute_vector(z, labels, source, target)

    def apply_attribute(self, z, vector, strength=1.0, labels=None, use_ema=True):
        """Images generated from z + strength * vector, in [0, 1]."""
        z = latent.check_latents(z, self.latent_dim)
        moved = latent.apply_attribute(z, vector, strength)
        return self.generate(moved, labels=labels, use_ema=use_ema)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            num_classes=self.num_classes,
            d_steps=self.d_steps,
            generator_loss=self.generator_loss,
            seed=self.seed,
            ema_decay=self.ema_decay,
            discriminator_loss=self.discriminator_loss,
            r1_weight=self.r1_weight,
            diff_augment=self.diff_augment,
            spectral_norm=self.spectral_norm,
        )
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class GAN(AdversarialModel):
    """The original GAN: MLP generator and discriminator, minimax objective.

    The discriminator maximizes log D(x) + log(1 - D(G(z))); with
    `generator_loss="minimax"` the generator descends log(1 - D(G(z))) as in
    the paper's Algorithm 1, and with `"non_saturating"` it ascends
    log D(G(z)), the variant the paper recommends in practice.

    Args:
        image_shape: (height, width, channels) of the images.
        latent_dim: size of z.
        hidden_units: widths of the generator's hidden layers; the
            discriminator uses them in reverse.
        dropout: dropout rate in the discriminator.
        num_classes, d_steps, generator_loss, seed: see `AdversarialModel`.
        **kwargs: the other `AdversarialModel` arguments (`ema_decay`,
            `discriminator_loss`, `r1_weight`, `diff_augment`,
            `spectral_norm`), then `keras.Model`'s.

    Example:

    ```python
    model = tfgen.GAN(image_shape=(28, 28, 1), d_steps=1)
    model.compile()
    model.fit(tfgen.data.load("mnist", batch_size=64, shuffle=True), epochs=1)
    images = model.sample(16, seed=0)  # (16, 28, 28, 1) in [0, 1]
    ```

    References:
        Goodfellow et al., Generative Adversarial Networks, arXiv 1406.2661.
    """

    def __init__(
        self,
        image_shape,
        latent_dim=100,
        hidden_units=(256, 512, 1024),
        dropout=0.3,
        num_classes=None,
        d_steps=1,
        generator_loss="minimax",
        seed=None,
        **kwargs,
    ):
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.dropout = float(dropout)
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
        inputs, h = self._generator_inputs()
        for units in self.hidden_units:
            h = layers.Dense(units)(h)
            h = layers.LeakyReLU(0.2)(h)
        h = layers.Dense(int(np.prod(self.image_shape)))(h)
        h = layers.Reshape(self.image_shape)(h)
        images = layers.Activation("tanh", dtype="float32")(h)
        return keras.Model(inputs, images, name="generator")

    def build_discriminator(self):
        inputs, h = self._discriminator_inputs()
        h = layers.Flatten()(h)
        for units in reversed(self.hidden_units):
            h = self._discriminator_layer(layers.Dense(units))(h)
            h = layers.LeakyReLU(0.2)(h)
            h = layers.Dropout(self.dropout)(h)
        logits = self._discriminator_layer(layers.Dense(1, dtype="float32"))(h)
        return keras.Model(inputs, logits, name="discriminator")

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=list(self.hidden_units), dropout=self.dropout)
        return config
