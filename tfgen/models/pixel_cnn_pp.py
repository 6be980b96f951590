"""PixelCNN++ (Salimans et al. 2017): a U-Net of gated ResNet blocks with a
discretized logistic mixture likelihood whose colours depend linearly on
each other."""

import keras
import tensorflow as tf
from keras import ops

from tfgen.distributions import (
    coupled_logistic_mixture_level_log_probs,
    discretized_logistic_mixture,
    logistic_mixture_num_params,
)
from tfgen.levels import to_levels
from tfgen.models.autoregressive import AutoregressiveModel
from tfgen.models.base import output_dtype
from tfgen.models.pixel_cnn_pp_steps import PixelCNNPlusPlusSteps
from tfgen.validation import check_positive_int

__all__ = ["MixtureLevelLogits", "PixelCNNPlusPlus"]

#: Log-scales of the mixture are clipped from below here (the paper's -7).
MIN_LOG_SCALE = -7.0


@keras.saving.register_keras_serializable(package="tfgen")
class MixtureLevelLogits(keras.layers.Layer):
    """Mixture parameters (B, H, W, P) and the network's input image
    (B, H, W, C) in [-1, 1] -> each colour's exact conditional over the
    levels, log p(x_c = y | x_<c, pixels before), (B, H, W, C, L) (or the
    Bernoulli logits (B, H, W, C) for L = 2): what the samplers draw from
    and the codec codes with (`tfgen.distributions.
    coupled_logistic_mixture_level_log_probs`). Channel c reads only the
    channels before c of its own pixel.

    Args:
        num_mixtures: K, the logistic components.
        num_levels: L, levels per channel.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, num_mixtures, num_levels, **kwargs):
        super().__init__(**kwargs)
        self.num_mixtures = num_mixtures
        self.num_levels = num_levels

    def call(self, params, image):
        levels = (tf.cast(image, self.compute_dtype) + 1.0) * (
            (self.num_levels - 1) / 2.0
        )
        table = coupled_logistic_mixture_level_log_probs(
            params,
            levels,
            self.num_mixtures,
            int(image.shape[-1]),
            self.num_levels,
            MIN_LOG_SCALE,
            # float32, or float64 in the codec's coding copy.
            dtype=self.compute_dtype,
        )
        if self.num_levels == 2:
            return table[..., 1] - table[..., 0]
        return table

    def get_config(self):
        config = super().get_config()
        config.update(num_mixtures=self.num_mixtures, num_levels=self.num_levels)
        return config


# ------------------------------------------------------------ network pieces
# Convolutions that see only rows above (down-shifted, kernel 2 x 3) or rows
# above and columns to the left (down-right-shifted, 2 x 2), by padding the
# top (and left) and convolving with "valid" padding (Salimans et al., 2.4).
def _shifted_conv(x, filters, kernel, right, strides, name, **conv_kwargs):
    kh, kw = kernel
    cols = (kw - 1, 0) if right else ((kw - 1) // 2, (kw - 1) // 2)
    x = keras.layers.ZeroPadding2D(((kh - 1, 0), cols), name=f"{name}_pad")(x)
    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="valid", name=name, **conv_kwargs
    )(x)


def _shifted_deconv(x, filters, right, name):
    """Stride-2 transposed convolution that keeps the shift: crops what the
    'valid' transpose adds so that output (2i + a, 2j + b) reads only
    inputs it may see."""
    kernel = (2, 2) if right else (2, 3)
    x = keras.layers.Conv2DTranspose(
        filters, kernel, strides=2, padding="valid", name=name
    )(x)
    if right:
        return x
    return keras.layers.Cropping2D(((0, 0), (1, 0)), name=f"{name}_crop")(x)


def _shift(x, right, name):
    """Moves features one row down (or one column right), zeros entering."""
    pad = ((0, 0), (1, 0)) if right else ((1, 0), (0, 0))
    crop = ((0, 0), (0, 1)) if right else ((0, 1), (0, 0))
    x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    return keras.layers.Cropping2D(crop, name=f"{name}_crop")(x)


def concat_elu(x):
    """ELU of [x, -x] on channels: both signs pass (Salimans et al., 2.3)."""
    return ops.elu(ops.concatenate([x, -x], axis=-1))


@keras.saving.register_keras_serializable(package="tfgen")
class PixelCNNPlusPlus(AutoregressiveModel):
    """PixelCNN++: a PixelCNN whose pixels are discretized logistic mixtures
    with linearly dependent colours, computed by a U-Net of gated ResNet
    blocks.

    Two streams see the past of each pixel without masks and without a
    blind spot: `u` reads the rows above (down-shifted 2x3 convolutions),
    `ul` the rows above and the pixels to the left (down-right-shifted 2x2
    convolutions). The up pass runs `num_blocks` gated ResNet blocks per
    resolution, halving the resolution with stride-2 shifted convolutions
    `num_downsamplings` times; the down pass mirrors it with stride-2
    transposed convolutions, each block reading the up pass's output of its
    resolution through a short-cut (a 1x1 convolution of it). A block is

        c = conv(concat_elu(x)) [+ nin(concat_elu(shortcut))]
        c = conv(dropout(concat_elu(c)))  [+ W one_hot(label)]
        x + a * sigmoid(b),   [a, b] = split(c)

    A 1x1 convolution of elu(ul) gives per pixel K mixture logits and, per
    component, a location and a log-scale per colour and the coefficients
    of the colour coupling:

        p(r, g, b) = sum_k pi_k L(r | m_kR, s_kR) L(g | m_kG + a_k r, s_kG)
                                L(b | m_kB + b_k r + c_k g, s_kB)

    where L is a logistic discretized to the level bins, the end levels
    taking the tails; the likelihood is computed in float32 whatever the
    compute policy (`mixed_bfloat16` runs the convolutions in bf16).

    `network` outputs each colour's exact conditional over the levels
    (`MixtureLevelLogits`: the mixture weights given the colours already
    drawn of the pixel), which `sample`, `complete` and the codec read as
    any autoregressive model's logits; `mixture_network` outputs the
    mixture parameters, from which training and `log_prob` compute the
    likelihood of the observed levels only. `distribution(x)` is the
    coupled `tfgen.distributions.discretized_logistic_mixture` at x; its
    `log_prob` takes float levels (`distribution_values(x)`).
    `method="auto"` samples with the cached sampler: `step_program()` runs
    the U-Net one row / one position at a time with caches for the down-
    and up-sampled stages (Ramachandran et al.;
    `tfgen.models.pixel_cnn_pp_steps`), drawing the same images as the
    compiled loop for the same noise.

    Weight normalization and its data-dependent initialization (used in the
    paper) are left out; the second convolution of each block starts small
    (scale 0.1), as the paper's does.

    Args:
        image_shape: (height, width, channels), channels 1 or 3; height and
            width divisible by 2 ** num_downsamplings.
        num_levels: levels per channel, 2 to 256.
        filters: features of every block (the paper's 160 on CIFAR-10).
        num_blocks: gated ResNet blocks per resolution of the up pass (the
            down pass has one more at every resolution but the lowest;
            the paper's 5).
        num_mixtures: K, logistic components per pixel (the paper's 10).
        dropout: rate after the first convolution of each block (the
            paper's 0.5 on CIFAR-10).
        num_downsamplings: stride-2 stages (the paper's 2: 32, 16, 8).
        num_classes: classes for class-conditional generation, or None.
        seed, **kwargs: see `AutoregressiveModel`.

    Example:

    ```python
    model = tfgen.models.PixelCNNPlusPlus(
        image_shape=(32, 32, 3), filters=64, num_blocks=2, num_mixtures=10
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tfgen.data.load("cifar10", batch_size=16, shuffle=True), epochs=1)
    model.bits_per_dim(x_test[:100])             # (100,) bits per dimension
    samples = model.sample(4, seed=0)            # (4, 32, 32, 3) in [0, 1]
    ```

    References:
        Salimans et al., PixelCNN++: Improving the PixelCNN with Discretized
        Logistic Mixture Likelihood and Other Modifications, arXiv 1701.05517.
        Ramachandran et al., Fast Generation for Convolutional Autoregressive
        Models, arXiv 1704.06001.
        van den Oord et al., Conditional Image Generation with PixelCNN
        Decoders, arXiv 1606.05328.
    """

    def __init__(
        self,
        image_shape,
        num_levels=256,
        filters=160,
        num_blocks=5,
        num_mixtures=10,
        dropout=0.5,
        num_downsamplings=2,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        self.filters = check_positive_int(filters, "filters")
        self.num_blocks = check_positive_int(num_blocks, "num_blocks")
        self.num_mixtures = check_positive_int(num_mixtures, "num_mixtures")
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout}"
            )
        self.dropout = dropout
        if (
            isinstance(num_downsamplings, bool)
            or int(num_downsamplings) != num_downsamplings
            or num_downsamplings < 0
        ):
            raise ValueError(
                "`num_downsamplings` must be a non-negative integer. "
                f"Received: num_downsamplings={num_downsamplings!r}"
            )
        self.num_downsamplings = int(num_downsamplings)
        factor = 2**self.num_downsamplings
        if image_shape[0] % factor or image_shape[1] % factor:
            raise ValueError(
                f"PixelCNN++ with num_downsamplings={self.num_downsamplings} needs "
                f"height and width divisible by {factor}. Received: "
                f"image_shape={tuple(image_shape)}"
            )
        super().__init__(image_shape, num_levels, num_classes, seed, **kwargs)

    # ----------------------------------------------------------------- network
    def _block(self, x, conv, shortcut, labels, name):
        """A gated ResNet block (Salimans et al., 2.3) on stream `x`."""
        filters = self.filters
        c = conv(concat_elu(x), filters, f"{name}_conv1")
        if shortcut is not None:
            c = c + keras.layers.Conv2D(filters, 1, name=f"{name}_nin")(
                concat_elu(shortcut)
            )
        c = concat_elu(c)
        if self.dropout:
            c = keras.layers.Dropout(self.dropout, name=f"{name}_dropout")(c)
        c = conv(
            c,
            2 * filters,
            f"{name}_conv2",
            kernel_initializer=keras.initializers.VarianceScaling(0.1),
        )
        if labels is not None:
            bias = keras.layers.Dense(2 * filters, use_bias=False, name=f"{name}_label")
            c = c + ops.reshape(bias(labels), (-1, 1, 1, 2 * filters))
        a, b = ops.split(c, 2, axis=-1)
        return x + a * ops.sigmoid(b)

    def build_network(self):
        inputs, image, labels = self.network_inputs()
        filters = self.filters

        def down(x, f, name, **kw):
            return _shifted_conv(x, f, (2, 3), False, 1, name, **kw)

        def down_right(x, f, name, **kw):
            return _shifted_conv(x, f, (2, 2), True, 1, name, **kw)

        # A channel of ones tells the first convolutions where the zero
        # padding is (the image is in [-1, 1], so 0 is a colour).
        x = ops.concatenate([image, ops.ones_like(image[..., :1])], axis=-1)
        u = _shift(
            _shifted_conv(x, filters, (2, 3), False, 1, "u_in"), False, "u_in_shift"
        )
        ul = _shift(
            _shifted_conv(x, filters, (1, 3), False, 1, "ul_in_above"),
            False,
            "ul_in_above_shift",
        ) + _shift(
            _shifted_conv(x, filters, (2, 1), True, 1, "ul_in_left"),
            True,
            "ul_in_left_shift",
        )
        us, uls = [u], [ul]
        for stage in range(self.num_downsamplings + 1):
            if stage:
                u = _shifted_conv(u, filters, (2, 3), False, 2, f"up{stage}_u_stride")
                ul = _shifted_conv(ul, filters, (2, 2), True, 2, f"up{stage}_ul_stride")
                us.append(u)
                uls.append(ul)
            for b in range(self.num_blocks):
                name = f"up{stage}_{b}"
                u = self._block(u, down, None, labels, f"{name}_u")
                ul = self._block(ul, down_right, u, labels, f"{name}_ul")
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for stage in range(self.num_downsamplings, -1, -1):
            if stage < self.num_downsamplings:
                u = _shifted_deconv(u, filters, False, f"down{stage}_u_stride")
                ul = _shifted_deconv(ul, filters, True, f"down{stage}_ul_stride")
            extra = int(stage < self.num_downsamplings)
            for b in range(self.num_blocks + extra):
                name = f"down{stage}_{b}"
                u = self._block(u, down, us.pop(), labels, f"{name}_u")
                shortcut = ops.concatenate([u, uls.pop()], axis=-1)
                ul = self._block(ul, down_right, shortcut, labels, f"{name}_ul")
        channels = self.image_shape[-1]
        params = keras.layers.Conv2D(
            logistic_mixture_num_params(self.num_mixtures, channels, coupled=True),
            1,
            dtype=output_dtype(),
            name="mixture_params",
        )(ops.elu(ul))
        self.mixture_network = keras.Model(inputs, params, name="pixelcnn_pp_mixture")
        logits = MixtureLevelLogits(
            self.num_mixtures, self.num_levels, dtype=output_dtype(), name="levels"
        )(self.mixture_network(inputs), image)
        return keras.Model(inputs, logits, name="pixelcnn_pp")

    def step_program(self):
        """The cached sampler's engine for this network: its U-Net one row
        (`u` stream) / one position (`ul` stream) at a time, with the
        down- and up-sampled stages' caches (`PixelCNNPlusPlusSteps`)."""
        return PixelCNNPlusPlusSteps(self, concat_elu)

    # ------------------------------------------------------------- likelihood
    def image_distribution(self, x, one_hot_labels=None, training=False):
        """The coupled discretized logistic mixture at images `x` in [0, 1]
        (float32): the likelihood of x's own levels, from the mixture
        parameters only (no per-level tables)."""
        params = self.mixture_network(
            self.network_args(x, one_hot_labels), training=training
        )
        return discretized_logistic_mixture(
            params,
            self.num_mixtures,
            self.image_shape[-1],
            self.num_levels,
            min_log_scale=MIN_LOG_SCALE,
            coupling=self.distribution_values(x),
        )

    def distribution_values(self, x):
        """Float32 levels of images `x` in [0, 1]: what the mixture's
        `log_prob` takes."""
        return tf.cast(to_levels(x, self.num_levels), tf.float32)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            num_blocks=self.num_blocks,
            num_mixtures=self.num_mixtures,
            dropout=self.dropout,
            num_downsamplings=self.num_downsamplings,
        )
        return config
