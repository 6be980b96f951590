"""What PixelRNN's Row LSTM and Diagonal BiLSTM layers share.

Both layers compute an LSTM whose gate pre-activations are the sum of an
input-to-state convolution (masked, precomputed for the whole map) and a
state-to-state convolution of the previous step's hidden state (unmasked:
the previous row or diagonal lies entirely in the past). With `color_groups`
G > 1, the 4 * units gate channels are laid out as G contiguous colour blocks
(`colour_blocks(4 * units, G, gates=4)`, the layout of the input-to-state
`MaskedConv2D`), each holding that colour's i, f, o, g gates, so the hidden
state of colour g only ever mixes inputs of colours <= g. The units split
into colour blocks as even as they can be (16 into 3: 6, 5, 5), so the
blocks of gates need not be equal (24, 20, 20).

Both layers also run one position at a time, for the cached sampler
(`tfgen.step_program.StepProgram`): `step_state(n, width)` makes the
per-image state of one layer (row buffers of hidden and cell states and of
the layer's inputs), `step_row(i, state)` is called at the start of row i
and `position_step(x, j, state)` computes the layer's output at (i, j) from
its input there. A position may be recomputed (once per colour); each call
overwrites what the previous one wrote at (i, j) and reads only the finished
positions before it, so the last call leaves the final values.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfgen.layers.masked_conv import MaskedConv2D, colour_blocks, gate_indices
from tfgen.validation import check_positive_int

__all__ = ["PixelLSTMLayer", "compute_cast", "lstm_update", "set_column"]


def lstm_update(gates, cell):
    """One LSTM update from pre-activations in gate-major order.

    Args:
        gates: (..., 4 * units): the i, f, o, g pre-activations, each of
            `units` in colour order (`PixelLSTMLayer.gate_major`).
        cell: (..., units), the previous cell state.

    Returns:
        (hidden, cell), both (..., units).
    """
    i, f, o, g = tf.split(gates, 4, axis=-1)
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
        units: hidden features h, at least `color_groups`.
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
        colour_blocks(self.units, self.color_groups, name="units")  # one per colour
        # Gate k of unit u is channel order[k * units + u] of the input-to-state
        # convolution; None where that is already gate-major (one colour).
        order = np.concatenate(gate_indices(4 * self.units, self.color_groups, 4))
        self._gate_order = None if self.color_groups == 1 else order
        self.residual = bool(residual)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)

    def _masked_conv(self, filters, kernel_size, name, gates=1):
        return MaskedConv2D(
            filters,
            kernel_size,
            mask_type="B",
            color_groups=self.color_groups,
            gates=gates,
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

    def gate_major(self, z):
        """(..., 4 * units) from colour blocks of gates (the input-to-state
        layout) to gate-major order [i | f | o | g], which `lstm_update`
        reads; also applies to the columns of a recurrent kernel."""
        if self._gate_order is None:
            return z
        return tf.gather(z, self._gate_order, axis=-1)

    def zero_state(self, batch_shape):
        """Hidden and cell state of zeros, (*batch_shape, units)."""
        shape = tf.concat([batch_shape, [self.units]], 0)
        zeros = tf.zeros(shape, dtype=self.compute_dtype)
        return zeros, zeros

    def call(self, x):
        h = self.recurrence(x)
        if not self.residual:
            return h
        return x + self.output_conv(h)

    # -------------------------------------------- one position at a time
    supports_position_step = True

    def step_state(self, n, width):
        """The state of `position_step` for a batch of n images of the given
        width, at the start of the image: a dict of tensors."""
        raise NotImplementedError

    def step_row(self, i, state):
        """The state at the start of row i (row i - 1 finished)."""
        raise NotImplementedError

    def position_step(self, x, j, state):
        """(output (n, channels out), state) at column j of the current row
        from the layer's input there, x (n, channels in)."""
        raise NotImplementedError

    def pointwise(self, conv, x):
        """A 1x1 `MaskedConv2D` of this layer applied to x (..., channels)."""
        kernel = compute_cast(
            self, conv.kernel * ops.cast(conv.mask, conv.kernel.dtype)
        )
        out = tf.tensordot(tf.cast(x, self.compute_dtype), kernel[0, 0], 1)
        return out + compute_cast(self, conv.bias)

    def step_output(self, x, h):
        """The layer's output at a position from its input x and LSTM output h."""
        if not self.residual:
            return h
        return tf.cast(x, self.compute_dtype) + self.pointwise(self.output_conv, h)

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


def set_column(buffer, j, value):
    """buffer (W, ...) with buffer[j] = value."""
    return tf.tensor_scatter_nd_update(buffer, [[j]], value[None])


def compute_cast(layer, variable):
    """A variable in the layer's compute dtype, for use inside a loop body."""
    return ops.cast(variable, layer.compute_dtype)
