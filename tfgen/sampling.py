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

The cached sampler interprets the model's functional network layer by layer,
so it supports any network built from `MaskedConv2D` (any mask, any kernel),
1x1 convolutions, `Dense` on labels, elementwise layers (activations, `Add`,
`Multiply`, `Concatenate` on channels, `Reshape` of channels) and layers that
declare `pointwise = True`. `supports_cached_sampling` says whether a model's
network qualifies.
"""

import keras
import numpy as np
import tensorflow as tf

from tfgen.distributions import from_levels

__all__ = [
    "cached_sampler",
    "choose_levels",
    "compiled_sampler",
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


def compiled_sampler(model, jit_compile=False):
    """A `tf.function(levels, known, noise, labels, temperature) -> levels`
    that fills the unknown positions of `levels` (n, H, W, C) int32, keeping
    those where `known` is True, rerunning `model.network` at each step.

    `labels` is a one-hot (n, num_classes) float32 tensor, or an empty
    (n, 0) tensor for unconditional models.
    """
    height, width, channels = model.image_shape
    num_levels = model.num_levels
    total = height * width * channels

    def run(levels, known, noise, labels, temperature):
        def body(t, levels):
            i, j, c = _position(t, width, channels)
            keep = known[:, i, j, c]

            def draw():
                x = from_levels(levels, num_levels)
                logits = model.network(model.network_args(x, labels), training=False)
                logits = tf.cast(logits, tf.float32)[:, i, j, c]
                value = choose_levels(
                    logits, noise[:, i, j, c], temperature, num_levels
                )
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
)


class _Source:
    """The network's image input in step mode: the whole padded map, from
    which causal convolutions read their window directly (its values at the
    current position change between colour steps, so it is never cached)."""

    def __init__(self, padded, at_position):
        self.padded = padded  # (H + pad, W + 2 pad, n, C)
        self.at_position = at_position  # (n, 1, 1, C)


def _masked_conv_class():
    from tfgen.layers.masked_conv import MaskedConv2D

    return MaskedConv2D


def _is_spatial_conv(layer):
    return isinstance(layer, _masked_conv_class()) and tuple(layer.kernel_size) != (
        1,
        1,
    )


def _is_pointwise(layer, image_hw):
    if isinstance(layer, keras.layers.InputLayer):
        return True
    if getattr(layer, "pointwise", False) or isinstance(layer, _POINTWISE):
        return True
    if isinstance(layer, keras.layers.Conv2D):
        return tuple(layer.kernel_size) == (1, 1) and tuple(layer.strides) == (1, 1)
    if isinstance(layer, keras.layers.Dense | keras.layers.Embedding):
        return True
    if isinstance(layer, keras.layers.Concatenate):
        return layer.axis == -1
    if isinstance(layer, keras.layers.Reshape):
        shape = tuple(layer.input.shape[1:3])
        # Either a non-spatial tensor, or a spatial one whose positions stay put.
        return shape != image_hw or tuple(layer.target_shape[:2]) == image_hw
    return False


def _unsupported_layers(network, image_hw):
    bad = []
    for layer in network.layers:
        if _is_spatial_conv(layer):
            if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
                bad.append(layer)
        elif not _is_pointwise(layer, image_hw):
            bad.append(layer)
    return bad


def supports_cached_sampling(model):
    """True when `model.network` is built only from causal convolutions and
    pointwise layers, which the cached sampler can run one position at a
    time."""
    image_hw = tuple(model.image_shape[:2])
    return not _unsupported_layers(model.network, image_hw)


class _StepProgram:
    """Runs a functional network at one position, with per-layer caches."""

    def __init__(self, model):
        self.model = model
        self.network = model.network
        self.image_hw = tuple(model.image_shape[:2])
        bad = _unsupported_layers(self.network, self.image_hw)
        if bad:
            names = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in bad)
            raise NotImplementedError(
                "The cached sampler runs networks of causal convolutions and "
                "pointwise layers one position at a time; use method='compiled' "
                f"for this model. Unsupported layers: {names}"
            )
        self.convs = [layer for layer in self.network.layers if _is_spatial_conv(layer)]
        # Convolutions that read the image itself use its padded map.
        input_ids = {id(t) for t in self.network.inputs}
        self.cached = [
            layer
            for layer in self.convs
            if not any(id(t) in input_ids for t in _layer_inputs(layer))
        ]
        self.pad = max(
            [0]
            + [max(k[0] // 2, k[1] // 2) for k in (c.kernel_size for c in self.convs)]
        )

    def initial_caches(self, n):
        height, width = self.image_hw
        caches = {}
        for layer in self.cached:
            cin = int(_layer_inputs(layer)[0].shape[-1])
            caches[layer.name] = tf.zeros(
                [height + self.pad, width + 2 * self.pad, n, cin],
                dtype=layer.compute_dtype,
            )
        return caches

    def pad_image(self, x):
        """(n, H, W, C) -> the (H + pad, W + 2 pad, n, C) map the convs read."""
        x = tf.transpose(x, [1, 2, 0, 3])
        p = self.pad
        return tf.pad(x, [[p, 0], [p, p], [0, 0], [0, 0]])

    def _conv_at(self, layer, padded, i, j):
        kh, kw = layer.kernel_size
        cy, cx = kh // 2, kw // 2
        top, left = i + self.pad - cy, j + self.pad - cx
        window = padded[top : top + cy + 1, left : left + kw]
        # Rows below the centre are masked out in every causal mask.
        kernel = layer.kernel * tf.cast(layer.mask, layer.kernel.dtype)
        kernel = tf.cast(kernel[: cy + 1], layer.compute_dtype)
        out = tf.einsum("hwnc,hwco->no", tf.cast(window, layer.compute_dtype), kernel)
        if layer.use_bias:
            out = out + tf.cast(layer.bias, layer.compute_dtype)
        if layer.activation is not None:
            out = layer.activation(out)
        return out[:, None, None, :]

    def step(self, caches, source, labels, i, j):
        """Logits at (i, j) as (n, 1, 1, ...); updates `caches` in place."""
        caches = dict(caches)
        cached = {id(layer) for layer in self.cached}
        pad = self.pad

        def operation_fn(op):
            if _is_spatial_conv(op):
                if id(op) not in cached:
                    return lambda inputs, **kw: self._conv_at(op, inputs.padded, i, j)

                def conv(inputs, **kw):
                    value = tf.cast(inputs, op.compute_dtype)[:, 0, 0, :][None]
                    index = tf.reshape(tf.stack([i + pad, j + pad]), [1, 2])
                    caches[op.name] = tf.tensor_scatter_nd_update(
                        caches[op.name], index, value
                    )
                    return self._conv_at(op, caches[op.name], i, j)

                return conv
            if isinstance(op, keras.layers.Reshape) and (
                tuple(op.input.shape[1:3]) == self.image_hw
            ):
                return lambda inputs, **kw: tf.reshape(
                    inputs, [-1, 1, 1, *op.target_shape[2:]]
                )

            def pointwise(*args, **kwargs):
                args = [a.at_position if isinstance(a, _Source) else a for a in args]
                kwargs.pop("training", None)
                return op(*args, training=False, **kwargs)

            return pointwise

        inputs = [source] if labels is None else [source, labels]
        logits = self.network._run_through_graph(inputs, operation_fn=operation_fn)
        return logits, caches


def _layer_inputs(layer):
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def cached_sampler(model, jit_compile=False):
    """The cached fast sampler of Ramachandran et al. (2017), as a
    `tf.function` with the signature of `compiled_sampler`'s."""
    height, width, channels = model.image_shape
    num_levels = model.num_levels
    total = height * width * channels
    program = _StepProgram(model)
    conditional = getattr(model, "num_classes", None) is not None

    def run(levels, known, noise, labels, temperature):
        n = tf.shape(levels)[0]
        image = model.network_input(from_levels(levels, num_levels))
        padded = program.pad_image(tf.cast(image, tf.float32))
        caches = program.initial_caches(n)

        def body(t, levels, padded, caches):
            i, j, c = _position(t, width, channels)
            at = padded[i + program.pad, j + program.pad][:, None, None, :]
            source = _Source(padded, at)
            logits, caches = program.step(
                caches, source, labels if conditional else None, i, j
            )
            logits = tf.cast(logits, tf.float32)[:, 0, 0, c]
            keep = known[:, i, j, c]
            value = choose_levels(logits, noise[:, i, j, c], temperature, num_levels)
            value = tf.where(keep, levels[:, i, j, c], value)
            levels = _set_position(levels, i, j, c, value)
            # The image map gets the new value, for the next positions' windows.
            new = tf.cast(
                model.network_input(from_levels(value, num_levels)), tf.float32
            )
            index = tf.stack(
                [
                    tf.fill([n], i + program.pad),
                    tf.fill([n], j + program.pad),
                    tf.range(n),
                    tf.fill([n], c),
                ],
                axis=1,
            )
            padded = tf.tensor_scatter_nd_update(padded, index, new)
            return t + 1, levels, padded, caches

        _, levels, _, _ = tf.while_loop(
            lambda t, *_: t < total, body, (tf.constant(0), levels, padded, caches)
        )
        return levels

    return tf.function(
        run, jit_compile=jit_compile, reduce_retracing=True, autograph=False
    )


def as_numpy_levels(levels):
    return np.asarray(levels, dtype=np.int32)
