"""Input checks shared by every family: say what was expected and what came."""

import numpy as np

__all__ = [
    "check_image_batch",
    "check_image_shape",
    "check_images",
    "check_labels",
    "check_pixel_data",
    "check_positive_int",
]


def check_image_shape(image_shape):
    """Returns `image_shape` as a tuple of three positive ints, or raises."""
    try:
        shape = tuple(int(d) for d in image_shape)
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "`image_shape` must be (height, width, channels) with positive "
            f"integers. Received: image_shape={image_shape!r}"
        )
    return shape


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_images(x, image_shape, name="x", value_range=(0.0, 1.0)):
    """Checks a batch of float images in `value_range`; returns float32 numpy.

    Integer arrays are refused rather than silently rescaled, since the caller
    may mean levels or bytes.
    """
    x = np.asarray(x)
    expected = (None,) + tuple(image_shape)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"`{name}` must be a batch of images of shape {expected}. "
            f"Received: {name}.shape={tuple(x.shape)}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"`{name}` must be a float array in [{value_range[0]}, {value_range[1]}] "
            f"(divide uint8 images by 255). Received: {name}.dtype={x.dtype}"
        )
    if x.size:
        lo, hi = float(np.min(x)), float(np.max(x))
        if np.isnan(lo) or lo < value_range[0] or hi > value_range[1]:
            raise ValueError(
                f"`{name}` values must lie in [{value_range[0]}, {value_range[1]}]. "
                f"Received values in [{lo}, {hi}]"
            )
    return x.astype("float32", copy=False)


def check_labels(labels, n, num_classes, name="labels"):
    """Returns int32 labels of length `n` in [0, num_classes), or raises."""
    if num_classes is None:
        if labels is not None:
            raise ValueError(
                f"This model is unconditional and takes no `{name}`. "
                f"Received: {name}={labels!r}"
            )
        return None
    if labels is None:
        return (np.arange(n) % num_classes).astype("int32")
    labels = np.asarray(labels)
    if labels.ndim == 0:
        labels = np.full((n,), labels)
    if (
        labels.ndim != 1
        or labels.shape[0] != n
        or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise ValueError(
            f"`{name}` must be an int or {n} integer class ids. "
            f"Received: {name} with shape {labels.shape} and dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`{name}` must lie in [0, {num_classes}). "
            f"Received values in [{labels.min()}, {labels.max()}]"
        )
    return labels.astype("int32")


def check_image_batch(
    images, image_shape, name="images", num_levels=None, grid_message=None
):
    """Graph-side check of a training batch: float images of `image_shape` in
    [0, 1] and, with `num_levels`, on the grid k / (num_levels - 1) (`tfgen.levels`). Returns them as float32; a bad batch raises (shape and dtype
    while tracing, values when the step runs)."""
    import tensorflow as tf

    if tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"Expected `{name}` batches of shape (batch, "
            f"{', '.join(map(str, image_shape))}). Received: shape={tuple(images.shape)}"
        )
    if not images.dtype.is_floating:
        raise TypeError(
            f"Expected `{name}` as float images in [0, 1] (divide uint8 by 255, or "
            f"use tfgen.data.load). Received: dtype={images.dtype.name}"
        )
    images = tf.cast(images, "float32")
    # NaN fails every comparison: check it first, so its message names it.
    tf.debugging.assert_all_finite(
        images, message=f"Expected finite {name} in [0, 1]; received NaN or inf."
    )
    tf.debugging.assert_greater_equal(
        images, 0.0, message=f"Expected {name} in [0, 1]; received values below 0."
    )
    tf.debugging.assert_less_equal(
        images, 1.0, message=f"Expected {name} in [0, 1]; received values above 1."
    )
    if num_levels is not None:
        from tfgen.levels import assert_on_grid

        images = assert_on_grid(images, num_levels, name=name, message=grid_message)
    return images


def _describe_pixels(image_shape, num_levels):
    if image_shape is None:
        shape = "(n, H, W) or (n, H, W, 1|3)"
    else:
        h, w, c = image_shape
        shape = (
            f"(n, {h}, {w}, {c})" if c != 1 else f"(n, {h}, {w}) or (n, {h}, {w}, 1)"
        )
    return (
        f"images of shape {shape} holding integer pixel levels 0..{num_levels - 1} "
        f"(uint8), bool, or floats in [0, 1] on the grid k/{num_levels - 1}"
    )


def check_pixel_data(
    x, y=None, *, source, image_shape=None, num_levels=256, num_classes=None
):
    """Checks images (and labels) read from a data file; returns them as
    uint8 pixel levels (n, H, W, C) and int64 labels (n,) (None without).

    Nothing is cast behind the caller's back: integer images must hold levels
    0..num_levels-1, bool images are 0 and the top level, float images must
    be finite, in [0, 1] and on the grid k/(num_levels - 1) (within
    `tfgen.levels.TOLERANCE`), which converts to levels exactly. Labels must
    be integers in [0, num_classes) (>= 0 when `num_classes` is None), one
    per image.

    Args:
        x: the images, (n, H, W) or (n, H, W, C).
        y: the labels or None.
        source: where they came from (a file and its keys), for messages.
        image_shape: the (H, W, C) they must have; None accepts any H and W
            with 1 or 3 channels.
        num_levels: pixel levels per channel: 256 for 8-bit data, 2 for
            binary data.
        num_classes: the number of classes labels index, or None.
    """
    expected = _describe_pixels(image_shape, num_levels)
    x = np.asarray(x)
    kind = x.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{source}: expected {expected}. Received: dtype={x.dtype}")
    received = x.shape
    if x.ndim == 3:
        x = x[..., None]
    shape_ok = x.ndim == 4 and x.shape[-1] in (1, 3)
    if image_shape is not None:
        shape_ok = shape_ok and tuple(x.shape[1:]) == tuple(image_shape)
    if not shape_ok:
        raise ValueError(f"{source}: expected {expected}. Received: shape={received}")
    top = num_levels - 1
    if kind == "b":
        x = x.astype(np.uint8) * np.uint8(top)
    elif kind == "f":
        from tfgen.levels import levels_of

        # Off-grid floats are refused, not rounded: quantizing is the
        # caller's choice (tfgen.levels).
        rounding = (
            "Off-grid floats are not rounded for you; quantize them yourself, "
            f"e.g. np.rint(x * {top}).astype(np.uint8)."
        )
        try:
            x = levels_of(x, num_levels, name="x", message=rounding)
        except ValueError as e:
            raise ValueError(f"{source}: expected {expected}. {e}") from None
        x = x.astype(np.uint8)
    elif x.dtype != np.uint8 or top < 255:
        lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
        if lo < 0 or hi > top:
            raise ValueError(
                f"{source}: expected {expected}. Received: {x.dtype} values in "
                f"[{lo}, {hi}]"
            )
        x = x.astype(np.uint8, copy=False)
    if y is None:
        return x, None
    return x, _check_data_labels(y, len(x), source, num_classes)


def _check_data_labels(y, n, source, num_classes):
    y = np.asarray(y)
    span = "non-negative" if num_classes is None else f"in [0, {num_classes})"
    expected = (
        f"one integer class id {span} per image: shape ({n},) or ({n}, 1) "
        f"for the {n} images"
    )
    if y.dtype.kind not in "iu":
        raise TypeError(f"{source}: expected {expected}. Received: dtype={y.dtype}")
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(f"{source}: expected {expected}. Received: shape={y.shape}")
    y = y.reshape(-1)
    if n:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or (num_classes is not None and hi >= num_classes):
            raise ValueError(
                f"{source}: expected {expected}. Received labels in [{lo}, {hi}]"
            )
    return y.astype(np.int64)
