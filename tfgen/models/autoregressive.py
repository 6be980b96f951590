"""Autoregressive image models: the network contract, exact likelihoods and
training. Sampling and completion are `tfgen.sampling`'s, as methods."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen import sampling
from tfgen.distributions import bits_per_dim, pixel_distribution
from tfgen.layers.masked_conv import colour_blocks
from tfgen.levels import check_levels, check_num_levels, from_levels, to_levels
from tfgen.models.base import GenerativeModel
from tfgen.models.train_core import (
    build_optimizers,
    minimize,
    split_labels,
)
from tfgen.validation import (
    check_image_batch,
    check_images,
    check_labels,
    check_positive_int,
)

__all__ = ["AutoregressiveModel", "set_network_sizes"]


def set_network_sizes(model, image_shape, widths, head_filters=None, **sizes):
    """Checks the sizes of a masked network and sets each as the attribute of
    `model` of its name, which `get_config` then saves; subclasses call it
    before `AutoregressiveModel.__init__` builds the network.

    Args:
        model: the model being constructed.
        image_shape: its (height, width, channels).
        widths: {name: value} of feature counts (`{"filters": 64}`, say)
            that split into the image's colour groups, unevenly where they
            must (see `tfgen.layers.masked_conv.colour_blocks`), so each
            needs at least one feature per group.
        head_filters: features of the hidden output layer: None (the
            model's default) or a width as above.
        **sizes: other positive ints (layers, kernel sizes).
    """
    if head_filters is not None:
        widths = {**widths, "head_filters": head_filters}
    checked = {
        name: check_positive_int(value, name)
        for name, value in {**widths, **sizes}.items()
    }
    channels = int(image_shape[-1]) if len(image_shape) == 3 else 1
    for name in widths:
        colour_blocks(checked[name], channels, name=name)
    sizes = {**checked, "head_filters": checked.get("head_filters")}
    for name, value in sizes.items():
        setattr(model, name, value)
    model._network_sizes = tuple(sizes)


@keras.saving.register_keras_serializable(package="tfgen")
class AutoregressiveModel(GenerativeModel):
    """A model of p(x) = prod_i p(x_i | x_<i) over pixels in raster order and,
    within a pixel, colours in R, G, B order.

    Subclasses implement `build_network()`: a functional Keras model from the
    network input (B, H, W, C) (images rescaled by `network_input`, [-1, 1])
    — and, for class-conditional models, one-hot labels (B, num_classes) —
    to logits: (B, H, W, C) Bernoulli logits for `num_levels == 2`, else
    (B, H, W, C, num_levels) categorical logits, where the logits at
    (i, j, c) depend only on inputs strictly before (i, j, c). For C = 3
    hidden features are split into three contiguous colour blocks, of sizes
    differing by at most one when the width does not divide by 3 (see
    `tfgen.layers.MaskedConv2D`) and channel c's logits come from block c.
    `network_inputs()` gives the input tensors to start from.

    The base gives every subclass the rest: `distribution(x)` (a
    `tfd.Independent` over Bernoulli or Categorical pixels), `log_prob(x)` in
    nats per image, `bits_per_dim(x)`, a `train_step`/`test_step` minimizing
    the NLL averaged over the global batch (trackers `nll`, nats per image,
    and `bits_per_dim`), and `sample` and `complete` (`tfgen.sampling`'s
    functions as methods) with one compiled `tf.while_loop` over pixels ×
    colours, parallel over the batch (`sampler` builds and keeps it), and, for
    networks of causal convolutions and pointwise layers, the cached fast
    sampler (`method="cached"`), which gives the same samples for the same
    seed (see `tfgen.sampling`). A subclass whose likelihood is not a
    softmax of the network's logits (PixelCNN++'s logistic mixture)
    overrides `image_distribution` and `distribution_values`; its network
    still outputs each position's per-level logits, which the samplers and
    the codec read.

    Images enter as floats in [0, 1] on the grid k / (num_levels - 1)
    (`tfgen.data.load(..., num_levels=...)` or `binarized_mnist` produce it).

    Args:
        image_shape: (height, width, channels); channels 1 or 3.
        num_levels: levels per channel: 2 is Bernoulli, 3 to 256 categorical.
        num_classes: classes of a class-conditional model (trains on
            `(images, labels)` and samples with `labels=`), or None.
        seed: seed of the model's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.Model`.

    Example:

    ```python
    @keras.saving.register_keras_serializable(package="mine")
    class TinyPixelCNN(tfgen.models.AutoregressiveModel):
        def build_network(self):
            inputs, x, _ = self.network_inputs()
            h = tfgen.layers.MaskedConv2D(16, 5, "A", activation="relu")(x)
            logits = tfgen.layers.MaskedConv2D(1, 1, "B")(h)
            return keras.Model(inputs, logits)

    model = TinyPixelCNN(image_shape=(28, 28, 1), num_levels=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tfgen.data.load("binarized_mnist", batch_size=64), epochs=1)
    nats = model.log_prob(images)            # (n,) nats per image
    samples = model.sample(16, seed=0)       # (16, 28, 28, 1) in {0, 1}
    ```

    References:
        van den Oord et al., Pixel Recurrent Neural Networks, arXiv 1601.06759.
        Ramachandran et al., Fast Generation for Convolutional Autoregressive
        Models, arXiv 1704.06001.
    """

    default_optimizer = {"learning_rate": 1e-3}

    def __init__(
        self, image_shape, num_levels=256, num_classes=None, seed=None, **kwargs
    ):
        super().__init__(image_shape, **kwargs)
        if self.image_shape[-1] not in (1, 3):
            raise ValueError(
                "Autoregressive models take 1 (grayscale/binary) or 3 (RGB) "
                f"channels. Received: image_shape={self.image_shape}"
            )
        self.num_levels = check_num_levels(num_levels)
        self.num_classes = (
            None
            if num_classes is None
            else check_positive_int(num_classes, "num_classes")
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.network = self.build_network()
        self._check_network()
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self._samplers = {}
        self.built = True

    # ----------------------------------------------------------------- network
    def build_network(self):
        """Returns the functional network; see the class docstring."""
        raise NotImplementedError

    def network_inputs(self):
        """`(inputs, image, one_hot_labels)`: the Keras inputs of the network
        (one tensor, or [image, labels] when conditional), the image tensor
        and the one-hot labels tensor (None when unconditional)."""
        image = keras.Input(self.image_shape, name="image")
        if self.num_classes is None:
            return image, image, None
        labels = keras.Input((self.num_classes,), name="label_one_hot")
        return [image, labels], image, labels

    @property
    def logits_shape(self):
        """Shape of the logits of one image."""
        if self.num_levels == 2:
            return tuple(self.image_shape)
        return (*self.image_shape, self.num_levels)

    def _check_network(self):
        if not isinstance(self.network, keras.Model):
            raise TypeError(
                "`build_network()` must return a functional keras.Model. "
                f"Received: {type(self.network).__name__}"
            )
        shape = tuple(self.network.outputs[0].shape[1:])
        if shape != self.logits_shape:
            raise ValueError(
                f"{type(self).__name__}.build_network() must output logits of shape "
                f"(batch, {', '.join(map(str, self.logits_shape))}) for num_levels="
                f"{self.num_levels}. Received: shape=(batch, {', '.join(map(str, shape))})"
            )

    def network_input(self, x):
        """Images in [0, 1] -> what the network reads ([-1, 1])."""
        return x * 2.0 - 1.0

    def network_args(self, x, one_hot_labels=None):
        """The network's inputs for images `x` in [0, 1] (and one-hot labels)."""
        return self._pack_args(self.network_input(x), one_hot_labels)

    def _pack_args(self, image, one_hot_labels):
        return image if self.num_classes is None else [image, one_hot_labels]

    def level_inputs(self):
        """float32 (num_levels,): what the network reads for each level,
        computed once, eagerly. The samplers and the codec gather from it, so
        that a graph and an eager pass feed the network the same bits (a
        graph may rewrite k / (L - 1) * 2 - 1 and round its last bit
        differently, which the codec's probability tables cannot absorb)."""
        table = self.__dict__.get("_level_table")
        if table is None:
            with tf.init_scope():
                levels = tf.range(self.num_levels)
                values = self.network_input(from_levels(levels, self.num_levels))
                table = tf.constant(np.asarray(tf.cast(values, tf.float32)))
            self.__dict__["_level_table"] = table
        return table

    def network_args_from_levels(self, levels, one_hot_labels=None):
        """`network_args` of int levels (n, H, W, C), through `level_inputs`."""
        return self._pack_args(tf.gather(self.level_inputs(), levels), one_hot_labels)

    def one_hot_labels(self, labels):
        """float32 one-hot (n, num_classes) of int `labels`, or None for an
        unconditional model."""
        if self.num_classes is None:
            return None
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, dtype=tf.float32)

    def call(self, inputs, training=False):
        """Logits of images in [0, 1]; `inputs` is `x`, or `(x, labels)` for
        class-conditional models (int labels)."""
        x, labels = self._split(inputs)
        return self.network(
            self.network_args(tf.cast(x, "float32"), self.one_hot_labels(labels)),
            training=training,
        )

    def _split(self, inputs):
        return split_labels(inputs, self.num_classes, type(self).__name__)

    # ------------------------------------------------------------- likelihoods
    def _validate(self, x, labels=None):
        """Numpy checks of user input: shape, float dtype, [0, 1], level grid."""
        x = check_images(x, self.image_shape)
        x = check_levels(x, self.num_levels)
        if self.num_classes is not None:
            if labels is None:
                raise ValueError(
                    f"{type(self).__name__} is class-conditional (num_classes="
                    f"{self.num_classes}); pass `labels=`. Received: labels=None"
                )
            labels = check_labels(labels, x.shape[0], self.num_classes)
        elif labels is not None:
            labels = check_labels(labels, x.shape[0], None)
        return x, labels

    def distribution(self, x, labels=None):
        """The model's `tfd` distribution over images given `x` (each pixel's
        factor conditioned on the pixels before it): `image_distribution` of
        checked input. Its `log_prob` takes `distribution_values(x)` (int32
        levels, `tfgen.levels.to_levels`, unless a subclass says otherwise)."""
        x, labels = self._validate(x, labels)
        return self.image_distribution(
            tf.cast(x, "float32"), self.one_hot_labels(labels)
        )

    # A subclass whose likelihood is not the network's per-level logits
    # (PixelCNN++'s logistic mixture) overrides these two; the samplers and
    # the codec keep reading the per-level logits of `network`.
    def image_distribution(self, x, one_hot_labels=None, training=False):
        """The `tfd` distribution over images that `nll` and `distribution`
        evaluate, given float32 images `x` in [0, 1] (and one-hot labels):
        by default a `tfd.Independent` over Bernoulli or Categorical pixels
        from `network`'s logits."""
        logits = self.network(self.network_args(x, one_hot_labels), training=training)
        return pixel_distribution(logits, self.num_levels)

    def distribution_values(self, x):
        """What `image_distribution(x).log_prob` takes for images `x` in
        [0, 1]: int32 levels."""
        return to_levels(x, self.num_levels)

    def log_prob(self, x, labels=None, batch_size=256):
        """log p(x) in nats per image, float32 numpy of shape (n,)."""
        x, labels = self._validate(x, labels)
        out = []
        for start in range(0, x.shape[0], batch_size):
            xb = tf.convert_to_tensor(x[start : start + batch_size])
            lb = (
                None
                if labels is None
                else tf.convert_to_tensor(labels[start : start + batch_size])
            )
            out.append(np.asarray(-self._nll_graph(xb, lb)))
        return np.concatenate(out) if out else np.zeros((0,), "float32")

    def bits_per_dim(self, x, labels=None, batch_size=256):
        """Negative log-likelihood in bits per dimension, per image (n,)."""
        return bits_per_dim(-self.log_prob(x, labels, batch_size), self.image_shape)

    @tf.function(reduce_retracing=True)
    def _nll_graph(self, x, labels):
        return self.nll(x, labels)

    def nll(self, x, labels=None, training=False):
        """-log p(x) in nats per image (float32 tensor (n,)), graph-friendly."""
        x = tf.cast(x, "float32")
        dist = self.image_distribution(x, self.one_hot_labels(labels), training)
        return -dist.log_prob(self.distribution_values(x))

    # ---------------------------------------------------------------- training
    def compile(self, optimizer=None, **kwargs):
        """Sets the optimizer (default Adam(1e-3)) and builds it on the
        network's variables; call under the strategy's scope."""
        optimizer = build_optimizers(
            {"optimizer": optimizer},
            {"optimizer": self.network.trainable_variables},
            self.default_optimizer,
        )["optimizer"]
        super().compile(optimizer=optimizer, **kwargs)

    @property
    def metrics(self):
        return [self.nll_tracker, self.bpd_tracker]

    def _unpack(self, data):
        x, labels = self._split(data)
        x = check_image_batch(x, self.image_shape, num_levels=self.num_levels)
        return x, labels

    def _track(self, nll):
        n = ops.cast(ops.shape(nll)[0], "float32")
        mean = ops.mean(nll)
        self.nll_tracker.update_state(mean, sample_weight=n)
        self.bpd_tracker.update_state(
            bits_per_dim(mean, self.image_shape), sample_weight=n
        )
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, labels = self._unpack(data)
        nll, _ = minimize(
            lambda: (self.nll(x, labels, training=True), None),
            (self.optimizer, self.network.trainable_variables),
        )
        return self._track(nll)

    def test_step(self, data):
        x, labels = self._unpack(data)
        return self._track(self.nll(x, labels, training=False))

    # ---------------------------------------------------------------- sampling
    # Sampling and completion live in `tfgen.sampling`; these methods are its
    # functions: `model.sample(n, ...)` is `tfgen.sampling.sample(model, n, ...)`.
    sample = sampling.sample
    complete = sampling.complete

    @property
    def supports_cached_sampling(self):
        """Whether `method="cached"` can run this model's network."""
        return sampling.supports_cached_sampling(self)

    def sampler(self, method="auto", jit_compile=None):
        """The compiled sampling loop that `sample` and `complete` run:
        `tfgen.sampling.sampler(self, method, jit_compile)`, built on first
        use per resolved (method, jit_compile) and kept, like Keras'
        `make_train_function`."""
        key = sampling.sampler_options(self, method, jit_compile)
        if key not in self._samplers:
            self._samplers[key] = sampling.sampler(self, *key)
        return self._samplers[key]

    def get_config(self):
        config = super().get_config()
        config.update(
            num_levels=self.num_levels, num_classes=self.num_classes, seed=self.seed
        )
        # The sizes of `set_network_sizes`, for the subclasses that use it.
        for name in getattr(self, "_network_sizes", ()):
            config[name] = getattr(self, name)
        return config
