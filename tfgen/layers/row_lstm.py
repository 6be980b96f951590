"""PixelRNN's Row LSTM layer (van den Oord et al. 2016, section 3.1)."""

import keras
import tensorflow as tf

from tfgen.layers.pixel_lstm import (
    PixelLSTMLayer,
    compute_cast,
    lstm_update,
    set_column,
)
from tfgen.validation import check_positive_int

__all__ = ["RowLSTM"]


@keras.saving.register_keras_serializable(package="tfgen")
class RowLSTM(PixelLSTMLayer):
    """Row LSTM: an LSTM that runs down the image one row at a time.

    The input-to-state component is a (1, k) convolution along the row with
    mask B, computed for the whole map at once. The state-to-state component
    is an unmasked (1, k) convolution of the previous row's hidden state,
    computed row by row in a `tf.scan`. The gates are

        [o, f, i, g] = [sigmoid, sigmoid, sigmoid, tanh](K_ss * h_{r-1} + K_is * x_r)
        c_r = f . c_{r-1} + i . g,    h_r = o . tanh(c_r),

    with the 4h gate channels split into colour blocks so that the hidden
    features of colour g see input colours <= g of the current pixel (mask B).
    The receptive field is triangular: row r sees a widening cone of the rows
    above it, not the whole of them (as the paper notes).

    Args:
        units: hidden features h (the paper's input has 2h features and the
            residual projection maps h back to them); at least
            `color_groups`.
        kernel_size: k, the width of both row convolutions (odd; the paper
            uses 3).
        color_groups: colour channels of the image (1 or 3).
        residual: return `x + MaskedConv2D_1x1(h)` (the paper's residual
            block) instead of `h`.
        kernel_initializer, recurrent_initializer: initializers of the
            input-to-state/output convolutions and of the state-to-state
            kernel.
        **kwargs: `keras.layers.Layer` arguments.

    Input: (batch, height, width, channels) with at least `color_groups`
    channels. Output: the same shape with `residual=True`, else
    (batch, height, width, units).

    Example:

    ```python
    x = keras.Input((28, 28, 32))
    h = tfgen.layers.RowLSTM(16)(x)              # (None, 28, 28, 32)
    h = tfgen.layers.RowLSTM(16, residual=False)(h)  # (None, 28, 28, 16)
    ```

    References:
        van den Oord, Kalchbrenner, Kavukcuoglu, Pixel Recurrent Neural
        Networks, arXiv 1601.06759 (section 3.1, Figure 4).
    """

    def __init__(self, units, kernel_size=3, color_groups=1, residual=True, **kwargs):
        super().__init__(units, color_groups=color_groups, residual=residual, **kwargs)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be odd, so that the row convolutions are "
                f"centred on the pixel. Received: kernel_size={kernel_size}"
            )

    def build_recurrence(self, input_shape):
        self.input_conv = self._masked_conv(
            4 * self.units, (1, self.kernel_size), name="input_to_state", gates=4
        )
        self.input_conv.build(input_shape)
        # (k, h, 4h): tap t reads the previous row's column j + t - k // 2.
        self.recurrent_kernel = self.add_weight(
            shape=(self.kernel_size, self.units, 4 * self.units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )

    def _recurrent_gates(self, h):
        """K_ss * h along the row: h (B, W, h) -> (B, W, 4h), gate-major."""
        k, pad = self.kernel_size, self.kernel_size // 2
        width = int(h.shape[1])
        padded = tf.pad(h, [[0, 0], [pad, pad], [0, 0]])
        taps = tf.concat([padded[:, t : t + width] for t in range(k)], axis=-1)
        kernel = self.gate_major(
            tf.reshape(
                compute_cast(self, self.recurrent_kernel),
                (k * self.units, 4 * self.units),
            )
        )
        out = tf.matmul(tf.reshape(taps, (-1, k * self.units)), kernel)
        return tf.reshape(out, tf.concat([tf.shape(h)[:-1], [4 * self.units]], 0))

    def recurrence(self, x):
        # (H, B, W, 4h): one slice of precomputed input-to-state per row.
        z = tf.transpose(self.gate_major(self.input_conv(x)), [1, 0, 2, 3])

        def step(state, z_row):
            h, c = state  # (B, W, h)
            return lstm_update(z_row + self._recurrent_gates(h), c)

        batch_shape = tf.shape(z)[1:3]
        hidden, _ = tf.scan(step, z, initializer=self.zero_state(batch_shape))
        return tf.transpose(hidden, [1, 0, 2, 3])

    # -------------------------------------------- one position at a time
    # Per row: the recurrent gates of the whole row from the previous row's
    # hidden states; per position: the masked (1, k) input convolution over
    # the columns j - k//2 .. j of this row's inputs, then the LSTM update
    # with the previous row's cell state at j.
    def step_state(self, n, width):
        pad = self.kernel_size // 2
        units = tf.zeros([width, n, self.units], self.compute_dtype)
        return {
            "inputs": tf.zeros(
                [width + pad, n, self.input_conv.kernel.shape[2]], self.compute_dtype
            ),
            "recurrent": tf.zeros([width, n, 4 * self.units], self.compute_dtype),
            "cell_above": units,
            "hidden": units,
            "cell": units,
        }

    def step_row(self, i, state):
        return {
            "inputs": tf.zeros_like(state["inputs"]),
            "recurrent": tf.transpose(
                self._recurrent_gates(tf.transpose(state["hidden"], [1, 0, 2])),
                [1, 0, 2],
            ),
            "cell_above": state["cell"],
            "hidden": state["hidden"],
            "cell": state["cell"],
        }

    def position_step(self, x, j, state):
        pad = self.kernel_size // 2
        conv = self.input_conv
        x = tf.cast(x, self.compute_dtype)
        inputs = set_column(state["inputs"], j + pad, x)
        # Mask B keeps the kernel's columns up to the centre: j - pad .. j.
        kernel = compute_cast(self, conv.kernel * tf.cast(conv.mask, conv.kernel.dtype))
        window = tf.slice(inputs, tf.stack([j, 0, 0]), [pad + 1, -1, -1])
        z = tf.einsum("tnc,tco->no", window, kernel[0, : pad + 1])
        z = self.gate_major(z + compute_cast(self, conv.bias))
        h, c = lstm_update(z + state["recurrent"][j], tf.gather(state["cell_above"], j))
        state = dict(
            state,
            inputs=inputs,
            hidden=set_column(state["hidden"], j, h),
            cell=set_column(state["cell"], j, c),
        )
        return self.step_output(x, h), state

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size)
        return config
