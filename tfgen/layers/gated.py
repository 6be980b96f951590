"""The gated layer of Gated PixelCNN (van den Oord et al. 2016b, Figure 2)."""

import keras
from keras import ops

from tfgen.layers.masked_conv import MaskedConv2D, gate_indices

__all__ = ["GatedActivation", "gated_pixelcnn_block"]


@keras.saving.register_keras_serializable(package="tfgen")
class GatedActivation(keras.layers.Layer):
    """tanh(a) * sigmoid(b) of the two halves of each colour group's features.

    With `color_groups=3` the 2p input features are three contiguous blocks
    (R, G, B; `colour_blocks(2p, 3, gates=2)`, equal when p is divisible by
    3, else 2 x (22, 21, 21) for p = 64), and each block is split into its own
    tanh and sigmoid halves, so that the gate never mixes a colour with a
    later one. The p outputs are in colour blocks as even as they can be,
    as `MaskedConv2D` reads them.

    Args:
        color_groups: 1, or 3 for RGB feature blocks.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    y = tfgen.layers.GatedActivation()(keras.ops.ones((1, 4, 4, 8)))  # (1, 4, 4, 4)
    ```

    References:
        van den Oord et al., Conditional Image Generation with PixelCNN
        Decoders, arXiv 1606.05328.
    """

    # Acts on each position alone (the cached sampler runs it per pixel).
    pointwise = True

    def __init__(self, color_groups=1, **kwargs):
        super().__init__(**kwargs)
        self.color_groups = int(color_groups)

    def build(self, input_shape):
        # Refuses an odd width, or one too narrow for the colour groups.
        gate_indices(int(input_shape[-1]), self.color_groups, 2, "channels")

    def call(self, x):
        tanh_half, sigmoid_half = gate_indices(x.shape[-1], self.color_groups, 2)
        return ops.tanh(ops.take(x, tanh_half, axis=-1)) * ops.sigmoid(
            ops.take(x, sigmoid_half, axis=-1)
        )

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)

    def get_config(self):
        config = super().get_config()
        config.update(color_groups=self.color_groups)
        return config


def gated_pixelcnn_block(
    v,
    h,
    filters,
    kernel_size=3,
    color_groups=1,
    first=False,
    labels=None,
    name=None,
):
    """One gated layer: a vertical stack that sees the rows above, a
    horizontal stack that sees the current row to the left, joined so that
    no pixel above or to the left is in a blind spot.

    The vertical features v[i, j] depend only on image rows < i: the first
    layer convolves the image with a k x k kernel cut to the rows strictly
    above ("vertical_A"), later layers convolve v with the rows up to the
    centre ("vertical_B"). Their pre-activations feed the horizontal stack
    through a 1x1 convolution. The horizontal stack convolves h with a 1 x k
    kernel masked in raster × colour order (mask A first, then B), adds that
    link, gates, maps back with a 1x1 mask-B convolution and, after the first
    layer, adds its input (residual). With `labels` (one-hot, (B, K)), a
    learned per-class bias enters both gates: V^T y of the paper.

    A functional block (Keras tensors in and out), so the cached sampler sees
    its layers.

    Args:
        v, h: Keras tensors: the two stacks' features (the image for both in
            the first layer).
        filters: p, the features of each stack; at least `color_groups`
            (colour blocks as even as they can be, see `colour_blocks`).
        kernel_size: k.
        color_groups: 1, or 3 for RGB.
        first: the first layer (mask A, no residual).
        labels: one-hot class labels (B, K) for a conditional model, or None.
        name: prefix of the layer names.

    Returns:
        `(v, h)`, each (B, H, W, filters).

    Example:

    ```python
    x = keras.Input((28, 28, 1))
    v, h = tfgen.layers.gated_pixelcnn_block(x, x, 32, kernel_size=7, first=True)
    v, h = tfgen.layers.gated_pixelcnn_block(v, h, 32)
    ```

    References:
        van den Oord et al., Conditional Image Generation with PixelCNN
        Decoders, arXiv 1606.05328.
    """
    prefix = f"{name}_" if name else ""

    def named(label):
        return f"{prefix}{label}" if name else None

    width = 2 * filters
    v_pre = MaskedConv2D(
        width,
        kernel_size,
        mask_type="vertical_A" if first else "vertical_B",
        name=named("vertical"),
    )(v)
    h_pre = MaskedConv2D(
        width,
        (1, kernel_size),
        mask_type="A" if first else "B",
        color_groups=color_groups,
        gates=2,  # tanh and sigmoid halves per colour, for h_gate
        name=named("horizontal"),
    )(h)
    # v_pre[i, j] sees only rows above i: safe to add to every colour of h.
    link = keras.layers.Conv2D(width, 1, name=named("link"))(v_pre)
    h_pre = keras.layers.Add(name=named("join"))([h_pre, link])
    if labels is not None:
        for stack in ("v", "h"):
            bias = keras.layers.Dense(
                width, use_bias=False, name=named(f"{stack}_class")
            )(labels)
            bias = keras.layers.Reshape(
                (1, 1, width), name=named(f"{stack}_class_map")
            )(bias)
            if stack == "v":
                v_pre = keras.layers.Add(name=named("v_cond"))([v_pre, bias])
            else:
                h_pre = keras.layers.Add(name=named("h_cond"))([h_pre, bias])
    v_out = GatedActivation(name=named("v_gate"))(v_pre)
    h_out = GatedActivation(color_groups, name=named("h_gate"))(h_pre)
    h_out = MaskedConv2D(
        filters, 1, mask_type="B", color_groups=color_groups, name=named("h_out")
    )(h_out)
    if not first:
        h_out = keras.layers.Add(name=named("residual"))([h, h_out])
    return v_out, h_out
