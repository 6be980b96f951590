"""Masked 2-D convolution of PixelCNN and PixelRNN (mask A and mask B)."""

import keras
import numpy as np
from keras import ops

__all__ = ["MaskedConv2D", "causal_mask", "colour_blocks", "gate_indices"]

_MASK_TYPES = ("A", "B", "vertical_A", "vertical_B")


def colour_blocks(features, color_groups, gates=1, name="features"):
    """Sizes of the `color_groups` contiguous colour blocks of `features`.

    The blocks are as even as they can be: sizes differ by at most one and
    the first blocks take the remainder (64 into 3: 22, 21, 21), so a count
    divisible by `color_groups` gives equal blocks. With `gates` > 1 the
    features are the pre-activations of a gated unit (2 for tanh·sigmoid, 4
    for an LSTM's i, f, o, g): colour g's block holds `gates` parts of its
    share of `features // gates` units, so that the gate's output splits
    evenly too (128 = 2 x 64 into 3: 44, 42, 42).

    Raises:
        ValueError: when `features` is not a multiple of `gates`, or when
            some colour group would get no unit.
    """
    units, extra = divmod(features, gates)
    if extra:
        raise ValueError(
            f"`{name}` must hold {gates} gate pre-activations per unit. "
            f"Received: {name}={features}"
        )
    if units < color_groups:
        raise ValueError(
            f"`{name}` must give each of the {color_groups} colour groups at "
            f"least one {'unit' if gates > 1 else 'feature'}. "
            f"Received: {name}={features}"
        )
    size, rest = divmod(units, color_groups)
    return [gates * (size + (g < rest)) for g in range(color_groups)]


def _colour_of(features, color_groups, gates=1, name="features"):
    """The colour group of each of `features` channels, (features,) int."""
    sizes = colour_blocks(features, color_groups, gates, name)
    return np.repeat(np.arange(color_groups), sizes)


def gate_indices(features, color_groups, gates, name="features"):
    """Where each gate's pre-activations lie in `colour_blocks` layout.

    Returns `gates` int arrays of `features // gates` channel indices: array
    k holds part k of every colour block, in colour order, so that gate k of
    unit u (the units in colour blocks as even as they can be) is channel
    `gate_indices(...)[k][u]`.
    """
    sizes = colour_blocks(features, color_groups, gates, name)
    starts = np.cumsum([0, *sizes[:-1]])
    return [
        np.concatenate(
            [
                start + k * (size // gates) + np.arange(size // gates)
                for start, size in zip(starts, sizes)
            ]
        )
        for k in range(gates)
    ]


def causal_mask(
    kernel_size, in_channels, out_channels, mask_type, color_groups=1, gates=1
):
    """The (kh, kw, in, out) 0/1 mask of a raster-order causal convolution.

    Pixels before the kernel's centre (kh // 2, kw // 2) in raster order are
    fully connected; pixels after it are cut. At the centre, channels are
    split into `color_groups` contiguous blocks (R, G, B for 3; as even as
    they can be, see `colour_blocks`): an output in group g sees input groups
    g' < g under mask A, and g' <= g under mask B.

    Args:
        kernel_size: (kh, kw).
        in_channels, out_channels: at least one per colour group.
        mask_type: "A" (the first layer: nothing of the current colour) or
            "B" (later layers: the current colour's own features too); or,
            for the vertical stack of Gated PixelCNN, "vertical_A" (every
            column of the rows strictly above the centre: the stack's first
            layer, on the image) and "vertical_B" (every column of the rows
            up to and including the centre row: later layers, whose input
            already sees only rows above). Vertical masks ignore colours.
        color_groups: 1 for grayscale/binary images, 3 for RGB.
        gates: the outputs are the pre-activations of a gated unit with this
            many gates per unit (see `colour_blocks`); 1 for plain features.
    """
    if mask_type not in _MASK_TYPES:
        raise ValueError(
            f"`mask_type` must be one of {_MASK_TYPES}. Received: mask_type={mask_type!r}"
        )
    kh, kw = kernel_size
    if mask_type.startswith("vertical"):
        mask = np.zeros((kh, kw, in_channels, out_channels), dtype="float32")
        mask[: kh // 2 + (mask_type == "vertical_B")] = 1.0
        return mask
    in_group = _colour_of(in_channels, color_groups, name="in_channels")
    out_group = _colour_of(out_channels, color_groups, gates, "out_channels")
    mask = np.zeros((kh, kw, in_channels, out_channels), dtype="float32")
    cy, cx = kh // 2, kw // 2
    mask[:cy] = 1.0
    mask[cy, :cx] = 1.0
    if mask_type == "A":
        centre = in_group[:, None] < out_group[None, :]
    else:
        centre = in_group[:, None] <= out_group[None, :]
    mask[cy, cx] = centre.astype("float32")
    return mask


@keras.saving.register_keras_serializable(package="tfgen")
class MaskedConv2D(keras.layers.Conv2D):
    """A `Conv2D` whose kernel cannot see the future in raster × colour order.

    Output (i, j, colour g) depends on input pixels before (i, j) in raster
    order, and at (i, j) on colours before g (mask A) or up to g (mask B).
    Padding is "same" and strides are 1, so positions stay aligned.

    Args:
        filters: output channels, at least one per colour group.
        kernel_size: int or (kh, kw), e.g. 7 for PixelCNN's first layer or
            (1, 3) for Row LSTM's input-to-state convolution.
        mask_type: "A" or "B" (raster order), or "vertical_A" /
            "vertical_B" (Gated PixelCNN's vertical stack; see `causal_mask`).
        color_groups: colour channels of the image (1 or 3); input and output
            features are split into that many contiguous blocks, as even as
            they can be (`colour_blocks`).
        gates: the outputs are the pre-activations of a gated unit with this
            many gates per unit (2 for `GatedActivation`, 4 for an LSTM), laid
            out as `colour_blocks(filters, color_groups, gates)`.
        **kwargs: other `keras.layers.Conv2D` arguments (activation,
            dilation_rate, kernel_initializer, ...).

    Example:

    ```python
    x = keras.Input((32, 32, 3))
    h = tfgen.layers.MaskedConv2D(48, 7, mask_type="A", color_groups=3)(x)
    h = tfgen.layers.MaskedConv2D(48, 3, mask_type="B", color_groups=3)(h)
    ```

    References:
        van den Oord et al., Pixel Recurrent Neural Networks, arXiv 1601.06759.
    """

    def __init__(
        self, filters, kernel_size, mask_type="B", color_groups=1, gates=1, **kwargs
    ):
        for key, allowed in (("padding", "same"), ("strides", (1, 1))):
            value = kwargs.pop(key, allowed)
            if value not in (allowed, 1) and tuple(np.atleast_1d(value)) != allowed:
                raise ValueError(
                    f"MaskedConv2D keeps positions aligned, so `{key}` must be "
                    f"{allowed!r}. Received: {key}={value!r}"
                )
        if mask_type not in _MASK_TYPES:
            raise ValueError(
                f"`mask_type` must be one of {_MASK_TYPES}. "
                f"Received: mask_type={mask_type!r}"
            )
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.mask_type = mask_type
        self.color_groups = int(color_groups)
        self.gates = int(gates)

    def build(self, input_shape):
        super().build(input_shape)
        self.mask = ops.convert_to_tensor(
            causal_mask(
                self.kernel_size,
                int(input_shape[-1]),
                self.filters,
                self.mask_type,
                self.color_groups,
                self.gates,
            )
        )

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(
            inputs, kernel * ops.cast(self.mask, kernel.dtype)
        )

    def get_config(self):
        config = super().get_config()
        for key in ("padding", "strides"):
            config.pop(key, None)
        config.update(
            mask_type=self.mask_type, color_groups=self.color_groups, gates=self.gates
        )
        return config
