"""The residual block of PixelCNN (van den Oord et al. 2016, Figure 5)."""

import keras

from tfgen.layers.masked_conv import MaskedConv2D

__all__ = ["pixelcnn_residual_block"]


def pixelcnn_residual_block(
    x, filters, kernel_size=3, color_groups=1, name=None, dropout=0.0, seed=None
):
    """x (2h features) + [ReLU, 1x1 2h->h, ReLU, kxk h->h mask B, ReLU,
    (dropout,) 1x1 h->2h] with every convolution masked (mask B, colour
    groups).

    A functional block (it takes and returns Keras tensors), so that its
    layers stay visible to the network's graph, which the cached sampler
    runs one position at a time.

    Args:
        x: Keras tensor (B, H, W, 2 * filters).
        filters: h, the width of the inner convolutions; at least
            `color_groups` (colour blocks as even as they can be).
        kernel_size: of the middle convolution (3 in the paper).
        color_groups: 1 for grayscale/binary images, 3 for RGB.
        name: prefix of the layer names.
        dropout: rate of a `keras.layers.Dropout` before the last
            convolution (PixelCNN++ regularizes its blocks the same way);
            0 adds no layer. Elementwise, so the block stays causal.
        seed: seed of that dropout.

    Example:

    ```python
    inputs = keras.Input((28, 28, 1))
    h = tfgen.layers.MaskedConv2D(64, 7, "A")(inputs)
    h = tfgen.layers.pixelcnn_residual_block(h, 32)
    ```

    References:
        van den Oord et al., Pixel Recurrent Neural Networks, arXiv 1601.06759.
    """
    width = int(x.shape[-1])
    if width != 2 * filters:
        raise ValueError(
            f"A PixelCNN residual block maps 2h -> h -> h -> 2h features, so its "
            f"input needs 2 * filters = {2 * filters} channels. Received: {width}"
        )
    prefix = f"{name}_" if name else ""

    def conv(h, units, size, label):
        return MaskedConv2D(
            units,
            size,
            mask_type="B",
            color_groups=color_groups,
            name=f"{prefix}{label}" if name else None,
        )(h)

    h = keras.layers.ReLU()(x)
    h = conv(h, filters, 1, "reduce")
    h = keras.layers.ReLU()(h)
    h = conv(h, filters, kernel_size, "conv")
    h = keras.layers.ReLU()(h)
    if dropout:
        h = keras.layers.Dropout(
            dropout, seed=seed, name=f"{prefix}dropout" if name else None
        )(h)
    h = conv(h, 2 * filters, 1, "expand")
    return keras.layers.Add(name=f"{prefix}add" if name else None)([x, h])
