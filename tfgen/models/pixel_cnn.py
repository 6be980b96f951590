"""PixelCNN (van den Oord et al. 2016) and Gated PixelCNN (van den Oord et al. 2016b)."""

import keras

from tfgen.layers.gated import gated_pixelcnn_block
from tfgen.layers.masked_conv import MaskedConv2D
from tfgen.layers.residual import pixelcnn_residual_block
from tfgen.models.autoregressive import AutoregressiveModel, set_network_sizes
from tfgen.models.base import output_dtype
from tfgen.validation import check_positive_int

__all__ = ["GatedPixelCNN", "PixelCNN", "mask_a_layer", "output_head"]


def mask_a_layer(x, model, filters, name="conv_a"):
    """The first layer of PixelCNN and PixelRNN (Table 4 of the PixelRNN
    paper): a mask-A convolution of `model.first_kernel_size` from the image
    `x` to `filters` features in the image's colour groups."""
    return MaskedConv2D(
        filters,
        model.first_kernel_size,
        mask_type="A",
        color_groups=model.image_shape[-1],
        name=name,
    )(x)


def output_head(h, model, hidden, name="head"):
    """ReLU, 1x1 mask B (`hidden`), ReLU, 1x1 mask B to the logits, shaped
    (B, H, W, C) for Bernoulli or (B, H, W, C, num_levels) categorical; the
    logits layer computes in float32 (float64 under a float64 policy) for a
    sharp softmax under mixed precision."""
    channels = model.image_shape[-1]
    per_channel = 1 if model.num_levels == 2 else model.num_levels
    h = keras.layers.ReLU()(h)
    h = MaskedConv2D(
        hidden, 1, mask_type="B", color_groups=channels, name=f"{name}_hidden"
    )(h)
    h = keras.layers.ReLU()(h)
    logits = MaskedConv2D(
        channels * per_channel,
        1,
        mask_type="B",
        color_groups=channels,
        dtype=output_dtype(),
        name=f"{name}_logits",
    )(h)
    if model.num_levels > 2:
        # Colour block c of the channels holds channel c's level logits.
        # Same dtype: under a mixed policy the Reshape would cast to bf16.
        logits = keras.layers.Reshape(
            (*model.image_shape, model.num_levels),
            dtype=output_dtype(),
            name=f"{name}_levels",
        )(logits)
    return logits


@keras.saving.register_keras_serializable(package="tfgen")
class PixelCNN(AutoregressiveModel):
    """PixelCNN as in Table 4 of the PixelRNN paper: a 7x7 convolution with
    mask A, residual blocks of 3x3 mask-B convolutions, then ReLU and two
    1x1 mask-B convolutions to a 256-way softmax per colour (R, then G given
    R, then B given R and G) or, for binary images, a Bernoulli per pixel.

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        num_levels: 2 (Bernoulli) to 256 (categorical) levels per channel.
        filters: h; the residual stream has 2h features. At least 3 for RGB
            images (features split into R, G, B blocks as even as they can
            be: 64 into 22, 21, 21).
        num_blocks: residual blocks.
        kernel_size: of the residual blocks' middle convolution.
        first_kernel_size: of the mask-A convolution.
        head_filters: features of the hidden 1x1 output layer.
        dropout: rate of dropout inside each residual block, before its last
            convolution (0: none). Fixed-binarization MNIST is small enough
            for a large PixelCNN to overfit it by nats.
        num_classes, seed, **kwargs: see `AutoregressiveModel`.

    Example:

    ```python
    model = tfgen.models.PixelCNN(image_shape=(28, 28, 1), num_levels=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tfgen.data.load("binarized_mnist", batch_size=64), epochs=10)
    samples = model.sample(16, seed=0)                   # cached sampler
    halves = model.complete(x[:4], known_mask=top_half, num_samples=3)
    ```

    References:
        van den Oord et al., Pixel Recurrent Neural Networks, arXiv 1601.06759.
    """

    def __init__(
        self,
        image_shape,
        num_levels=256,
        filters=64,
        num_blocks=7,
        kernel_size=3,
        first_kernel_size=7,
        head_filters=None,
        num_classes=None,
        seed=None,
        dropout=0.0,
        **kwargs,
    ):
        self.dropout = float(dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout!r}"
            )
        # No blocks at all is a PixelCNN too (the mask-A layer and the head).
        self.num_blocks = (
            check_positive_int(num_blocks, "num_blocks") if num_blocks else 0
        )
        set_network_sizes(
            self,
            image_shape,
            {"filters": filters},
            head_filters,
            kernel_size=kernel_size,
            first_kernel_size=first_kernel_size,
        )
        super().__init__(image_shape, num_levels, num_classes, seed, **kwargs)

    def build_network(self):
        if self.num_classes is not None:
            raise ValueError(
                "PixelCNN is unconditional; use GatedPixelCNN for class "
                f"conditioning. Received: num_classes={self.num_classes}"
            )
        inputs, x, _ = self.network_inputs()
        groups = self.image_shape[-1]
        h = mask_a_layer(x, self, 2 * self.filters)
        for b in range(self.num_blocks):
            h = pixelcnn_residual_block(
                h,
                self.filters,
                self.kernel_size,
                groups,
                name=f"block{b}",
                dropout=self.dropout,
                seed=None if self.seed is None else self.seed + b,
            )
        logits = output_head(h, self, self.head_filters or 2 * self.filters)
        return keras.Model(inputs, logits, name="pixelcnn")

    def get_config(self):
        config = super().get_config()
        config.pop("num_classes", None)
        config.update(num_blocks=self.num_blocks)
        if self.dropout:  # configs of models without it stay as they were
            config.update(dropout=self.dropout)
        return config


@keras.saving.register_keras_serializable(package="tfgen")
class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN: stacked gated layers, each a vertical stack (rows
    above) and a horizontal stack (the row to the left) with tanh·sigmoid
    gates and no blind spot, then ReLU and two 1x1 mask-B convolutions to a
    softmax per colour (or Bernoulli). Optionally class-conditional: a
    learned per-class bias in every gate; sample with `labels=`.

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        num_levels: 2 (Bernoulli) to 256 (categorical) levels per channel.
        filters: p, the features of each stack; at least 3 for RGB (split
            into R, G, B blocks as even as they can be).
        num_layers: gated layers (the first uses `first_kernel_size`).
        kernel_size: k of the later layers (k x k vertical, 1 x k horizontal).
        first_kernel_size: k of the first layer.
        head_filters: features of the hidden 1x1 output layer (default 2p).
        num_classes: classes for class-conditional generation, or None.
        seed, **kwargs: see `AutoregressiveModel`.

    Example:

    ```python
    model = tfgen.models.GatedPixelCNN(
        image_shape=(28, 28, 1), num_levels=2, num_classes=10
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tfgen.data.load("mnist", binarize="dynamic", labels=True, batch_size=64))
    sevens = model.sample(8, labels=7, seed=0)
    ```

    References:
        van den Oord et al., Conditional Image Generation with PixelCNN
        Decoders, arXiv 1606.05328.
    """

    def __init__(
        self,
        image_shape,
        num_levels=256,
        filters=64,
        num_layers=8,
        kernel_size=3,
        first_kernel_size=7,
        head_filters=None,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        set_network_sizes(
            self,
            image_shape,
            {"filters": filters},
            head_filters,
            num_layers=num_layers,
            kernel_size=kernel_size,
            first_kernel_size=first_kernel_size,
        )
        super().__init__(image_shape, num_levels, num_classes, seed, **kwargs)

    def build_network(self):
        inputs, x, labels = self.network_inputs()
        groups = self.image_shape[-1]
        v = h = x
        for layer in range(self.num_layers):
            v, h = gated_pixelcnn_block(
                v,
                h,
                self.filters,
                self.first_kernel_size if layer == 0 else self.kernel_size,
                color_groups=groups,
                first=layer == 0,
                labels=labels,
                name=f"gated{layer}",
            )
        logits = output_head(h, self, self.head_filters or 2 * self.filters)
        return keras.Model(inputs, logits, name="gated_pixelcnn")
