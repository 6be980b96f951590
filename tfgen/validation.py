"""Input checks shared by every family: say what was expected and what came."""

import numpy as np

__all__ = [
    "check_image_batch",
    "check_image_shape",
    "check_images",
    "check_labels",
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
