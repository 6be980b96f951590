"""PixelRNN's Diagonal BiLSTM layer (van den Oord et al. 2016, section 3.2)."""

import keras
import tensorflow as tf
from keras import ops

from tfgen.layers.pixel_lstm import (
    PixelLSTMLayer,
    compute_cast,
    lstm_update,
    set_column,
)

__all__ = ["DiagonalBiLSTM", "skew", "unskew"]


def _static_hw(x, name):
    if len(x.shape) != 4 or x.shape[1] is None or x.shape[2] is None:
        raise ValueError(
            f"`{name}` needs a tensor (batch, height, width, channels) with known "
            f"height and width. Received: shape={tuple(x.shape)}"
        )
    return int(x.shape[1]), int(x.shape[2])


def skew(x):
    """Shifts row i of a (B, H, W, C) map right by i: (B, H, W + H - 1, C).

    The diagonals of the image become the columns of the skewed map, so a
    convolution along a column of the skewed map runs along a diagonal.
    Positions outside the image are zero. Works on tensors and KerasTensors.

    ```python
    s = tfgen.layers.skew(x)      # s[:, i, i + j] == x[:, i, j]
    x = tfgen.layers.unskew(s)
    ```
    """
    height, width = _static_hw(x, "skew")
    channels = x.shape[-1]
    # Rows padded to W + H and read back with row length W + H - 1: element
    # (i, j) lands at flat index i(W + H) + j = i(W + H - 1) + (i + j).
    padded = ops.pad(x, [[0, 0], [0, 0], [0, height], [0, 0]])
    flat = ops.reshape(padded, (-1, height * (width + height), channels))
    flat = flat[:, : height * (width + height - 1)]
    return ops.reshape(flat, (-1, height, width + height - 1, channels))


def unskew(x):
    """Inverse of `skew`: (B, H, W + H - 1, C) -> (B, H, W, C)."""
    height, skewed_width = _static_hw(x, "unskew")
    width = skewed_width - height + 1
    if width < 1:
        raise ValueError(
            "`unskew` needs a skewed map of width W + H - 1 >= H. "
            f"Received: shape={tuple(x.shape)}"
        )
    channels = x.shape[-1]
    flat = ops.reshape(x, (-1, height * skewed_width, channels))
    flat = ops.pad(flat, [[0, 0], [0, height], [0, 0]])
    rows = ops.reshape(flat, (-1, height, width + height, channels))
    return rows[:, :, :width]


@keras.saving.register_keras_serializable(package="tfgen")
class DiagonalBiLSTM(PixelLSTMLayer):
    """Diagonal BiLSTM: two LSTMs that sweep the image along its diagonals.

    The map is skewed (row i shifted right by i) so that diagonals become
    columns. Each direction has a 1x1 input-to-state convolution with mask B
    and a state-to-state convolution of kernel 2x1 along the column (the
    pixel above and the pixel to the left in the original image), processed
    column by column of the skewed map. The right-to-left direction runs on
    the horizontally mirrored map; its output is mirrored back and shifted
    down one row before it is added to the left-to-right output, so each
    position sees the whole of the rows above it (from the right-to-left
    sweep) and the pixels to its left (from the left-to-right sweep), and
    nothing from the future. Both directions run in the same loop.

    Args:
        units: hidden features h per direction, at least `color_groups`.
        color_groups: colour channels of the image (1 or 3); the 4h gate
            channels are split into colour blocks so colour g sees input
            colours <= g of the current pixel (mask B).
        residual: return `x + MaskedConv2D_1x1(h)` (the paper's residual
            block) instead of `h`.
        kernel_initializer, recurrent_initializer: initializers of the
            input-to-state/output convolutions and of the state-to-state
            kernels.
        **kwargs: `keras.layers.Layer` arguments.

    Input: (batch, height, width, channels) with at least `color_groups`
    channels. Output: the same shape with `residual=True`, else
    (batch, height, width, units).

    Example:

    ```python
    x = keras.Input((28, 28, 32))
    h = tfgen.layers.DiagonalBiLSTM(16)(x)   # (None, 28, 28, 32)
    ```

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu, Pixel Recurrent Neural
        Networks, arXiv 1601.06759 (section 3.2, Figures 3 and 4).
    """

    def build_recurrence(self, input_shape):
        self.forward_conv = self._masked_conv(
            4 * self.units, 1, name="forward_input", gates=4
        )
        self.backward_conv = self._masked_conv(
            4 * self.units, 1, name="backward_input", gates=4
        )
        self.forward_conv.build(input_shape)
        self.backward_conv.build(input_shape)
        # (direction, tap, h, 4h); tap 0 reads the pixel above, tap 1 the
        # pixel to the left (the same row of the previous skewed column).
        self.recurrent_kernel = self.add_weight(
            shape=(2, 2, self.units, 4 * self.units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )

    def _recurrent_kernels(self):
        """(2, 2h, 4h) gate-major: [direction][above taps; left taps]."""
        return self.gate_major(
            tf.reshape(
                compute_cast(self, self.recurrent_kernel),
                (2, 2 * self.units, 4 * self.units),
            )
        )

    def recurrence(self, x):
        height, width = _static_hw(x, "DiagonalBiLSTM")
        # The input-to-state convolution is 1x1, so it commutes with the
        # mirror and the skew; convolving first keeps the skew's padding at
        # exactly zero, so the state left of each row's start stays zero.
        forward = self.forward_conv(x)
        backward = tf.reverse(self.backward_conv(x), axis=[2])
        z = skew(tf.concat([forward, backward], axis=0))  # (2B, H, W', 4h)
        skewed_width = width + height - 1
        z = tf.reshape(z, (2, -1, height, skewed_width, 4 * self.units))
        z = self.gate_major(tf.transpose(z, [3, 0, 1, 2, 4]))  # (W', 2, B, H, 4h)
        kernel = self._recurrent_kernels()

        def step(state, z_col):
            h, c = state  # (2, B, H, h)
            above = tf.pad(h, [[0, 0], [0, 0], [1, 0], [0, 0]])[:, :, :height]
            taps = tf.concat([above, h], axis=-1)
            taps = tf.reshape(taps, (2, -1, 2 * self.units))
            recurrent = tf.reshape(tf.matmul(taps, kernel), tf.shape(z_col))
            return lstm_update(z_col + recurrent, c)

        hidden, _ = tf.scan(step, z, initializer=self.zero_state(tf.shape(z)[1:4]))
        hidden = tf.transpose(hidden, [1, 2, 3, 0, 4])
        hidden = unskew(tf.reshape(hidden, (-1, height, skewed_width, self.units)))
        forward, backward = tf.split(hidden, 2, axis=0)
        backward = tf.reverse(backward, axis=[2])
        # Shifted down one row: the mirrored sweep has seen the pixels right
        # of (i, j) in row i, which must not reach (i, j).
        backward = tf.pad(backward, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :height]
        return forward + backward

    # -------------------------------------------- one position at a time
    # In image coordinates the forward LSTM at (i, j) reads its hidden state
    # at (i - 1, j) and (i, j - 1) and the cell at (i, j - 1); the backward
    # one reads (i - 1, j) and (i, j + 1), so it runs right to left over a
    # finished row, at the start of the next one, where its output is needed
    # (shifted down a row).
    def step_state(self, n, width):
        units = tf.zeros([width, n, self.units], self.compute_dtype)
        channels = self.forward_conv.kernel.shape[2]
        return {
            "inputs": tf.zeros([width, n, channels], self.compute_dtype),
            "forward_above": units,
            "forward": units,
            "forward_cell": units,
            "backward_above": units,
        }

    def step_row(self, i, state):
        kernel = self._recurrent_kernels()[1]
        # Row i - 1's inputs, (W, n, 4h); zero state right of the row's end.
        z = self.gate_major(self.pointwise(self.backward_conv, state["inputs"]))
        zero = tf.zeros_like(state["forward"][0])

        def step(carry, column):
            h, c = carry
            z_j, above = column
            gates = z_j + tf.matmul(tf.concat([above, h], -1), kernel)
            return lstm_update(gates, c)

        backward, _ = tf.scan(
            step, (z, state["backward_above"]), initializer=(zero, zero), reverse=True
        )
        # Row -1 does not exist: nothing above row 0.
        backward = backward * tf.cast(i > 0, backward.dtype)
        return {
            "inputs": tf.zeros_like(state["inputs"]),
            "forward_above": state["forward"],
            "forward": state["forward"],
            "forward_cell": state["forward_cell"],
            "backward_above": backward,
        }

    def position_step(self, x, j, state):
        kernel = self._recurrent_kernels()[0]
        x = tf.cast(x, self.compute_dtype)
        z = self.gate_major(self.pointwise(self.forward_conv, x))
        # The left neighbour's states, zero at the row's start.
        left = tf.maximum(j - 1, 0)
        inside = tf.cast(j > 0, self.compute_dtype)
        h_left = tf.gather(state["forward"], left) * inside
        c_left = tf.gather(state["forward_cell"], left) * inside
        above = tf.gather(state["forward_above"], j)
        h, c = lstm_update(
            z + tf.matmul(tf.concat([above, h_left], -1), kernel), c_left
        )
        state = dict(
            state,
            inputs=set_column(state["inputs"], j, x),
            forward=set_column(state["forward"], j, h),
            forward_cell=set_column(state["forward_cell"], j, c),
        )
        out = h + tf.gather(state["backward_above"], j)
        return self.step_output(x, out), state
