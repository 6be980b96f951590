"""Running a causal network one row or one position at a time: the engine of
the cached sampler (`tfgen.sampling.cached_sampler`, Ramachandran et al.
2017).

`StepProgram` interprets a model's functional network layer by layer
(through Keras' `Functional._run_through_graph`, with its own function per
layer). Each layer is computed where its inputs allow: layers that read only
the labels at every step (cheaply), the row-wise layers (Gated PixelCNN's
vertical stack, whose features depend only on the rows above) once per row
for the whole row, and every other layer at the current position only,
reading the previous layer's activations in its kernel window from a cache
of the positions already computed.

It runs any network built from `MaskedConv2D` (masks A and B per position,
the vertical masks per row), 1x1 convolutions, `Dense` on labels,
elementwise layers (activations, `Add`, `Multiply`, `Concatenate` on
channels, `Reshape` of channels), layers that declare `pointwise = True`,
and recurrent layers that run one position at a time themselves (they
declare `supports_position_step = True` and keep their own state:
PixelRNN's Row LSTM and Diagonal BiLSTM, `tfgen.layers.PixelLSTMLayer`);
for any other layer it raises `NotImplementedError` (a dilated or strided
convolution, say), and the samplers fall back to rerunning the whole
network.

A model whose network this interpreter cannot run may bring its own engine
with the same protocol (`model.step_program()`: PixelCNN++'s U-Net,
`tfgen.models.pixel_cnn_pp_steps`); `step_program(model)` picks it.
"""

import keras
import numpy as np
import tensorflow as tf

from tfgen.layers.masked_conv import MaskedConv2D

__all__ = ["StepProgram", "image_map", "step_program"]

_POINTWISE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Dropout,
    keras.layers.Identity,
    keras.layers.Dense,
    keras.layers.Embedding,
)

# What a tensor of the network depends on, which decides when it is computed:
# labels only (every time, cheaply), the image through rows strictly above
# (once per row, for the whole row: Gated PixelCNN's vertical stack), or the
# current row (once per position).
_IMAGE, _LABEL, _ROW, _POS = "image", "label", "row", "position"


class _Source:
    """The image input in step mode: the padded map that convolutions on the
    image read their window from, and the values at the current position."""

    def __init__(self, padded, at_position):
        self.padded = padded  # (H + pad, W + 2 pad, n, C)
        self.at_position = at_position  # (n, 1, 1, C)


def _is_spatial_conv(layer):
    return isinstance(layer, MaskedConv2D) and tuple(layer.kernel_size) != (1, 1)


def _is_pointwise(layer):
    if getattr(layer, "pointwise", False) or isinstance(layer, _POINTWISE):
        return True
    if isinstance(layer, keras.layers.Conv2D):
        return (
            tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.strides) == (1, 1)
            and layer.groups == 1
        )
    if isinstance(layer, keras.layers.Concatenate):
        return layer.axis == -1
    return False


def _is_stepping(layer):
    return bool(getattr(layer, "supports_position_step", False))


def _layer_inputs(layer):
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def step_program(model):
    """The engine of `model`'s cached sampler: its own `model.step_program()`
    where it defines one, else `StepProgram(model)`. Raises
    NotImplementedError where neither runs the network."""
    own = getattr(model, "step_program", None)
    return own() if own is not None else StepProgram(model)


def image_map(x, pad):
    """Images (n, H, W, C) -> the (H + pad, W + 2 pad, n, C) map, zero
    padded above and on both sides, that a step program reads windows of
    (positions first: the samplers write one position of it per step)."""
    x = tf.transpose(x, [1, 2, 0, 3])
    return tf.pad(x, [[pad, 0], [pad, pad], [0, 0], [0, 0]])


class StepProgram:
    """A model's functional network run one row / one position at a time,
    with a cache of every convolution's input at the positions already
    computed; the cached sampler's loop drives it.

    Per step t = (i * W + j) * C + c in raster x colour order, a sampler
    calls `start_row` and `row_pass` at the start of row i (the stepping
    layers' row work; the row-wise layers for the whole row, from the rows
    above) and `position_pass` at (i, j) for the logits there; the image
    enters as `pad_image` of the network's input values.

    Args:
        model: an autoregressive model (`tfgen.models.AutoregressiveModel`):
            its `network` (a functional Keras model whose first input is the
            image) and `image_shape`.

    Raises:
        NotImplementedError: naming the first layer it cannot run per
            position (a recurrent, dilated or grouped one, say).

    Example:

    ```python
    program = StepProgram(model)      # or NotImplementedError
    padded = program.pad_image(tf.gather(model.level_inputs(), levels))
    pos, rows_in, rows_out = program.initial_state(n)
    pos = program.start_row(i, pos)                                # row i
    rows_in, rows = program.row_pass(i, padded, labels, rows_in)
    logits, pos = program.position_pass(t, i, j, padded, labels, pos, rows)
    ```

    References:
        Ramachandran et al., Fast Generation for Convolutional Autoregressive
        Models, arXiv 1704.06001.
    """

    #: Whether the cached sampler compiles this program's loop with XLA by
    #: default (`tfgen.sampling.sampler_options`): its many small ops fuse.
    xla_by_default = True

    def __init__(self, model):
        self.model = model
        self.network = model.network
        self.height, self.width, self.channels = model.image_shape
        self.image_input = self.network.inputs[0]
        self.kinds = {}
        for layer in self.network.layers:
            self._classify(layer)
        self.convs = [layer for layer in self.network.layers if _is_spatial_conv(layer)]
        self.pad = max(
            [0]
            + [max(k[0] // 2, k[1] // 2) for k in (c.kernel_size for c in self.convs)]
        )
        self.row_layers = [
            layer for layer in self.network.layers if self.kinds[id(layer)] == _ROW
        ]
        self.row_convs = [
            c for c in self.convs if self.kinds[id(c)] == _ROW and not self._on_image(c)
        ]
        self.pos_convs = [
            c for c in self.convs if self.kinds[id(c)] == _POS and not self._on_image(c)
        ]
        self.taps = {id(c): self._taps(c) for c in self.convs}
        self.step_layers = [
            layer for layer in self.network.layers if _is_stepping(layer)
        ]

    # --------------------------------------------------------- graph analysis
    def _unsupported(self, layer, why):
        raise NotImplementedError(
            "The cached sampler runs networks of causal convolutions and pointwise "
            "layers one position at a time; use method='compiled' for this model. "
            f"Layer {layer.name} ({type(layer).__name__}) {why}"
        )

    def _tensor_kind(self, tensor):
        op = tensor._keras_history.operation
        if isinstance(op, keras.layers.InputLayer):
            return _IMAGE if tensor is self.image_input else _LABEL
        return self.kinds[id(op)]

    def _on_image(self, layer):
        return self._tensor_kind(_layer_inputs(layer)[0]) == _IMAGE

    def _classify(self, layer):
        if isinstance(layer, keras.layers.InputLayer):
            self.kinds[id(layer)] = (
                _IMAGE if layer.output is self.image_input else _LABEL
            )
            return
        kinds = {self._tensor_kind(t) for t in _layer_inputs(layer)}
        if _is_spatial_conv(layer):
            if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
                self._unsupported(layer, "is dilated or grouped.")
            (source,) = kinds
            allowed = {
                "A": (_IMAGE, _POS),
                "B": (_IMAGE, _POS),
                "vertical_A": (_IMAGE, _ROW),
                "vertical_B": (_ROW,),
            }[layer.mask_type]
            if source not in allowed:
                self._unsupported(
                    layer, f"has mask {layer.mask_type} on a {source}-wise input."
                )
            kind = _POS if layer.mask_type in ("A", "B") else _ROW
        elif _is_stepping(layer):
            if kinds != {_POS}:
                self._unsupported(layer, "steps per position but reads the image.")
            kind = _POS
        elif isinstance(layer, keras.layers.Reshape) or _is_pointwise(layer):
            if isinstance(layer, keras.layers.Reshape) and kinds - {_LABEL}:
                hw = (self.height, self.width)
                if (
                    tuple(layer.input.shape[1:3]) != hw
                    or tuple(layer.target_shape[:2]) != hw
                ):
                    self._unsupported(layer, "moves positions.")
            if kinds & {_IMAGE, _POS}:
                kind = _POS
            elif _ROW in kinds:
                kind = _ROW
            else:
                kind = _LABEL
        else:
            self._unsupported(layer, "is neither a causal convolution nor pointwise.")
        self.kinds[id(layer)] = kind

    def _taps(self, layer):
        """The kernel positions its mask keeps, as (dy, dx) offsets from the
        centre."""
        kh, kw = layer.kernel_size
        mask = np.asarray(layer.mask)
        offsets = [
            (ky - kh // 2, kx - kw // 2)
            for ky in range(kh)
            for kx in range(kw)
            if mask[ky, kx].any()
        ]
        return offsets

    def _tap_kernel(self, layer):
        kernel = layer.kernel * tf.cast(layer.mask, layer.kernel.dtype)
        kh, kw = layer.kernel_size
        rows = [kernel[dy + kh // 2, dx + kw // 2] for dy, dx in self.taps[id(layer)]]
        return tf.cast(tf.stack(rows), layer.compute_dtype)

    def _finish(self, layer, out):
        if layer.use_bias:
            out = out + tf.cast(layer.bias, layer.compute_dtype)
        if layer.activation is not None:
            out = layer.activation(out)
        return out

    # ------------------------------------------------------------------ state
    def pad_image(self, x):
        """(n, H, W, C) -> the (H + pad, W + 2 pad, n, C) map convs read."""
        return image_map(x, self.pad)

    def initial_state(self, n):
        """(position caches, row caches, row outputs) for a batch of n."""
        total = self.height * self.width * self.channels

        def channels_in(layer):
            return int(_layer_inputs(layer)[0].shape[-1])

        pos = {
            c.name: tf.TensorArray(
                c.compute_dtype,
                size=total,
                element_shape=[None, channels_in(c)],
                clear_after_read=False,
            )
            for c in self.pos_convs
        }
        for layer in self.step_layers:
            pos[layer.name] = layer.step_state(n, self.width)
        rows_in = {
            c.name: tf.TensorArray(
                c.compute_dtype,
                size=self.height,
                element_shape=[None, self.width, channels_in(c)],
                clear_after_read=False,
            )
            for c in self.row_convs
        }
        rows_out = {
            layer.name: tf.zeros(
                [n, 1, self.width, *layer.output.shape[3:]], layer.compute_dtype
            )
            for layer in self.row_layers
        }
        return pos, rows_in, rows_out

    # --------------------------------------------------------------- row pass
    def _strip_conv(self, layer, strip):
        """strip (n, cy + 1, W + 2 cx, C) -> the row's outputs (n, 1, W, out)."""
        kh, kw = layer.kernel_size
        kernel = layer.kernel * tf.cast(layer.mask, layer.kernel.dtype)
        kernel = tf.cast(kernel[: kh // 2 + 1], layer.compute_dtype)
        out = tf.nn.conv2d(tf.cast(strip, layer.compute_dtype), kernel, 1, "VALID")
        # Dynamic slicing loses the static shape the loop needs.
        out = tf.reshape(out, [-1, 1, self.width, layer.filters])
        return self._finish(layer, out)

    def row_pass(self, i, padded, labels, rows_in):
        """Computes the row-wise layers for the whole of row i."""
        rows_in = dict(rows_in)
        outputs = {}
        p = self.pad

        def operation_fn(op):
            kind = self.kinds[id(op)]
            if kind == _POS:
                return lambda *args, **kwargs: None
            if kind == _LABEL:
                return _pointwise(op)
            if _is_spatial_conv(op):
                kh, kw = op.kernel_size
                cy, cx = kh // 2, kw // 2

                def conv(inputs, **kwargs):
                    if isinstance(inputs, _Source):
                        # Static sizes: XLA needs them for dynamic slices.
                        strip = tf.slice(
                            inputs.padded,
                            tf.stack([i + p - cy, p - cx, 0, 0]),
                            [cy + 1, self.width + 2 * cx, -1, -1],
                        )
                        strip = tf.transpose(strip, [2, 0, 1, 3])
                    else:
                        ta = rows_in[op.name].write(
                            i, tf.cast(inputs[:, 0], op.compute_dtype)
                        )
                        rows_in[op.name] = ta
                        index = i - cy + tf.range(cy + 1)
                        valid = tf.cast(index >= 0, op.compute_dtype)
                        strip = ta.gather(tf.maximum(index, 0))  # (cy + 1, n, W, in)
                        strip = strip * valid[:, None, None, None]
                        strip = tf.transpose(strip, [1, 0, 2, 3])
                        strip = tf.pad(strip, [[0, 0], [0, 0], [cx, cx], [0, 0]])
                    out = self._strip_conv(op, strip)
                    outputs[op.name] = out
                    return out

                return conv

            def rowwise(*args, **kwargs):
                if isinstance(op, keras.layers.Reshape):
                    out = tf.reshape(args[0], [-1, 1, self.width, *op.target_shape[2:]])
                else:
                    out = _pointwise(op)(*args, **kwargs)
                outputs[op.name] = out
                return out

            return rowwise

        source = _Source(padded, None)
        inputs = [source] if labels is None else [source, labels]
        self.network._run_through_graph(inputs, operation_fn=operation_fn)
        return rows_in, outputs

    def start_row(self, i, pos):
        """The stepping layers' states at the start of row i."""
        pos = dict(pos)
        for layer in self.step_layers:
            pos[layer.name] = layer.step_row(i, pos[layer.name])
        return pos

    # ---------------------------------------------------------- position pass
    def position_pass(self, t, i, j, padded, labels, pos, rows_out):
        """Logits at (i, j) as (n, 1, 1, ...), writing each position-wise
        convolution's input at step t into its cache."""
        pos = dict(pos)
        p = self.pad
        width, channels = self.width, self.channels

        def operation_fn(op):
            kind = self.kinds[id(op)]
            if kind == _LABEL:
                return _pointwise(op)
            if kind == _ROW:
                return lambda *args, **kwargs: tf.gather(
                    rows_out[op.name], j[None], axis=2
                )
            if _is_stepping(op):

                def step(inputs, **kwargs):
                    out, pos[op.name] = op.position_step(
                        inputs[:, 0, 0], j, pos[op.name]
                    )
                    return out[:, None, None, :]

                return step
            if _is_spatial_conv(op):
                offsets = self.taps[id(op)]

                def conv(inputs, **kwargs):
                    kernel = self._tap_kernel(op)
                    if isinstance(inputs, _Source):
                        index = tf.stack(
                            [tf.stack([i + p + dy, j + p + dx]) for dy, dx in offsets]
                        )
                        window = tf.gather_nd(inputs.padded, index)  # (taps, n, C)
                        window = tf.cast(window, op.compute_dtype)
                    else:
                        ta = pos[op.name].write(
                            t, tf.cast(inputs[:, 0, 0], op.compute_dtype)
                        )
                        pos[op.name] = ta
                        index, valid = [], []
                        for dy, dx in offsets:
                            if (dy, dx) == (0, 0):
                                index.append(t)
                                valid.append(tf.constant(True))
                                continue
                            y, x = i + dy, j + dx
                            ok = (y >= 0) & (x >= 0) & (x < width)
                            # An earlier pixel's last colour step holds its final features.
                            index.append(
                                tf.where(
                                    ok, (y * width + x) * channels + channels - 1, t
                                )
                            )
                            valid.append(ok)
                        window = ta.gather(tf.stack(index))  # (taps, n, in)
                        window = (
                            window
                            * tf.cast(tf.stack(valid), op.compute_dtype)[:, None, None]
                        )
                    out = tf.einsum("tnc,tco->no", window, kernel)
                    return self._finish(op, out)[:, None, None, :]

                return conv
            if isinstance(op, keras.layers.Reshape):
                return lambda inputs, **kwargs: tf.reshape(
                    inputs, [-1, 1, 1, *op.target_shape[2:]]
                )
            return _pointwise(op)

        at = padded[i + p, j + p][:, None, None, :]
        source = _Source(padded, at)
        inputs = [source] if labels is None else [source, labels]
        logits = self.network._run_through_graph(inputs, operation_fn=operation_fn)
        return logits, pos


def _pointwise(op):
    def run(*args, **kwargs):
        args = [a.at_position if isinstance(a, _Source) else a for a in args]
        kwargs.pop("training", None)
        return op(*args, training=False, **kwargs)

    return run
