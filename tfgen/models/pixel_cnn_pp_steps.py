"""PixelCNN++'s U-Net one row / one position at a time: the engine of its
cached sampler (Ramachandran et al. 2017, with their caches for down- and
up-sampling).

`tfgen.step_program.StepProgram` interprets networks layer by layer at one
resolution; PixelCNN++'s network is not layer-local (zero paddings and
croppings shift whole maps, strided and transposed convolutions change the
resolution), so this program walks the U-Net's own structure instead
(`PixelCNNPlusPlus.build_network`: the same layers, by name) and runs the
step protocol that `tfgen.sampling.cached_sampler` drives.
"""

import tensorflow as tf
from keras import ops

from tfgen.step_program import image_map

__all__ = ["PixelCNNPlusPlusSteps"]


class _Rows:
    """The `u` stream's coordinates at the start of full-resolution row i:
    stage s computes its row i / 2^s, for the whole row, when 2^s divides i
    (its features read only the rows above)."""

    stream = "u"

    def __init__(self, i, stages):
        self.i = i
        self.rows = [i // 2**stage for stage in range(stages + 1)]

    def hit(self, stage):
        return tf.equal(self.i % 2**stage, 0)

    def coords(self, stage):
        return self.rows[stage]

    def window(self, cache, stage, kernel, stride):
        """The strip a convolution with 'valid' padding turns into the row:
        the cache's rows y - 1, y (y = row * stride) with the zero columns
        of both sides."""
        y = self.coords(stage) * stride
        strip = tf.slice(cache, tf.stack([y, 0, 0, 0]), [2, -1, -1, -1])
        strip = tf.ensure_shape(strip, [2, *cache.shape[1:]])
        return tf.transpose(strip, [2, 0, 1, 3])

    def write(self, cache, stage, value):
        """value (n, rows, w, C) into the cache's rows from this one
        (scaled to the value's rows), zero columns kept."""
        rows = value.shape[1]
        value = tf.pad(
            tf.transpose(value, [1, 2, 0, 3]), [[0, 0], [1, 1], [0, 0], [0, 0]]
        )
        first = self.coords(stage) * rows + 1
        index = (first + tf.range(rows))[:, None]
        return tf.tensor_scatter_nd_update(cache, index, tf.cast(value, cache.dtype))

    def read(self, cache, stage):
        row = tf.gather(cache, self.coords(stage) + 1)[1:-1]
        return tf.transpose(row, [1, 0, 2])[:, None]


class _Positions:
    """The `ul` stream's coordinates at full-resolution position (i, j):
    stage s computes its position (i / 2^s, j / 2^s) when 2^s divides both
    (its features read the rows above and the pixels to the left)."""

    stream = "ul"

    def __init__(self, i, j, stages):
        self.i, self.j = i, j
        self.positions = [(i // 2**s, j // 2**s) for s in range(stages + 1)]

    def hit(self, stage):
        step = 2**stage
        return tf.equal(self.i % step, 0) & tf.equal(self.j % step, 0)

    def coords(self, stage):
        return self.positions[stage]

    def window(self, cache, stage, kernel, stride):
        y, x = self.coords(stage)
        size = [2, kernel[1], -1, cache.shape[-1]]
        window = tf.slice(cache, tf.stack([y * stride, x * stride, 0, 0]), size)
        return tf.transpose(window, [2, 0, 1, 3])

    def write(self, cache, stage, value):
        """value (n, k, k, C) into the cache's k x k block from this
        position (scaled to k)."""
        k = value.shape[1]
        y, x = self.coords(stage)
        value = tf.cast(tf.transpose(value, [1, 2, 0, 3]), cache.dtype)
        if k == 1:
            return tf.tensor_scatter_nd_update(cache, [[y + 1, x + 1]], value[0])
        grid = tf.stack(
            tf.meshgrid(
                y * k + 1 + tf.range(k), x * k + 1 + tf.range(k), indexing="ij"
            ),
            axis=-1,
        )
        return tf.tensor_scatter_nd_update(cache, grid, value)

    def read(self, cache, stage):
        y, x = self.coords(stage)
        return tf.gather_nd(cache, tf.stack([y + 1, x + 1]))[:, None, None]


class PixelCNNPlusPlusSteps:
    """`PixelCNNPlusPlus`'s network run one row / one position at a time,
    with a cache of every convolution's input: the step program that
    `tfgen.sampling.cached_sampler` drives for it.

    The `u` stream (down-shifted convolutions: rows above only) runs at the
    start of each row i, for the whole row, at every stage s whose grid row
    i is on (2^s divides i); the `ul` stream (down-right-shifted: rows above
    and pixels to the left) runs at each position (i, j), at every stage
    whose grid (i, j) is on, before the pixel's colours are drawn, and
    reads the `u` stream's short-cuts from its row caches. Each coarser
    stage's first tensor is a strided convolution over a window of the
    finer stage's cache, computed when the position reaches its grid; a
    transposed convolution scatters its 2 x 2 block (its two rows, for the
    `u` stream) into the up-sampled stage's cache as soon as its input is
    computed, and the finer stage reads it from there. The mixture parameters
    of a pixel read none of its colours, so the network runs once per pixel
    and each colour's conditional (the `levels` layer) reads the stored
    parameters and the colours drawn before it.

    Every computation calls the network's own layers (convolutions on the
    windows with 'valid' padding, as the network's zero paddings do), so
    the compute dtype (the codec's float64 copy, say), dropout in inference
    mode and the class-conditional biases are the network's.

    Caches are (rows + 1, columns + 2, n, channels) per stage: the network's
    zero padding (a row above, a column on each side) is kept in them.

    Args:
        model: a built `tfgen.models.PixelCNNPlusPlus`.
        activation: the blocks' activation, `concat_elu`.

    Example:

    ```python
    program = model.step_program()
    padded = program.pad_image(tf.gather(model.level_inputs(), levels))
    pos, rows_in, rows_out = program.initial_state(n)
    rows_in, rows_out = program.row_pass(i, padded, labels, rows_in)  # row i
    logits, pos = program.position_pass(t, i, j, padded, labels, pos, rows_out)
    ```

    References:
        Ramachandran et al., Fast Generation for Convolutional Autoregressive
        Models, arXiv 1704.06001.
        Salimans et al., PixelCNN++: Improving the PixelCNN with Discretized
        Logistic Mixture Likelihood and Other Modifications, arXiv 1701.05517.
    """

    #: The image map's zero border: one row above, one column on each side.
    pad = 1
    #: The sampler's loop runs `row_pass` per row; no layer steps itself.
    step_layers = ()
    #: No XLA by default: on the recipe's network (64 filters, 32x32x3) the
    #: graph sampled 3.7x faster than the XLA loop and its first call took
    #: 60 s instead of 200 (benchmarks/sampling_speed.py --parts
    #: pixelcnn_pp; XLA won only on a 16-filter 16x16 toy).
    xla_by_default = False

    def __init__(self, model, activation):
        self.model = model
        self.activation = activation
        self.height, self.width, self.channels = model.image_shape
        self.stages = model.num_downsamplings
        self.num_blocks = model.num_blocks
        self.layer = model.mixture_network.get_layer
        self.levels = model.network.get_layer("levels")
        self.params = self.layer("mixture_params")
        self.dtype = self.layer("u_in").compute_dtype
        self.row_layers = [
            layer
            for layer in model.mixture_network.layers
            if layer.name.startswith("u_in") or "_u_" in layer.name
        ]
        self.specs = {"u": {}, "ul": {}}
        for stream in ("u", "ul"):
            for stage in range(self.stages + 1):
                for name in self._blocks(stage, stream):
                    self.specs[stream][f"{name}/x"] = stage
                    self.specs[stream][f"{name}/c"] = stage
                    if stream == "u":  # the `ul` blocks' short-cuts
                        self.specs[stream][f"{name}/out"] = stage
                if stage:
                    self.specs[stream][f"up{stage}_{stream}_stride/x"] = stage - 1
                if stage < self.stages:
                    self.specs[stream][f"down{stage}_{stream}_stride/y"] = stage
        self.shortcuts = [key for key in self.specs["u"] if key.endswith("/out")]

    def _blocks(self, stage, stream):
        up = [f"up{stage}_{b}_{stream}" for b in range(self.num_blocks)]
        extra = int(stage < self.stages)
        down = [f"down{stage}_{b}_{stream}" for b in range(self.num_blocks + extra)]
        return up + down

    # ------------------------------------------------------------------ state
    def pad_image(self, x):
        """(n, H, W, C) -> the (H + 1, W + 2, n, C) map the input layers read."""
        return image_map(x, self.pad)

    def initial_state(self, n):
        """(position caches, row caches, the row caches positions read)."""
        filters = self.model.filters

        def caches(stream):
            return {
                key: tf.zeros(
                    [
                        self.height // 2**stage + 1,
                        self.width // 2**stage + 2,
                        n,
                        filters,
                    ],
                    self.dtype,
                )
                for key, stage in self.specs[stream].items()
            }

        pos = caches("ul")
        pos["params"] = tf.zeros(
            [n, 1, 1, self.params.filters], self.params.compute_dtype
        )
        rows = caches("u")
        return pos, rows, {key: rows[key] for key in self.shortcuts}

    # ------------------------------------------------------------- the U-Net
    def _block(self, name, coords, x, shortcut, labels, caches, stage):
        """A gated ResNet block at the coordinates' position (row) of
        `stage`; see `PixelCNNPlusPlus._block`."""
        caches = dict(caches)
        caches[f"{name}/x"] = coords.write(caches[f"{name}/x"], stage, x)
        conv1 = self.layer(f"{name}_conv1")
        window = coords.window(caches[f"{name}/x"], stage, conv1.kernel_size, 1)
        c = conv1(self.activation(window))
        if shortcut is not None:
            c = c + self.layer(f"{name}_nin")(self.activation(shortcut))
        caches[f"{name}/c"] = coords.write(caches[f"{name}/c"], stage, c)
        conv2 = self.layer(f"{name}_conv2")
        window = self.activation(
            coords.window(caches[f"{name}/c"], stage, conv2.kernel_size, 1)
        )
        if self.model.dropout:
            window = self.layer(f"{name}_dropout")(window, training=False)
        c = conv2(window)
        if labels is not None:
            bias = self.layer(f"{name}_label")(labels)
            c = c + ops.reshape(bias, (-1, 1, 1, c.shape[-1]))
        a, b = ops.split(c, 2, axis=-1)
        out = x + a * ops.sigmoid(b)
        if f"{name}/out" in caches:
            caches[f"{name}/out"] = coords.write(caches[f"{name}/out"], stage, out)
        return out, caches

    def _stage(self, coords, stage, first, labels, caches, shortcuts):
        """Stage `stage` of the up pass, the coarser stages where the
        coordinates are on their grids, then the stage's down pass; returns
        the down pass's output and the caches. `first` is the stream's input
        at stage 0; a coarser stage starts from the strided convolution of
        the finer one's cache."""
        stream = coords.stream
        if stage:
            name = f"up{stage}_{stream}_stride"
            layer = self.layer(name)
            first = layer(
                coords.window(caches[f"{name}/x"], stage, layer.kernel_size, 2)
            )
        outputs, x = [first], first
        for b in range(self.num_blocks):
            name = f"up{stage}_{b}_{stream}"
            shortcut = (
                None if shortcuts is None else shortcuts(f"up{stage}_{b}_u", stage)
            )
            x, caches = self._block(name, coords, x, shortcut, labels, caches, stage)
            outputs.append(x)
        if stage < self.stages:
            key = f"up{stage + 1}_{stream}_stride/x"
            caches = {**caches, key: coords.write(caches[key], stage, x)}

            def below(caches=caches):
                _, caches = self._stage(
                    coords, stage + 1, None, labels, caches, shortcuts
                )
                return caches

            caches = tf.cond(coords.hit(stage + 1), below, lambda: caches)
            x = coords.read(caches[f"down{stage}_{stream}_stride/y"], stage)
        else:
            x = outputs.pop()
        for b in range(self.num_blocks + int(stage < self.stages)):
            name = f"down{stage}_{b}_{stream}"
            shortcut = outputs.pop()
            if shortcuts is not None:
                shortcut = ops.concatenate(
                    [shortcuts(f"down{stage}_{b}_u", stage), shortcut], axis=-1
                )
            x, caches = self._block(name, coords, x, shortcut, labels, caches, stage)
        if stage:
            # Scatter the up-sampled block into the finer stage's cache.
            name = f"down{stage - 1}_{stream}_stride"
            y = self.layer(name)(x)
            if stream == "u":
                y = y[:, :, 1:]  # the network's Cropping2D of the left column
            caches = {
                **caches,
                f"{name}/y": coords.write(caches[f"{name}/y"], stage, y),
            }
        return x, caches

    # --------------------------------------------------------------- row pass
    def row_pass(self, i, padded, labels, rows_in):
        """The `u` stream of row i at every stage whose grid the row is on;
        returns the row caches and those the position passes read."""
        coords = _Rows(i, self.stages)
        # The input: the down-shifted 2x3 convolution of the rows above.
        layer = self.layer("u_in")
        strip = self._image_window(padded, tf.maximum(i - 1, 0), 0, 2, self.width + 2)
        u = layer(strip)
        u = tf.where(i > 0, u, tf.zeros_like(u))  # the network's shift
        _, caches = self._stage(coords, 0, u, labels, rows_in, None)
        return caches, {key: caches[key] for key in self.shortcuts}

    def _image_window(self, padded, y, x, rows, cols):
        """The image map's rows y.., columns x.. (padded coordinates) as the
        network's input there: (n, rows, cols, C + 1), with the channel of
        ones (zero in the border) that tells the convolutions where the
        padding is."""
        window = tf.slice(padded, tf.stack([y, x, 0, 0]), [rows, cols, -1, -1])
        window = tf.transpose(window, [2, 0, 1, 3])
        inside = tf.pad(
            tf.ones([self.height, self.width], window.dtype), [[1, 0], [1, 1]]
        )
        ones = tf.slice(inside, tf.stack([y, x]), [rows, cols])
        ones = tf.broadcast_to(ones[None, :, :, None], tf.shape(window[..., :1]))
        window = tf.ensure_shape(window, [None, rows, cols, self.channels])
        return tf.concat([window, ones], axis=-1)

    # ---------------------------------------------------------- position pass
    def position_pass(self, t, i, j, padded, labels, pos, rows_out):
        """Logits at (i, j) as (n, 1, 1, C, ...) for colour t mod C; at the
        first colour the `ul` stream runs and the mixture parameters are
        kept for the pixel's other colours."""

        def features():
            coords = _Positions(i, j, self.stages)
            # Rows above (1x3) plus pixels to the left (2x1), each shifted.
            above = self.layer("ul_in_above")(self._image_window(padded, i, j, 1, 3))
            left = self.layer("ul_in_left")(self._image_window(padded, i, j, 2, 1))
            ul = tf.where(i > 0, above, tf.zeros_like(above)) + tf.where(
                j > 0, left, tf.zeros_like(left)
            )

            def shortcut(name, stage):
                return coords.read(rows_out[f"{name}/out"], stage)

            ul, caches = self._stage(coords, 0, ul, labels, pos, shortcut)
            caches = dict(caches)
            caches["params"] = tf.cast(self.params(ops.elu(ul)), caches["params"].dtype)
            return caches

        pos = tf.cond(tf.equal(t % self.channels, 0), features, lambda: dict(pos))
        pixel = tf.gather_nd(padded, tf.stack([i + 1, j + 1]))[:, None, None]
        return self.levels(pos["params"], pixel), pos
