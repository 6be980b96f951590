"""The conditional VAE: the VAE's networks, likelihoods and estimators, with
the class label as a second input of the encoder and the decoder, and
style transfer (encode with one label, decode with another)."""

import keras
import numpy as np
import tensorflow as tf

from tfgen.models import estimators, latent
from tfgen.models.vae import VAE
from tfgen.validation import check_labels, check_positive_int

__all__ = ["CVAE"]

# Seed offset between the classes' IWAE/ELBO draws: `tf.random.Generator`
# puts the seed in Philox's counter, so streams 2**32 counters apart do not
# overlap for any k used here.
_CLASS_SEED_STRIDE = 2**32


class _OneClass:
    """The estimators' latent-variable interface of a CVAE with every input
    of class `label` (`tfgen.models.estimators` takes one array of inputs,
    so the images of each class are estimated together)."""

    def __init__(self, model, label):
        self.model = model
        self.one_hot = tf.one_hot(label, model.num_classes, dtype=tf.float32)

    def _condition(self, x):
        return tf.tile(self.one_hot[None], [tf.shape(x)[0], 1])

    def posterior_params(self, x):
        return self.model.posterior_params(x, condition=self._condition(x))

    def prior(self):
        return self.model.prior()

    def decoder_log_prob(self, z, x):
        return self.model.decoder_log_prob(z, x, condition=self._condition(x))


@keras.saving.register_keras_serializable(package="tfgen")
class CVAE(VAE):
    """Conditional variational autoencoder: q(z|x, y), p(x|z, y), p(z) = N(0, I).

    The VAE (`tfgen.VAE`) with the class label y, one-hot, as a second input
    of both networks: the encoder appends it to the flattened image (or conv
    features), the decoder to z. Training maximizes the conditional ELBO

        log p(x|y) >= E_q(z|x,y)[log p(x|z, y)] - KL(q(z|x, y) || N(0, I))

    on `(images, labels)` batches (Kingma et al.'s M2 with the label
    observed; Sohn et al.'s CVAE with the prior fixed). Since the decoder is
    given the class, the cheapest code leaves it out, so z holds what the
    label does not: the style (slant, thickness, width of a digit).
    `transfer(x, source_labels, target_labels)` encodes each image with its
    own label and decodes the code with another, changing only the label
    input: the digit's style kept, its class changed.

    Likelihoods, decoding modes, `beta`, the KL warm-up and the estimators
    are the VAE's: `log_prob(x, labels, num_samples=k)` is the IWAE_k bound
    on log p(x|y) (`tfgen.models.estimators`, the images of each class
    estimated with that class's one-hot label), `elbo` the ELBO; without
    labels, `log_prob(x)` bounds log p(x) = log sum_y p(x|y) p(y) with
    p(y) uniform.

    Args:
        image_shape: (height, width, channels).
        num_classes: number of classes of the labels.
        **kwargs: the arguments of `tfgen.VAE` (`latent_dim`, `encoder`,
            `decoder`, `hidden_units`, `base_filters`, `likelihood`,
            `num_mixtures`, `activation`, `beta`, `kl_warmup_steps`, `seed`)
            and of `keras.Model`.

    Example:

    ```python
    model = tfgen.CVAE(image_shape=(28, 28, 1), num_classes=10, latent_dim=16)
    model.compile()  # Adam(1e-3)
    data = tfgen.data.load("mnist", labels=True, binarize="dynamic", batch_size=100)
    model.fit(data, epochs=10)
    sevens = model.sample(16, labels=7, seed=0)
    x, y = next(iter(tfgen.data.load("mnist", "test", labels=True, batch_size=8)))
    as_threes = model.transfer(x.numpy(), y.numpy(), target_labels=3)
    nll = -model.log_prob(x.numpy(), y.numpy(), num_samples=5000).mean()
    ```

    References:
        Kingma et al., Semi-Supervised Learning with Deep Generative Models,
        arXiv 1406.5298;
        Sohn, Lee & Yan, Learning Structured Output Representation using
        Deep Conditional Generative Models, NeurIPS 2015;
        Kingma & Welling, Auto-Encoding Variational Bayes, arXiv 1312.6114;
        Burda et al., Importance Weighted Autoencoders, arXiv 1509.00519.
    """

    def __init__(self, image_shape, num_classes=10, **kwargs):
        # Set before the VAE builds its networks, which read it.
        self.num_classes = check_positive_int(num_classes, "num_classes")
        super().__init__(image_shape, **kwargs)
        self._class_views = {}

    # ------------------------------------------------------------- labels
    def one_hot(self, labels, n, name="labels", default=False):
        """Checked class ids as one-hot float32 (n, num_classes). `labels`
        is an int (every row) or n ids; None is refused unless `default`,
        where it cycles through the classes (as `sample` does)."""
        if labels is None and not default:
            raise ValueError(
                f"{type(self).__name__} is class-conditional "
                f"(num_classes={self.num_classes}) and needs `{name}`: an int or "
                f"{n} class ids in [0, {self.num_classes}). Received: {name}=None"
            )
        ids = check_labels(labels, n, self.num_classes, name=name)
        return np.eye(self.num_classes, dtype="float32")[ids]

    def batch_condition(self, labels, images):
        """One-hot labels of a training batch, checked in the graph: integer
        ids of shape (n,), one per image, in [0, num_classes)."""
        name = type(self).__name__
        if labels is None:
            raise ValueError(
                f"{name} is class-conditional (num_classes={self.num_classes}) and "
                "trains on `(images, labels)` batches. Received images without labels."
            )
        labels = tf.convert_to_tensor(labels)
        if not labels.dtype.is_integer:
            raise TypeError(
                f"{name} expects integer class ids. Received labels of dtype "
                f"{labels.dtype.name}"
            )
        if labels.shape.rank is not None and labels.shape.rank != 1:
            raise ValueError(
                f"{name} expects labels of shape (n,): one class id per image. "
                f"Received labels of shape {tuple(labels.shape)}"
            )
        n_labels, n_images = labels.shape[0], images.shape[0]
        if n_labels is not None and n_images is not None and n_labels != n_images:
            raise ValueError(
                f"{name} expects one label per image: {n_images} labels. "
                f"Received {n_labels} labels"
            )
        labels = tf.cast(labels, tf.int32)
        k = self.num_classes
        checks = [
            tf.debugging.assert_equal(
                tf.shape(labels)[0],
                tf.shape(images)[0],
                message="Expected one label per image (labels and images of the "
                "same length). Received lengths",
            ),
            tf.debugging.assert_non_negative(
                labels, message=f"Expected class ids in [0, {k}). Received"
            ),
            tf.debugging.assert_less(
                labels, k, message=f"Expected class ids in [0, {k}). Received"
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.one_hot(labels, k, dtype=tf.float32)

    def call(self, inputs, training=False):
        """Decoder parameters at the posterior mean, for `(images, labels)`."""
        x, labels = inputs
        condition = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)
        mean, _ = self.posterior_params(x, training=training, condition=condition)
        return self.decoder([mean, condition], training=training)

    # -------------------------------------------------------- likelihood
    def _by_class(
        self, estimator, x, labels, num_samples, batch_size, chunk_size, seed, progress
    ):
        x, chunk_size = self._estimator_inputs(x, num_samples, batch_size, chunk_size)
        ids = np.argmax(self.one_hot(labels, len(x)), axis=-1)
        seed = self.int_seed(seed)
        out = np.zeros((len(x),), dtype="float64")
        for label in np.unique(ids):
            rows = np.flatnonzero(ids == label)
            if label not in self._class_views:
                self._class_views[label] = _OneClass(self, int(label))
            out[rows] = estimator(
                self._class_views[label],
                x[rows],
                num_samples,
                batch_size,
                chunk_size,
                seed + int(label) * _CLASS_SEED_STRIDE,
                progress,
            )
        return out

    def log_prob(
        self,
        x,
        labels=None,
        num_samples=5000,
        batch_size=100,
        chunk_size=None,
        seed=0,
        progress=False,
    ):
        """The IWAE_k bound on log p(x|y), nats per image (float64 (n,)).

        Each class's images are estimated together with its one-hot label
        (`tfgen.models.estimators.iwae_bound`); other arguments as for
        `VAE.log_prob`. `labels`: an int or n class ids. Without labels, the
        bound on the marginal log p(x) = log sum_y p(x|y) / num_classes
        (labels uniform a priori): the logsumexp of every class's bound,
        `num_classes` times the work.
        """
        args = (num_samples, batch_size, chunk_size, seed, progress)
        if labels is not None:
            return self._by_class(estimators.iwae_bound, x, labels, *args)
        per_class = [
            self._by_class(estimators.iwae_bound, x, label, *args)
            for label in range(self.num_classes)
        ]
        return np.logaddexp.reduce(per_class, axis=0) - np.log(self.num_classes)

    def elbo(
        self,
        x,
        labels=None,
        num_samples=1,
        batch_size=100,
        chunk_size=None,
        seed=0,
        progress=False,
    ):
        """The conditional ELBO per image in nats (float64 (n,)), with the
        same draws as `log_prob` for the same arguments, so per image
        `elbo <= log_prob`."""
        args = (num_samples, batch_size, chunk_size, seed, progress)
        return self._by_class(estimators.elbo, x, labels, *args)

    def bits_per_dim(self, x, labels=None, num_samples=5000, **kwargs):
        """-IWAE_k of log p(x|y) in bits per dimension, per image."""
        from tfgen import distributions

        nats = -self.log_prob(x, labels, num_samples=num_samples, **kwargs)
        return distributions.bits_per_dim(nats, self.image_shape)

    # ------------------------------------------------------ latent tools
    def encode(self, x, labels=None, sample=False, seed=None, batch_size=256):
        """Style codes (n, latent_dim) of images `x` of classes `labels`
        (an int or n ids): the means of q(z|x, y), or draws."""
        x = self._check(x)
        condition = self.one_hot(labels, len(x))
        return self._encode(x, condition, sample, seed, batch_size)

    def features(self, x, labels=None, batch_size=256):
        """The posterior means (n, latent_dim) given the labels."""
        return self.encode(x, labels, batch_size=batch_size)

    def decode(
        self, z, labels=None, mode="mean", seed=None, batch_size=256, progress=False
    ):
        """Images in [0, 1] from style codes (n, latent_dim) and classes
        `labels` (an int or n ids); `mode` as for `VAE.decode`."""
        z = latent.check_latents(z, self.latent_dim)
        condition = self.one_hot(labels, len(z))
        return self._decode(z, condition, mode, seed, batch_size, progress)

    def reconstruct(
        self,
        x,
        labels=None,
        mode="mean",
        sample_latent=False,
        seed=None,
        batch_size=256,
    ):
        """decode(encode(x, labels), labels): images in [0, 1]."""
        return self.transfer(x, labels, labels, mode, sample_latent, seed, batch_size)

    def transfer(
        self,
        x,
        source_labels,
        target_labels,
        mode="mean",
        sample_latent=False,
        seed=None,
        batch_size=256,
    ):
        """Each image's style in another class: decode(encode(x, source),
        target). Only the decoder's label input differs from a
        reconstruction; `source_labels`/`target_labels` are ints or n ids.

        Returns:
            float32 images (n, H, W, C) in [0, 1].
        """
        x = self._check(x)
        target = self.one_hot(target_labels, len(x), name="target_labels")
        source = self.one_hot(source_labels, len(x), name="source_labels")
        z = self._encode(x, source, sample_latent, seed, batch_size)
        return self._decode(z, target, mode, seed, batch_size, False)

    def sample(
        self, n, seed=None, batch_size=256, progress=False, mode="mean", labels=None
    ):
        """`n` images in [0, 1] of classes `labels` (an int or n ids; by
        default 0, 1, ..., cycling): z ~ N(0, I) decoded with `mode`."""
        z = self.latents(n, seed)
        condition = self.one_hot(labels, n, default=True)
        return self._decode(z, condition, mode, seed, batch_size, progress)

    def preview(self, n, seed=0, **kwargs):
        """`n` samples cycling through the classes, one class per column."""
        nrow = None if "labels" in kwargs else self.num_classes
        return self.sample(n, seed=seed, **kwargs), nrow

    def interpolate(
        self,
        a=None,
        b=None,
        steps=10,
        method="slerp",
        seed=None,
        mode="mean",
        labels=None,
        image_labels=None,
    ):
        """Decoded images of class `labels` (an int or `steps` ids; by
        default cycling) along a path between the style codes of images `a`
        and `b`, encoded with `image_labels` (their two classes), or of two
        prior draws where they are None. `method`: "linear" or "slerp"."""
        condition = self.one_hot(labels, steps, default=True)
        ends = [a, b]
        given = [i for i, image in enumerate(ends) if image is not None]
        if given:
            pair = self.one_hot(image_labels, 2, name="image_labels")
            for i in given:
                image = self._one_image(ends[i])
                ends[i] = self._encode(image, pair[i : i + 1], False, None, 1)[0]
        z = latent.latent_path(self, ends[0], ends[1], steps, method, seed)
        return self._decode(z, condition, mode, None, 256, False)

    def attribute_vector(self, *args, **kwargs):
        """Refused: a CVAE's class is an input, not a direction in z."""
        raise TypeError(
            "CVAE changes an image's class with transfer(x, source_labels, "
            "target_labels); attribute vectors are for the unconditional VAE, "
            "whose codes hold the class. Received: attribute_vector(...)"
        )

    def apply_attribute(self, *args, **kwargs):
        """Refused, as `attribute_vector`: use `transfer`."""
        return self.attribute_vector(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes)
        return config
