"""Sampling and completion for autoregressive image models: one compiled
loop over pixels × colours.

`sample(model, n)` draws images and `complete(model, images, known_mask)`
fills the unknown pixels of images, keeping the known ones exactly; an
`AutoregressiveModel` has both as methods (`model.sample(n)` is
`sample(model, n)`). Both run a loop that `sampler` builds:

- `compiled_sampler`: a `tf.while_loop` over the H·W·C positions in raster ×
  colour order, parallel over the batch, that reruns the whole network on the
  partial image at each step (what any causal network supports). Positions
  known in every image of the batch (image completion) skip the network.
- `cached_sampler`: the fast sampler of Ramachandran et al. (2017) for
  networks of causal convolutions and pointwise layers: each step computes
  every layer at the current position only (`tfgen.step_program`), reading
  the previous layer's activations in the kernel window from a cache of the
  positions already computed. Work per step is that of one pixel, not of the
  whole image. PixelRNN's recurrent layers step themselves one position at
  a time (`tfgen.layers.PixelLSTMLayer`); PixelCNN++'s U-Net brings its own
  engine with caches for its down- and up-sampled stages
  (`model.step_program()`, `tfgen.models.pixel_cnn_pp_steps`).
  `supports_cached_sampling` says whether a model's network qualifies; one
  that does not (a dilated convolution, say) uses the compiled loop.

Every sampler here draws its randomness up front: `sampling_noise` gives one
logistic (Bernoulli) or Gumbel (categorical) variate per pixel, colour and
level, and the value at position (i, j, c) is

    argmax_k (logits[i, j, c, k] / temperature + noise[i, j, c, k])

(for Bernoulli: 1 if logit / temperature + noise > 0), an exact sample of the
tempered conditional (the Gumbel-max trick). Because the noise is indexed by
position and not by the order of draws, two samplers that compute the same
conditionals give the same image for the same seed.

`completion_mask` and `completion_grid` make the masks and the figure of
image completion.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tfgen.levels import from_levels, levels_of
from tfgen.progress import batch_starts
from tfgen.step_program import step_program
from tfgen.validation import check_images, check_labels, check_positive_int

__all__ = [
    "MASKS",
    "METHODS",
    "cached_sampler",
    "choose_levels",
    "compiled_sampler",
    "complete",
    "completion_grid",
    "completion_mask",
    "sample",
    "sampler",
    "sampler_options",
    "sampling_noise",
    "supports_cached_sampling",
]

METHODS = ("auto", "cached", "compiled")


# ---------------------------------------------------------- sample, complete
def sample(
    model,
    n,
    seed=None,
    temperature=1.0,
    labels=None,
    batch_size=64,
    method="auto",
    progress=False,
    jit_compile=None,
):
    """Draws `n` images from `model` (an `AutoregressiveModel`), float32
    (n, H, W, C) on its level grid in [0, 1]. `model.sample(n, ...)` calls
    this.

    Args:
        model: the autoregressive model.
        n: number of images.
        seed: int for reproducible samples (the same for every method);
            None draws from the model's seed generator.
        temperature: divides the logits; 1 samples the model, lower is
            greedier.
        labels: class ids of a conditional model (an int or n ints);
            by default cycling through the classes.
        batch_size: images sampled in parallel by one loop.
        method: "cached" (fast, convolutional networks), "compiled"
            (reruns the network per step; any network) or "auto".
        progress: a progress bar over batches.
        jit_compile: compile the loop with XLA; None (default) does for
            the cached sampler (one compilation per batch shape, then
            much faster) and not for the compiled one.
    """
    n = check_positive_int(n, "n")
    labels = check_labels(labels, n, model.num_classes)
    fill = _filler(model, seed, temperature, method, batch_size, progress, jit_compile)
    shape = (n, *model.image_shape)
    return fill(np.zeros(shape, "int32"), np.zeros(shape, bool), labels)


def complete(
    model,
    images,
    known_mask,
    num_samples=1,
    seed=None,
    temperature=1.0,
    labels=None,
    batch_size=64,
    method="auto",
    progress=False,
    jit_compile=None,
):
    """Fills the unknown pixels of `images` from `model`, keeping the known
    ones exactly. `model.complete(images, known_mask, ...)` calls this.

    Args:
        model: the autoregressive model.
        images: float (n, H, W, C) in [0, 1] on the level grid (values at
            unknown positions are ignored).
        known_mask: bool, (n, H, W, C), (n, H, W), (H, W, C) or (H, W):
            True where a pixel (or a colour of a pixel) is known.
        num_samples: completions per image.
        seed, temperature, labels, batch_size, method, progress,
        jit_compile: as in `sample`.

    Returns:
        float32 (n, num_samples, H, W, C).
    """
    images = check_images(images, model.image_shape, name="images")
    n = images.shape[0]
    known = _known_positions(known_mask, n, tuple(model.image_shape))
    # Only the known values have to lie on the grid.
    levels = levels_of(np.where(known, images, 0.0), model.num_levels, "images")
    num_samples = check_positive_int(num_samples, "num_samples")
    labels = check_labels(labels, n, model.num_classes)
    fill = _filler(model, seed, temperature, method, batch_size, progress, jit_compile)
    out = fill(
        np.repeat(levels, num_samples, axis=0),
        np.repeat(known, num_samples, axis=0),
        None if labels is None else np.repeat(labels, num_samples, axis=0),
    )
    return out.reshape((n, num_samples, *model.image_shape))


def _known_positions(known_mask, n, shape):
    """`known_mask` in any of `complete`'s forms -> bool (n, H, W, C)."""
    mask = np.asarray(known_mask)
    if mask.dtype != bool:
        raise TypeError(
            f"`known_mask` must be a bool array. Received: dtype={mask.dtype}"
        )
    if mask.shape in (shape[:2], shape):
        mask = np.broadcast_to(mask.reshape(shape[:2] + (-1,)), shape)
        return np.broadcast_to(mask, (n, *shape))
    if mask.shape in ((n, *shape[:2]), (n, *shape)):
        return np.broadcast_to(mask.reshape((n, *shape[:2], -1)), (n, *shape))
    raise ValueError(
        f"`known_mask` must have shape {(n, *shape)}, {(n, *shape[:2])}, "
        f"{shape} or {shape[:2]}. Received: known_mask.shape={mask.shape}"
    )


def _filler(model, seed, temperature, method, batch_size, progress, jit_compile):
    """Checks the options `sample` and `complete` share; returns
    `fill(levels, known, labels)`, which draws the positions of int levels
    (m, H, W, C) where bool `known` is False, batch by batch, and returns
    float32 images on the grid."""
    temperature = float(temperature)
    if not temperature > 0.0 or math.isinf(temperature):
        raise ValueError(
            "`temperature` must be a positive finite number. "
            f"Received: temperature={temperature!r}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    run = model.sampler(method, jit_compile=jit_compile)
    seed = model.noise_seed(seed)
    if isinstance(seed, int):
        # One generator per call: the sampling loop draws from it per step.
        seed = keras.random.SeedGenerator(seed)
    shape = tuple(model.image_shape)

    def fill(levels, known, labels):
        out = []
        for start in batch_starts(levels.shape[0], batch_size, progress, "sample"):
            stop = start + batch_size
            batch = tf.convert_to_tensor(levels[start:stop])
            b = int(batch.shape[0])
            noise = sampling_noise((b, *shape), model.num_levels, seed)
            if labels is None:
                one_hot = tf.zeros([b, 0], tf.float32)
            else:
                one_hot = model.one_hot_labels(labels[start:stop])
            result = run(
                batch,
                tf.convert_to_tensor(known[start:stop]),
                noise,
                one_hot,
                tf.constant(temperature, tf.float32),
            )
            out.append(np.asarray(result))
        levels = np.concatenate(out) if out else np.zeros((0, *shape), "int32")
        return np.asarray(from_levels(levels, model.num_levels), dtype="float32")

    return fill


# ------------------------------------------------------------------ samplers
def sampler_options(model, method="auto", jit_compile=None):
    """`(method, jit_compile)` resolved for `model`: "auto" is "cached" where
    `supports_cached_sampling(model)`, else "compiled"; `jit_compile` None
    is True for the cached sampler where its step program says XLA pays
    (`xla_by_default`: PixelCNN++'s does not) and False for the compiled
    one."""
    if method not in METHODS:
        raise ValueError(
            f"`method` must be one of {METHODS}. Received: method={method!r}"
        )
    if method == "auto":
        method = "cached" if supports_cached_sampling(model) else "compiled"
    if jit_compile is None:
        # XLA turns the cached loop's many small ops into a few kernels
        # (about 8x faster here); the compiled loop is dominated by whole
        # network passes, which XLA does not speed up on CPU.
        jit_compile = method == "cached" and step_program(model).xla_by_default
    return method, bool(jit_compile)


def sampler(model, method="auto", jit_compile=None, choose=None):
    """A new sampling loop of `model` for `method` ("cached", "compiled" or
    "auto"; see `sampler_options`): a `tf.function(levels, known, noise,
    labels, temperature) -> levels` that fills the positions of int32 levels
    (n, H, W, C) where bool `known` is False, given `sampling_noise` of the
    batch, one-hot labels (n, num_classes), or (n, 0) for unconditional
    models, and a float32 temperature; see `compiled_sampler`.

    `model.sampler(method, jit_compile)` builds one per model and options and
    keeps it (what `sample` and `complete` run); call this for a loop of your
    own, e.g. with a `choose` (see `compiled_sampler`).

    Example:

    ```python
    run = tfgen.sampling.sampler(model, "cached")
    shape = (n, *model.image_shape)
    noise = tfgen.sampling.sampling_noise(shape, model.num_levels, seed=0)
    levels = run(tf.zeros(shape, tf.int32), tf.zeros(shape, tf.bool), noise,
                 tf.zeros([n, 0]), tf.constant(1.0))
    ```
    """
    method, jit_compile = sampler_options(model, method, jit_compile)
    build = cached_sampler if method == "cached" else compiled_sampler
    return build(model, jit_compile=jit_compile, choose=choose)


# ------------------------------------------------------- noise and the draw
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


def _draw(levels, known, noise, logits, position, choose, temperature):
    """`(levels, value)`: the value at `position` (t, i, j, c) drawn by
    `choose` from its float32 logits (the given level where `known`), and
    levels (n, H, W, C) with it written in."""
    t, i, j, c = position
    value = choose(logits, t, noise[:, i, j, c], temperature)
    value = tf.where(known[:, i, j, c], levels[:, i, j, c], value)
    n = tf.shape(levels)[0]
    index = tf.stack(
        [tf.range(n), tf.fill([n], i), tf.fill([n], j), tf.fill([n], c)], axis=1
    )
    return tf.tensor_scatter_nd_update(levels, index, value), value


def _default_choose(num_levels):
    def choose(logits, t, noise, temperature):
        return choose_levels(logits, noise, temperature, num_levels)

    return choose


# ----------------------------------------------------------- compiled sampler
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
                drawn, _ = _draw(
                    levels, known, noise, logits, (t, i, j, c), choose, temperature
                )
                return drawn

            levels = tf.cond(tf.reduce_all(keep), lambda: levels, draw)
            return t + 1, levels

        _, levels = tf.while_loop(
            lambda t, _: t < total, body, (tf.constant(0), levels)
        )
        return levels

    return tf.function(
        run, jit_compile=jit_compile, reduce_retracing=True, autograph=False
    )


# ------------------------------------------------------------- cached sampler
def supports_cached_sampling(model):
    """True when the cached sampler can run `model.network` one position
    (or, for vertical stacks, one row) at a time: a network of causal
    convolutions and pointwise layers (`tfgen.step_program.StepProgram`),
    or a model with its own step program (`model.step_program()`; see
    `tfgen.step_program.step_program`)."""
    try:
        step_program(model)
    except NotImplementedError:
        return False
    return True


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
    the cache. The loop drives the model's step program
    (`tfgen.step_program.step_program`): PixelCNN++'s runs its network once
    per pixel, whose features read none of the pixel's colours."""
    height, width, channels = model.image_shape
    num_levels = model.num_levels
    program = step_program(model)
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
            if program.step_layers:
                pos = program.start_row(i, pos)
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
                levels, value = _draw(
                    levels, known, noise, logits, (t, i, j, c), choose, temperature
                )
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
