"""Sampling autoregressive image models: one compiled loop over pixels × colours.

Every sampler here draws its randomness up front: `sampling_noise` gives one
logistic (Bernoulli) or Gumbel (categorical) variate per pixel, colour and
level, and the value at position (i, j, c) is

    argmax_k (logits[i, j, c, k] / temperature + noise[i, j, c, k])

(for Bernoulli: 1 if logit / temperature + noise > 0), an exact sample of the
tempered conditional (the Gumbel-max trick). Because the noise is indexed by
position and not by the order of draws, two samplers that compute the same
conditionals give the same image for the same seed.

- `compiled_sampler`: a `tf.while_loop` over the H·W·C positions in raster ×
  colour order, parallel over the batch, that reruns the whole network on the
  partial image at each step (what any causal network supports). Positions
  known in every image of the batch (image completion) skip the network.
- `cached_sampler`: the fast sampler of Ramachandran et al. (2017) for
  networks of causal convolutions and pointwise layers: each step computes
  every layer at the current position only, reading the previous layer's
  activations in the kernel window from a cache of the positions already
  computed. Work per step is that of one pixel, not of the whole image.

The cached sampler interprets the model's functional network layer by layer
(through Keras' `Functional._run_through_graph`, with its own function per
layer), so it supports any network built from `MaskedConv2D` (masks A and B
run at each position; the vertical masks of Gated PixelCNN's vertical stack,
whose features depend only on the rows above, run once per row for the whole
row), 1x1 convolutions, `Dense` on labels, elementwise layers (activations,
`Add`, `Multiply`, `Concatenate` on channels, `Reshape` of channels) and
layers that declare `pointwise = True`. `supports_cached_sampling` says
whether a model's network qualifies; PixelRNN's recurrent layers do not and
use the compiled loop.
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "MASKS",
    "cached_sampler",
    "choose_levels",
    "compiled_sampler",
    "completion_grid",
    "completion_mask",
    "sampling_noise",
    "supports_cached_sampling",
]


def sampling_noise(shape, num_levels, seed):
    """Noise of one sampling run: logistic (n, H, W, C) for Bernoulli pixels,
    Gumbel (n, H, W, C, num_levels) otherwise. `seed` is an int or a
    `keras.random.SeedGenerator`."""
    shape = [int(d) for d in shape]
    if num_levels > 2:
        shape = [*shape, int(num_levels)]
    # Keep u away from 0 and 1 so that the logs stay finite.
    u = keras.random.uniform(
        shape, minval=1e-7, maxval=1.0 - 1e-7, seed=seed, dtype="float32"
    )
    u = tf.convert_to_tensor(u)
    if num_levels == 2:
        return tf.math.log(u) - tf.math.log1p(-u)
    return -tf.math.log(-tf.math.log(u))


def choose_levels(logits, noise, temperature, num_levels):
    """int32 levels from float32 logits ((n,) or (n, L)) and their noise."""
    scaled = tf.cast(logits, tf.float32) / temperature + noise
    if num_levels == 2:
        return tf.cast(scaled > 0.0, tf.int32)
    return tf.argmax(scaled, axis=-1, output_type=tf.int32)


def _position(t, width, channels):
    return t // (width * channels), (t // channels) % width, t % channels


def _set_position(levels, i, j, c, values):
    """levels (n, H, W, C) with [:, i, j, c] replaced by `values` (n,)."""
    n = tf.shape(levels)[0]
    index = tf.stack(
        [tf.range(n), tf.fill([n], i), tf.fill([n], j), tf.fill([n], c)], axis=1
    )
    return tf.tensor_scatter_nd_update(levels, index, values)


def _default_choose(num_levels):
    def choose(logits, t, noise, temperature):
        return choose_levels(logits, noise, temperature, num_levels)

    return choose


def compiled_sampler(model, jit_compile=False, choose=None):
    """A `tf.function(levels, known, noise, labels, temperature) -> levels`
    that fills the unknown positions of `levels` (n, H, W, C) int32, keeping
    those where `known` is True, rerunning `model.network` at each step.

    `labels` is a one-hot (n, num_classes) float32 tensor, or an empty
    (n, 0) tensor for unconditional models. `choose(logits, t, noise,
    temperature) -> int32 (n,)` picks the values at raster × colour position
    `t` from its float32 logits ((n,) Bernoulli, (n, L) categorical); the
    default draws them with `noise` (`choose_levels`), and the codec decodes
    them instead.
    """
    height, width, channels = model.image_shape
    num_levels = model.num_levels
    total = height * width * channels
    choose = choose or _default_choose(num_levels)

    def run(levels, known, noise, labels, temperature):
        def body(t, levels):
            i, j, c = _position(t, width, channels)
            keep = known[:, i, j, c]

            def draw():
                args = model.network_args_from_levels(levels, labels)
                logits = model.network(args, training=False)
                logits = tf.cast(logits, tf.float32)[:, i, j, c]
                value = choose(logits, t, noise[:, i, j, c], temperature)
                value = tf.where(keep, levels[:, i, j, c], value)
                return _set_position(levels, i, j, c, value)

            levels = tf.cond(tf.reduce_all(keep), lambda: levels, draw)
            return t + 1, levels

        _, levels = tf.while_loop(
            lambda t, _: t < total, body, (tf.constant(0), levels)
        )
        return levels

    return tf.function(
        run, jit_compile=jit_compile, reduce_retracing=True, autograph=False
    )


# --------------------------------------------------------------- cached sampler
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
    from tfgen.layers.masked_conv import MaskedConv2D

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


def _layer_inputs(layer):
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def supports_cached_sampling(model):
    """True when `model.network` is built only from causal convolutions and
    pointwise layers, which the cached sampler runs one position (or, for
    vertical stacks, one row) at a time."""
    try:
        _StepProgram(model)
    except NotImplementedError:
        return False
    return True


class _StepProgram:
    """Runs a functional network one row / one position at a time, with a
    cache of every convolution's input at the positions already computed."""

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
        """(offsets, kernels): the kernel positions its mask keeps, as
        (dy, dx) offsets from the centre and (taps, in, out) weights."""
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
        x = tf.transpose(x, [1, 2, 0, 3])
        p = self.pad
        return tf.pad(x, [[p, 0], [p, p], [0, 0], [0, 0]])

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


def cached_sampler(model, jit_compile=False, choose=None):
    """The cached fast sampler of Ramachandran et al. (2017), as a
    `tf.function` with the signature of `compiled_sampler`'s (and its
    `choose`).

    Rows are an outer loop: at the start of row i the row-wise layers
    (vertical stacks) are computed for the whole row from the rows above;
    then an inner loop over the row's positions × colours computes every
    other layer at the current position only. A pixel is recomputed after
    each of its colours is drawn; with colour-grouped masks its features are
    final after the last colour's pass, so later positions read them from
    the cache."""
    height, width, channels = model.image_shape
    num_levels = model.num_levels
    program = _StepProgram(model)
    conditional = getattr(model, "num_classes", None) is not None
    choose = choose or _default_choose(num_levels)
    p = program.pad

    def run(levels, known, noise, labels, temperature):
        n = tf.shape(levels)[0]
        labels = labels if conditional else None
        table = model.level_inputs()
        padded = program.pad_image(tf.gather(table, levels))
        pos, rows_in, rows_out = program.initial_state(n)

        def row_body(i, levels, padded, pos, rows_in, rows_out):
            if program.row_layers:
                rows_in, new = program.row_pass(i, padded, labels, rows_in)
                rows_out = {
                    name: tf.ensure_shape(new[name], rows_out[name].shape)
                    for name in rows_out
                }

            def body(k, levels, padded, pos):
                j, c = k // channels, k % channels
                t = i * width * channels + k
                logits, pos = program.position_pass(
                    t, i, j, padded, labels, pos, rows_out
                )
                logits = tf.cast(logits, tf.float32)[:, 0, 0, c]
                keep = known[:, i, j, c]
                value = choose(logits, t, noise[:, i, j, c], temperature)
                value = tf.where(keep, levels[:, i, j, c], value)
                levels = _set_position(levels, i, j, c, value)
                # The image map gets the new value for the next windows.
                new = tf.gather(table, value)
                index = tf.stack(
                    [
                        tf.fill([n], i + p),
                        tf.fill([n], j + p),
                        tf.range(n),
                        tf.fill([n], c),
                    ],
                    axis=1,
                )
                padded = tf.tensor_scatter_nd_update(padded, index, new)
                return k + 1, levels, padded, pos

            _, levels, padded, pos = tf.while_loop(
                lambda k, *_: k < width * channels,
                body,
                (tf.constant(0), levels, padded, pos),
            )
            return i + 1, levels, padded, pos, rows_in, rows_out

        _, levels, *_ = tf.while_loop(
            lambda i, *_: i < height,
            row_body,
            (tf.constant(0), levels, padded, pos, rows_in, rows_out),
        )
        return levels

    return tf.function(
        run, jit_compile=jit_compile, reduce_retracing=True, autograph=False
    )


# ------------------------------------------------------------------ completion
MASKS = ("bottom_half", "top_half", "right_half", "square")


def completion_mask(image_shape, mask="bottom_half", size=None):
    """A bool (H, W) map of the *known* pixels for image completion.

    Args:
        image_shape: (H, W, C) or (H, W).
        mask: "bottom_half" (the bottom half is occluded, as in Figure 1 of
            the PixelRNN paper), "top_half", "right_half", or "square" (a
            centred square is occluded).
        size: side of the square (default half the smaller side).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    known = np.ones((height, width), bool)
    if mask == "bottom_half":
        known[height // 2 :] = False
    elif mask == "top_half":
        known[: height // 2] = False
    elif mask == "right_half":
        known[:, width // 2 :] = False
    elif mask == "square":
        side = int(size or min(height, width) // 2)
        if not 0 < side <= min(height, width):
            raise ValueError(
                f"The square must fit in the {height}x{width} image. Received: size={size}"
            )
        top, left = (height - side) // 2, (width - side) // 2
        known[top : top + side, left : left + side] = False
    else:
        raise ValueError(f"`mask` must be one of {MASKS}. Received: mask={mask!r}")
    return known


def completion_grid(images, known, completions, fill=0.5):
    """Rows of [occluded input, completions..., original] for `save_grid`
    with `nrow=num_samples + 2`, like Figure 1 of the PixelRNN paper.

    Args:
        images: (n, H, W, C) originals in [0, 1].
        known: bool mask broadcastable to `images` (True = kept).
        completions: (n, k, H, W, C).
        fill: grey level of the occluded pixels in the first column.
    """
    images = np.asarray(images, "float32")
    known = np.asarray(known, bool)
    if known.ndim == 2:  # (H, W)
        known = known[None, :, :, None]
    elif known.ndim == 3 and known.shape[0] == images.shape[0]:  # (n, H, W)
        known = known[..., None]
    known = np.broadcast_to(known, images.shape)
    occluded = np.where(known, images, fill)
    rows = [
        np.concatenate([occluded[i : i + 1], completions[i], images[i : i + 1]])
        for i in range(images.shape[0])
    ]
    return np.concatenate(rows)
