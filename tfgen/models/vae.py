"""The variational autoencoder: its networks, ELBO training, encoding and
decoding. Its likelihoods come from `tfgen.models.estimators` (ELBO, IWAE)
and its latent tools from `tfgen.models.latent`, shared with the GANs."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops
from tensorflow_probability import distributions as tfd

from tfgen import distributions as pixel
from tfgen import levels as grid
from tfgen.models import estimators, latent
from tfgen.models.base import GenerativeModel, num_upsamplings, output_dtype
from tfgen.models.train_core import (
    build_optimizers,
    minimize,
    replica_normal,
    unpack_images,
)
from tfgen.progress import batch_starts
from tfgen.validation import (
    check_image_batch,
    check_images,
    check_labels,
    check_positive_int,
)

__all__ = ["VAE"]

_NETWORKS = ("mlp", "conv")
_LIKELIHOODS = ("bernoulli", "categorical", "logistic_mixture")
_DECODE_MODES = ("mean", "mode", "sample")
# Decoder outputs (floats) held at once by `log_prob`'s default chunking.
_CHUNK_ELEMENTS = 1 << 25


@keras.saving.register_keras_serializable(package="tfgen")
class VAE(GenerativeModel):
    """Variational autoencoder with a Gaussian posterior and a pixel likelihood.

    The encoder maps an image to the mean and scale of a diagonal Gaussian
    posterior q(z|x) (`posterior(x)`, a `tfd.MultivariateNormalDiag`); the
    prior is N(0, I); the decoder maps z to the parameters of p(x|z)
    (`decoder_distribution(z)`, a TFP distribution over whole images).
    `train_step` maximizes the ELBO E_q[log p(x|z)] - beta * KL(q || p) with
    the reparameterized sample z = mu + sigma * eps and the analytic KL; the
    KL weight grows linearly from 0 to `beta` over the first
    `kl_warmup_steps` optimizer steps. Losses are summed per image and divided
    by the global batch (gradients summed across replicas are global means);
    the trackers `elbo`, `reconstruction` (-E_q log p(x|z)) and `kl` are in
    nats per image, computed in float32 under any precision policy. With
    `importance_samples=k > 1` the step instead maximizes IWAE_k (below) over
    k reparameterized draws per image, and `loss` tracks -IWAE_k (the
    `elbo` tracker then averages log p(x|z) over the k draws).

    Likelihoods work on the discrete levels of the data, so that nats and
    bits/dim compare with the literature: `"bernoulli"` for binary images,
    `"categorical"` (a 256-way softmax per channel) and `"logistic_mixture"`
    (a discretized mixture of logistics, channels independent within a
    component) for 8-bit images. Images enter as floats in [0, 1] on the
    level grid (0/1 for binary; k/255 for 8-bit).

    `log_prob(x, num_samples=k)` is the importance-weighted bound IWAE_k of
    Burda et al., log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), which is
    the ELBO for k = 1 and tends to log p(x) as k grows; it streams over
    chunks of samples with a running logsumexp, so k = 5000 fits in memory
    (`tfgen.models.estimators`, which works on any model with
    `posterior_params`, `prior` and `decoder_log_prob`).

    Args:
        image_shape: (height, width, channels).
        latent_dim: size of z.
        encoder: `"mlp"` or `"conv"` (stride-2 convolutions).
        decoder: `"mlp"` or `"conv"` (stride-2 transposed convolutions).
        hidden_units: widths of the MLP encoder's hidden layers; the MLP
            decoder uses them in reverse. The conv networks use the first
            entry for their dense layer.
        base_filters: channels of the first conv stage (doubling per stage).
        likelihood: `"bernoulli"`, `"categorical"` or `"logistic_mixture"`.
        num_mixtures: components of the logistic mixture.
        activation: activation of the hidden layers.
        beta: weight of the KL term (1 is the ELBO; Higgins et al.).
        kl_warmup_steps: optimizer steps over which the KL weight ramps
            linearly from 0 to `beta` (0: no warm-up).
        importance_samples: k, posterior draws per image in the training
            bound: 1 trains on the ELBO (the VAE), k > 1 on IWAE_k (the
            importance weighted autoencoder of Burda et al.; the warm-up
            weight then scales log p(z) - log q(z|x) in each log weight).
        seed: seed of the model's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    model = tfgen.VAE(image_shape=(28, 28, 1), latent_dim=50, likelihood="bernoulli")
    model.compile()  # Adam(1e-3)
    model.fit(tfgen.data.load("binarized_mnist", batch_size=100, shuffle=True), epochs=10)
    x = next(iter(tfgen.data.load("binarized_mnist", "test", batch_size=100))).numpy()
    nll = -model.log_prob(x, num_samples=5000).mean()  # nats per image
    grid = model.sample(64, seed=0)
    row = model.interpolate(x[0], x[1], steps=10, method="slerp")
    ```

    References:
        Kingma & Welling, Auto-Encoding Variational Bayes, arXiv 1312.6114;
        Rezende et al., Stochastic Backpropagation and Approximate Inference
        in Deep Generative Models, arXiv 1401.4082;
        Burda et al., Importance Weighted Autoencoders, arXiv 1509.00519;
        Higgins et al., beta-VAE, ICLR 2017;
        Salimans et al., PixelCNN++, arXiv 1701.05517.
    """

    default_optimizer = {"learning_rate": 1e-3}
    # Classes of a class-conditional subclass (`tfgen.models.cvae.CVAE`),
    # whose networks then take a one-hot label as their second input.
    num_classes = None

    def __init__(
        self,
        image_shape,
        latent_dim=32,
        encoder="mlp",
        decoder="mlp",
        hidden_units=(512, 256),
        base_filters=32,
        likelihood="bernoulli",
        num_mixtures=5,
        activation="relu",
        beta=1.0,
        kl_warmup_steps=0,
        importance_samples=1,
        seed=None,
        **kwargs,
    ):
        super().__init__(image_shape, **kwargs)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        for name, value in (("encoder", encoder), ("decoder", decoder)):
            if value not in _NETWORKS:
                raise ValueError(
                    f"`{name}` must be one of {_NETWORKS}. Received: {name}={value!r}"
                )
        if likelihood not in _LIKELIHOODS:
            raise ValueError(
                f"`likelihood` must be one of {_LIKELIHOODS}. "
                f"Received: likelihood={likelihood!r}"
            )
        self.encoder_kind = encoder
        self.decoder_kind = decoder
        self.hidden_units = tuple(
            check_positive_int(int(u), "hidden_units") for u in hidden_units
        )
        if not self.hidden_units:
            raise ValueError("`hidden_units` needs at least one width. Received: ()")
        self.base_filters = check_positive_int(int(base_filters), "base_filters")
        self.likelihood = likelihood
        self.num_mixtures = check_positive_int(num_mixtures, "num_mixtures")
        self.activation = activation
        if not float(beta) >= 0.0:
            raise ValueError(f"`beta` must be >= 0. Received: beta={beta!r}")
        self.beta = float(beta)
        if isinstance(kl_warmup_steps, bool) or int(kl_warmup_steps) < 0:
            raise ValueError(
                "`kl_warmup_steps` must be a non-negative integer. "
                f"Received: kl_warmup_steps={kl_warmup_steps!r}"
            )
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.importance_samples = check_positive_int(
            importance_samples, "importance_samples"
        )
        self.seed = seed
        self.num_levels = 2 if likelihood == "bernoulli" else 256
        if "conv" in (encoder, decoder):
            self.num_stages = num_upsamplings(self.image_shape[0])
            if self.num_stages < 1 or num_upsamplings(self.image_shape[1]) != (
                self.num_stages
            ):
                raise ValueError(
                    "Conv networks need sides that halve at least once to a 4..7 "
                    "pixel map (e.g. 28x28 or 32x32). "
                    f"Received: image_shape={self.image_shape}"
                )
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        # Both networks are functional and already built.
        self.built = True

    # ----------------------------------------------------------------- networks
    @property
    def params_per_pixel(self):
        """Decoder outputs per pixel position (all channels together)."""
        channels = self.image_shape[-1]
        if self.likelihood == "bernoulli":
            return channels
        if self.likelihood == "categorical":
            return channels * self.num_levels
        return pixel.logistic_mixture_num_params(self.num_mixtures, channels)

    def label_input(self):
        """The networks' one-hot label input of a class-conditional model;
        None for the unconditional VAE (its networks take one input)."""
        if self.num_classes is None:
            return None
        return keras.Input((self.num_classes,), name="label_one_hot")

    @staticmethod
    def _joined(h, label):
        """`h` with the one-hot label appended to its features (if any)."""
        return h if label is None else layers.Concatenate()([h, label])

    @staticmethod
    def _network_inputs(tensor, condition):
        return tensor if condition is None else [tensor, condition]

    def build_encoder(self):
        x = keras.Input(self.image_shape, name="image")
        label = self.label_input()
        h = layers.Rescaling(2.0, offset=-1.0)(x)
        hidden = self.hidden_units
        if self.encoder_kind == "conv":
            filters = self.base_filters
            for _ in range(self.num_stages):
                h = layers.Conv2D(
                    filters, 4, strides=2, padding="same", activation=self.activation
                )(h)
                filters *= 2
            hidden = self.hidden_units[:1]
        # The label joins the flattened image (or conv features): Sohn et
        # al.'s q(z|x, y).
        h = self._joined(layers.Flatten()(h), label)
        for units in hidden:
            h = layers.Dense(units, activation=self.activation)(h)
        # Mean and pre-softplus scale, in float32 for the density computations.
        stats = layers.Dense(2 * self.latent_dim, dtype=output_dtype(), name="stats")(h)
        return keras.Model(self._network_inputs(x, label), stats, name="encoder")

    def build_decoder(self):
        z = keras.Input((self.latent_dim,), name="z")
        label = self.label_input()
        height, width, channels = self.image_shape
        p = self.params_per_pixel
        h = self._joined(z, label)  # p(x|z, y)
        if self.decoder_kind == "mlp":
            for units in reversed(self.hidden_units):
                h = layers.Dense(units, activation=self.activation)(h)
            h = layers.Dense(height * width * p, dtype=output_dtype(), name="params")(h)
            h = layers.Reshape((height, width, p), dtype=output_dtype())(h)
        else:
            n = self.num_stages
            seed_h, seed_w = height // 2**n, width // 2**n
            filters = self.base_filters * 2 ** (n - 1)
            h = layers.Dense(self.hidden_units[0], activation=self.activation)(h)
            h = layers.Dense(seed_h * seed_w * filters, activation=self.activation)(h)
            h = layers.Reshape((seed_h, seed_w, filters))(h)
            for _ in range(n):
                h = layers.Conv2DTranspose(
                    filters, 4, strides=2, padding="same", activation=self.activation
                )(h)
                filters = max(filters // 2, self.base_filters)
            h = layers.Conv2D(
                p, 3, padding="same", dtype=output_dtype(), name="params"
            )(h)
        if self.likelihood == "categorical":
            # Same dtype: under a mixed policy the Reshape would cast to bf16.
            h = layers.Reshape(
                (height, width, channels, self.num_levels), dtype=output_dtype()
            )(h)
        return keras.Model(self._network_inputs(z, label), h, name="decoder")

    def call(self, inputs, training=False):
        """Decoder parameters at the posterior mean of `inputs` (images)."""
        mean, _ = self.posterior_params(inputs, training=training)
        return self.decoder(mean, training=training)

    # ---------------------------------------------------------- distributions
    def posterior_params(self, x, training=False, condition=None):
        """The Gaussian posterior q(z|x) as float32 `(mean, scale)`, each
        (n, latent_dim): what the ELBO, IWAE and bits-back coding draw from.
        `condition`: the one-hot labels (n, num_classes) of a conditional
        model, None for the VAE."""
        stats = self.encoder(self._network_inputs(x, condition), training=training)
        stats = ops.cast(stats, "float32")
        mean = stats[:, : self.latent_dim]
        # softplus keeps the scale positive and its gradient bounded.
        scale = ops.softplus(stats[:, self.latent_dim :]) + 1e-4
        return mean, scale

    def posterior(self, x, training=False):
        """q(z|x) as a `tfd.MultivariateNormalDiag` (batch of images in [0, 1])."""
        mean, scale = self.posterior_params(x, training=training)
        return tfd.MultivariateNormalDiag(loc=mean, scale_diag=scale)

    def prior(self):
        """p(z) = N(0, I) as a `tfd.MultivariateNormalDiag`."""
        return tfd.MultivariateNormalDiag(
            loc=tf.zeros([self.latent_dim]), scale_diag=tf.ones([self.latent_dim])
        )

    def _pixel_distribution(self, params):
        if self.likelihood == "logistic_mixture":
            return pixel.discretized_logistic_mixture(
                params, self.num_mixtures, self.image_shape[-1], self.num_levels
            )
        return pixel.pixel_distribution(params, self.num_levels)

    def decoder_distribution(self, z, training=False):
        """p(x|z): a TFP distribution over images whose `log_prob` takes
        levels (0/1 for Bernoulli, 0..255 otherwise; see `to_levels`) and
        whose samples are levels."""
        return self._pixel_distribution(self.decoder(z, training=training))

    def _log_likelihood(self, params, levels):
        """log p(x|z) in nats per image, float32; `levels` int32."""
        if self.likelihood == "logistic_mixture":
            levels = ops.cast(levels, "float32")
        return self._pixel_distribution(params).log_prob(levels)

    @staticmethod
    def analytic_kl(mean, scale):
        """KL(N(mean, diag(scale^2)) || N(0, I)) per row, in nats."""
        return 0.5 * ops.sum(
            ops.square(mean) + ops.square(scale) - 1.0 - 2.0 * ops.log(scale), axis=-1
        )

    # ---------------------------------------------------------------- training
    def compile(self, optimizer=None, **kwargs):
        """Sets the optimizer (Adam(1e-3) by default) and builds it on the
        model's variables; call under the strategy's scope."""
        optimizer = build_optimizers(
            {"optimizer": optimizer},
            {"optimizer": self.trainable_variables},
            self.default_optimizer,
        )["optimizer"]
        super().compile(optimizer=optimizer, **kwargs)

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.elbo_tracker,
            self.reconstruction_tracker,
            self.kl_tracker,
        ]

    def kl_weight(self):
        """beta, ramped linearly over the first `kl_warmup_steps` steps."""
        if self.kl_warmup_steps == 0:
            return ops.convert_to_tensor(self.beta, "float32")
        step = ops.cast(self.optimizer.iterations, "float32") + 1.0
        return self.beta * ops.minimum(1.0, step / float(self.kl_warmup_steps))

    def _unpack(self, data):
        """Validated float32 images in [0, 1] on the level grid ->
        (x, levels, condition)."""
        # Keras may pass (x,), (x, y) or (x, y, sample_weight); weights are
        # not used, labels only by a conditional model.
        data, labels, _ = unpack_images(data)
        images = check_image_batch(
            data,
            self.image_shape,
            num_levels=self.num_levels,
            grid_message=self._grid_message(),
        )
        condition = self.batch_condition(labels, images)
        return images, grid.to_levels(images, self.num_levels), condition

    def batch_condition(self, labels, images):
        """The networks' label input for a training batch: None for the VAE,
        which ignores labels; a conditional model checks them here."""
        return None

    def _grid_message(self):
        if self.num_levels == 2:
            return (
                "Expected binary images (values 0 or 1) for likelihood='bernoulli'; "
                "binarize them (tfgen.data.load(..., binarize='dynamic' or "
                "'threshold')) or use an 8-bit likelihood."
            )
        return "Expected 8-bit images on the grid k/255 (uint8 divided by 255)."

    def _check(self, x, name="x"):
        """Numpy-side validation of images for the inference methods."""
        x = check_images(x, self.image_shape, name=name)
        return grid.check_levels(
            x, self.num_levels, name=name, message=self._grid_message()
        )

    def _elbo_terms(self, x, levels, eps, training, condition=None):
        mean, scale = self.posterior_params(x, training=training, condition=condition)
        z = mean + scale * eps
        params = self.decoder(self._network_inputs(z, condition), training=training)
        log_px = self._log_likelihood(params, levels)
        kl = self.analytic_kl(mean, scale)
        return log_px, kl

    def _update_trackers(self, per_image_loss, log_px, kl, n):
        n = ops.cast(n, "float32")
        self.loss_tracker.update_state(ops.mean(per_image_loss), sample_weight=n)
        self.elbo_tracker.update_state(ops.mean(log_px - kl), sample_weight=n)
        self.reconstruction_tracker.update_state(ops.mean(-log_px), sample_weight=n)
        self.kl_tracker.update_state(ops.mean(kl), sample_weight=n)
        return {m.name: m.result() for m in self.metrics}

    def _draws(self, n):
        """Standard normal eps of the step: (n, latent_dim) for the ELBO,
        (k, n, latent_dim) for IWAE_k."""
        k = self.importance_samples
        if k == 1:
            return replica_normal([n, self.latent_dim], self.seed_generator)
        # Images lead so that replicas slice the global batch's draws.
        eps = replica_normal([n, k, self.latent_dim], self.seed_generator)
        return ops.transpose(eps, (1, 0, 2))

    def _iwae_terms(self, x, eps, weight, training, condition=None):
        """(-IWAE_k per image, E_k log p(x|z), analytic KL) for eps of
        shape (k, n, latent_dim); `weight` scales log p(z) - log q(z|x)."""
        mean, scale = self.posterior_params(x, training=training, condition=condition)
        z = mean + scale * eps
        log_px = self.decoder_log_prob(z, x, training=training, condition=condition)
        log_w = log_px + weight * estimators.log_prior_ratio(self, mean, scale, z)
        k = float(self.importance_samples)
        bound = ops.logsumexp(log_w, axis=0) - np.log(k).astype("float32")
        return -bound, ops.mean(log_px, axis=0), self.analytic_kl(mean, scale)

    def _step_terms(self, x, levels, eps, weight, training, condition):
        """(per-image loss, log p(x|z), KL) of the training bound."""
        if self.importance_samples > 1:
            return self._iwae_terms(x, eps, weight, training, condition)
        log_px, kl = self._elbo_terms(x, levels, eps, training, condition)
        return -log_px + weight * kl, log_px, kl

    def train_step(self, data):
        x, levels, condition = self._unpack(data)
        n = ops.shape(x)[0]
        eps = self._draws(n)
        weight = self.kl_weight()

        def loss():
            per_image, log_px, kl = self._step_terms(
                x, levels, eps, weight, True, condition
            )
            return per_image, (log_px, kl)

        per_image, (log_px, kl) = minimize(
            loss, (self.optimizer, self.trainable_variables)
        )
        return self._update_trackers(per_image, log_px, kl, n)

    def test_step(self, data):
        x, levels, condition = self._unpack(data)
        n = ops.shape(x)[0]
        per_image, log_px, kl = self._step_terms(
            x, levels, self._draws(n), self.kl_weight(), False, condition
        )
        return self._update_trackers(per_image, log_px, kl, n)

    # -------------------------------------------------------------- likelihood
    def decoder_log_prob(self, z, x, training=False, condition=None):
        """log p(x|z) in nats per image, float32: for images `x` (n, H, W, C)
        in [0, 1] on the level grid and latents `z` (..., n, latent_dim),
        one value per latent, shape (..., n). With `posterior_params` and
        `prior`, the interface of `tfgen.models.estimators`. `condition`:
        a conditional model's one-hot labels (n, num_classes) of `x`."""
        levels = grid.to_levels(x, self.num_levels)
        shape = tf.shape(z)
        flat = tf.reshape(z, [-1, self.latent_dim])
        if condition is not None:
            # Row s * n + i of `flat` is a latent of image i.
            repeats = tf.shape(flat)[0] // tf.shape(condition)[0]
            condition = tf.tile(tf.cast(condition, flat.dtype), [repeats, 1])
        params = self.decoder(self._network_inputs(flat, condition), training=training)
        params = tf.reshape(
            tf.cast(params, tf.float32),
            tf.concat([shape[:-1], tf.shape(params)[1:]], axis=0),
        )
        return self._log_likelihood(params, levels)

    def log_prob(
        self,
        x,
        num_samples=5000,
        batch_size=100,
        chunk_size=None,
        seed=0,
        progress=False,
    ):
        """The importance-weighted bound IWAE_k on log p(x), nats per image
        (`tfgen.models.estimators.iwae_bound`).

        Args:
            x: images (n, H, W, C) in [0, 1] on the model's level grid.
            num_samples: k, importance samples per image (k = 1: the ELBO
                estimated with one sample).
            batch_size: images per forward pass.
            chunk_size: samples per image drawn at once; by default as many
                as keep the decoder outputs of one chunk near 2**25 floats.
            seed: seeds the importance samples (None: fresh ones).
            progress: show a tqdm bar over the image batches.

        Returns:
            float64 array (n,): log (1/k) sum_i p(x, z_i) / q(z_i|x).
        """
        x, chunk_size = self._estimator_inputs(x, num_samples, batch_size, chunk_size)
        return estimators.iwae_bound(
            self, x, num_samples, batch_size, chunk_size, self.int_seed(seed), progress
        )

    def elbo(
        self, x, num_samples=1, batch_size=100, chunk_size=None, seed=0, progress=False
    ):
        """The ELBO per image, in nats (float64 array (n,)): the mean of
        log p(x, z) - log q(z|x) over `num_samples` posterior draws per image
        (`tfgen.models.estimators.elbo`). Arguments as for `log_prob`."""
        x, chunk_size = self._estimator_inputs(x, num_samples, batch_size, chunk_size)
        return estimators.elbo(
            self, x, num_samples, batch_size, chunk_size, self.int_seed(seed), progress
        )

    def _estimator_inputs(self, x, num_samples, batch_size, chunk_size):
        """Checked images and the chunk size of `log_prob` and `elbo`."""
        k = check_positive_int(num_samples, "num_samples")
        batch_size = check_positive_int(batch_size, "batch_size")
        x = self._check(x)
        if chunk_size is None:
            per_image = int(np.prod(self.image_shape[:2])) * self.params_per_pixel
            chunk_size = max(1, min(k, _CHUNK_ELEMENTS // (per_image * batch_size)))
        return x, check_positive_int(chunk_size, "chunk_size")

    def bits_per_dim(self, x, num_samples=5000, **kwargs):
        """-IWAE_k in bits per dimension, per image (8-bit or binary data);
        `kwargs` as for `log_prob`."""
        nats = -self.log_prob(x, num_samples=num_samples, **kwargs)
        return pixel.bits_per_dim(nats, self.image_shape)

    # ------------------------------------------------------------ latent tools
    def encode(self, x, sample=False, seed=None, batch_size=256):
        """Latent codes (n, latent_dim): the posterior mean, or a draw."""
        return self._encode(self._check(x), None, sample, seed, batch_size)

    @staticmethod
    def _rows(condition, start, stop):
        return (
            None if condition is None else tf.convert_to_tensor(condition[start:stop])
        )

    def _encode(self, x, condition, sample, seed, batch_size):
        """`encode` of checked images, with one-hot labels (or None)."""
        out = []
        rng = tf.random.Generator.from_seed(self.int_seed(seed))
        for start in range(0, len(x), batch_size):
            mean, scale = self.posterior_params(
                tf.convert_to_tensor(x[start : start + batch_size]),
                condition=self._rows(condition, start, start + batch_size),
            )
            if sample:
                mean = mean + scale * rng.normal(tf.shape(mean))
            out.append(np.asarray(mean, dtype="float32"))
        return np.concatenate(out) if out else np.zeros((0, self.latent_dim), "float32")

    def features(self, x, batch_size=256):
        """Features for downstream use: the posterior means (n, latent_dim)."""
        return self.encode(x, batch_size=batch_size)

    def decode(self, z, mode="mean", seed=None, batch_size=256, progress=False):
        """Images in [0, 1] from latents (n, latent_dim).

        `mode`: `"mean"` the mean image E[x|z] (exact for every likelihood),
        `"mode"` the most probable level per pixel (of the most probable
        mixture component for the logistic mixture), or `"sample"` a draw
        x ~ p(x|z), on the level grid.
        """
        z = latent.check_latents(z, self.latent_dim)
        return self._decode(z, None, mode, seed, batch_size, progress)

    def _decode(self, z, condition, mode, seed, batch_size, progress):
        """`decode` of checked latents, with one-hot labels (or None)."""
        if mode not in _DECODE_MODES:
            raise ValueError(
                f"`mode` must be one of {_DECODE_MODES}. Received: mode={mode!r}"
            )
        seed_pair = tf.constant([self.int_seed(seed), 0], dtype=tf.int32)
        out = []
        for i, start in enumerate(batch_starts(len(z), batch_size, progress)):
            zb = tf.convert_to_tensor(z[start : start + batch_size])
            label = self._rows(condition, start, start + batch_size)
            params = tf.cast(self.decoder(self._network_inputs(zb, label)), tf.float32)
            out.append(self._decode_params(params, mode, seed_pair + [0, i]).numpy())
        images = np.concatenate(out) if out else np.zeros((0, *self.image_shape))
        return np.clip(images, 0.0, 1.0).astype("float32")

    def _decode_params(self, params, mode, seed):
        levels = float(self.num_levels - 1)
        if mode == "sample":
            sample = self._pixel_distribution(params).sample(seed=seed)
            return grid.from_levels(sample, self.num_levels)
        if self.likelihood == "bernoulli":
            if mode == "mean":
                return tf.sigmoid(params)
            return tf.cast(params > 0, tf.float32)
        if self.likelihood == "categorical":
            if mode == "mean":
                probs = tf.nn.softmax(params, axis=-1)
                return (
                    tf.reduce_sum(
                        probs * tf.range(self.num_levels, dtype=tf.float32), -1
                    )
                    / levels
                )
            return tf.cast(tf.argmax(params, axis=-1), tf.float32) / levels
        channels = self.image_shape[-1]
        if mode == "mean":
            return pixel.discretized_logistic_mixture_mean(
                params, self.num_mixtures, channels, self.num_levels
            )
        k = self.num_mixtures
        best = tf.argmax(params[..., :k], axis=-1)
        shape = tf.concat([tf.shape(params)[:-1], [k, channels]], axis=0)
        loc = tf.reshape(params[..., k : k + k * channels], shape)
        loc = tf.gather(loc, best, axis=-2, batch_dims=3)
        return tf.round(tf.clip_by_value((loc + 1.0) / 2.0, 0.0, 1.0) * levels) / levels

    def reconstruct(
        self, x, mode="mean", sample_latent=False, seed=None, batch_size=256
    ):
        """decode(encode(x)): images in [0, 1]."""
        z = self.encode(x, sample=sample_latent, seed=seed, batch_size=batch_size)
        return self.decode(z, mode=mode, seed=seed, batch_size=batch_size)

    def latents(self, n, seed=None):
        """`n` prior draws z ~ N(0, I), reproducible for an int `seed`."""
        n = check_positive_int(n, "n")
        return np.asarray(
            keras.random.normal((n, self.latent_dim), seed=self.noise_seed(seed)),
            dtype="float32",
        )

    def sample(
        self, n, seed=None, batch_size=256, progress=False, mode="mean", labels=None
    ):
        """`n` images in [0, 1]: z ~ N(0, I) decoded with `mode` (the mean
        image by default; `"sample"` draws x ~ p(x|z))."""
        check_labels(labels, n, None)  # unconditional: refuses labels
        return self.decode(
            self.latents(n, seed),
            mode=mode,
            seed=seed,
            batch_size=batch_size,
            progress=progress,
        )

    def _latent_of(self, image):
        return self.encode(self._one_image(image))[0]

    def _one_image(self, image):
        """`image` (H, W, C) or (1, H, W, C) as a checked batch of one."""
        image = np.asarray(image)
        if image.ndim == 3:
            image = image[None]
        if image.ndim != 4 or image.shape[0] != 1:
            raise ValueError(
                f"Expected one image of shape {self.image_shape}. "
                f"Received: shape={image.shape}"
            )
        return self._check(image)

    def interpolate(
        self,
        a=None,
        b=None,
        steps=10,
        method="slerp",
        seed=None,
        mode="mean",
        labels=None,
    ):
        """Decoded images along a path between the codes of images `a` and
        `b` (posterior means), or of two prior draws where they are None.

        `method` is `"linear"` or `"slerp"`; the end points are included.
        """
        check_labels(labels, steps, None)
        z0 = None if a is None else self._latent_of(a)
        z1 = None if b is None else self._latent_of(b)
        z = latent.latent_path(self, z0, z1, steps, method, seed)
        return self.decode(z, mode=mode)

    def attribute_vector(self, x, labels, source, target, batch_size=256):
        """mean code of class `target` minus mean code of class `source`
        (`tfgen.models.latent.attribute_vector` of the posterior means).

        Add it to a code (`apply_attribute`) to move an image from `source`
        towards `target` (e.g. MNIST digit 1 -> 7), as in White 2016.
        """
        codes = self.encode(x, batch_size=batch_size)
        return latent.attribute_vector(codes, labels, source, target)

    def apply_attribute(self, x, vector, strength=1.0, mode="mean"):
        """Decodes encode(x) + strength * vector: images in [0, 1]."""
        codes = latent.apply_attribute(self.encode(x), vector, strength)
        return self.decode(codes, mode=mode)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            encoder=self.encoder_kind,
            decoder=self.decoder_kind,
            hidden_units=list(self.hidden_units),
            base_filters=self.base_filters,
            likelihood=self.likelihood,
            num_mixtures=self.num_mixtures,
            activation=self.activation,
            beta=self.beta,
            kl_warmup_steps=self.kl_warmup_steps,
            importance_samples=self.importance_samples,
            seed=self.seed,
        )
        return config
