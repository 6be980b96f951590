"""What PixelRNN's Row LSTM and Diagonal BiLSTM layers share.

Both layers compute an LSTM whose gate pre-activations are the sum of an
input-to-state convolution (masked, precomputed for the whole map) and a
state-to-state convolution of the previous step's hidden state (unmasked:
the previous row or diagonal lies entirely in the past). With `color_groups`
G > 1, the 4 * units gate channels are laid out as G contiguous colour blocks
(the layout of `MaskedConv2D`), each holding that colour's i, f, o, g gates,
so the hidden state of colour g only ever mixes inputs of colours <= g.
"""

import keras
import tensorflow as tf
from keras import ops

from tfgen.layers.masked_conv import MaskedConv2D
from tfgen.validation import check_positive_int

__all__ = ["PixelLSTMLayer", "lstm_update"]


def lstm_update(gates, cell):
    """One LSTM update from pre-activations laid out per colour group.

    Args:
        gates: (..., G, 4, units // G): the i, f, o, g pre-activations of
            each colour group.
        cell: (..., G, units // G), the previous cell state.

    Returns:
        (hidden, cell), both (..., G, units // G).
    """
    i, f, o, g = tf.unstack(gates, axis=-2)
    cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(cell), cell


@keras.saving.register_keras_serializable(package="tfgen")
class PixelLSTMLayer(keras.layers.Layer):
    """Base of the PixelRNN layers: arguments, checks and the residual path.

    Subclasses create `self.input_convs` and the recurrent kernel in
    `build_recurrence` and implement `recurrence(x) -> (B, H, W, units)`.
    With `residual=True` the layer returns `x + MaskedConv2D_1x1(h)` (the
    paper's Figure 4: the LSTM's `units` features are projected back to the
    input's channels with a mask-B 1x1 convolution and added); otherwise `h`.

    Args:
        units: hidden features h, divisible by `color_groups`.
        color_groups: colour channels of the image (1 or 3).
        residual: add the projected output to the input.
        kernel_initializer: initializer of the input-to-state and output
            convolutions.
        recurrent_initializer: initializer of the state-to-state kernel.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        units,
        color_groups=1,
        residual=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.color_groups = check_positive_int(color_groups, "color_groups")
        if self.units % self.color_groups:
            raise ValueError(
                f"`units` must divide into {self.color_groups} colour groups. "
                f"Received: units={units}"
            )
        self.residual = bool(residual)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)

    def _masked_conv(self, filters, kernel_size, name):
        return MaskedConv2D(
            filters,
            kernel_size,
            mask_type="B",
            color_groups=self.color_groups,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} needs inputs (batch, height, width, "
                f"channels) with known height, width and channels. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.build_recurrence(input_shape)
        if self.residual:
            self.output_conv = self._masked_conv(
                int(input_shape[-1]), 1, name="output_conv"
            )
            self.output_conv.build((*input_shape[:-1], self.units))

    def build_recurrence(self, input_shape):
        raise NotImplementedError

    def recurrence(self, x):
        raise NotImplementedError

    def split_gates(self, z):
        """(..., 4 * units) -> (..., G, 4, units // G)."""
        groups = self.color_groups
        shape = tf.concat([tf.shape(z)[:-1], [groups, 4, self.units // groups]], 0)
        return tf.reshape(z, shape)

    def merge_groups(self, h):
        """(..., G, units // G) -> (..., units)."""
        return tf.reshape(h, tf.concat([tf.shape(h)[:-2], [self.units]], 0))

    def zero_state(self, batch_shape):
        """Hidden and cell state of zeros, (*batch_shape, G, units // G)."""
        groups = self.color_groups
        shape = tf.concat([batch_shape, [groups, self.units // groups]], 0)
        zeros = tf.zeros(shape, dtype=self.compute_dtype)
        return zeros, zeros

    def call(self, x):
        h = self.recurrence(x)
        if not self.residual:
            return h
        return x + self.output_conv(h)

    def compute_output_shape(self, input_shape):
        if self.residual:
            return tuple(input_shape)
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            color_groups=self.color_groups,
            residual=self.residual,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(
                self.recurrent_initializer
            ),
        )
        return config


def compute_cast(layer, variable):
    """A variable in the layer's compute dtype, for use inside a loop body."""
    return ops.cast(variable, layer.compute_dtype)
