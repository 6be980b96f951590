"""The grid of pixel levels: the one place that says which images are valid
input of a model with `num_levels` levels per channel, and how images,
integer levels and uint8 pixels convert into one another.

Images live in [0, 1] at the models' boundary. A model with `num_levels`
levels sees the grid k / (num_levels - 1), k = 0 .. num_levels - 1: 2 levels
are binary images, 256 levels are 8-bit images divided by 255. Off-grid input
is refused, never rounded behind the caller's back: quantization is a
modelling choice. One tolerance, `TOLERANCE` (in units of one level step),
serves every check, in NumPy and in the graph.

On disk (PNG, the codec's files) levels are uint8 pixels round(k 255 / (L - 1)):
0 and 255 for binary models.

```python
x = tfgen.levels.check_levels(images, num_levels=2)      # float32, validated
k = tfgen.levels.levels_of(images, num_levels=256)       # int32 levels (NumPy)
k = tfgen.levels.to_levels(x, 256)                       # the same, a graph op
png = tfgen.levels.pixels_from_levels(k, 256)            # uint8 for PNG
```
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "TOLERANCE",
    "assert_on_grid",
    "check_levels",
    "check_num_levels",
    "from_levels",
    "grid_message",
    "levels_from_pixels",
    "levels_of",
    "pixels_from_levels",
    "to_levels",
    "to_uint8_levels",
]

# Largest distance from the grid accepted, in level steps. float32 images
# k / (L - 1) are within ~1e-5 steps of the grid; a bf16 image is not.
TOLERANCE = 1e-3


def check_num_levels(num_levels):
    """Returns `num_levels` as an int in [2, 256], or raises."""
    if (
        isinstance(num_levels, bool)
        or not isinstance(num_levels, int | np.integer)
        or not 2 <= int(num_levels) <= 256
    ):
        raise ValueError(
            "`num_levels` must be an integer in [2, 256]. "
            f"Received: num_levels={num_levels!r}"
        )
    return int(num_levels)


def grid_message(num_levels, name="x"):
    """What a model with `num_levels` levels expects of `name`."""
    hint = (
        "binarize them: tfgen.data.load(..., binarize='dynamic' or 'threshold')"
        if num_levels == 2
        else f"use tfgen.data.load(..., num_levels={num_levels}) or round"
    )
    return (
        f"`{name}` must lie on the grid k/{num_levels - 1} of a model with "
        f"num_levels={num_levels} ({hint})."
    )


# ----------------------------------------------------------------- NumPy side
def check_levels(images, num_levels, name="x", message=None):
    """Checks float images: finite, in [0, 1] and on the grid k/(L - 1)
    within `TOLERANCE`. Returns them as a float32 NumPy array."""
    num_levels = check_num_levels(num_levels)
    x = np.asarray(images)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(
            f"Expected `{name}` as float images in [0, 1] (divide uint8 by 255). "
            f"Received: dtype={x.dtype}"
        )
    x = x.astype(np.float32)
    if x.size:
        if not np.isfinite(x).all():
            bad = np.unravel_index(int(np.argmax(~np.isfinite(x))), x.shape)
            raise ValueError(
                f"Expected finite `{name}` in [0, 1]. Received "
                f"{name}{[int(i) for i in bad]}={float(x[bad])}"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"Expected `{name}` in [0, 1]. Received values in [{lo}, {hi}]"
            )
        scaled = x * (num_levels - 1)
        off = np.abs(scaled - np.round(scaled))
        if float(off.max()) > TOLERANCE:
            bad = np.unravel_index(int(np.argmax(off)), off.shape)
            raise ValueError(
                f"{message or grid_message(num_levels, name)} Received "
                f"{name}{[int(i) for i in bad]}={float(x[bad])}"
            )
    return x


def levels_of(images, num_levels, name="x", message=None):
    """Float images on the grid -> int32 levels, checked (NumPy)."""
    x = check_levels(images, num_levels, name=name, message=message)
    return np.rint(x * (num_levels - 1)).astype(np.int32)


def pixels_from_levels(levels, num_levels):
    """Levels -> uint8 pixel values round(k 255 / (L - 1))."""
    scaled = np.asarray(levels, np.float64) * 255.0 / (num_levels - 1)
    return np.round(scaled).astype(np.uint8)


def levels_from_pixels(pixels, num_levels):
    """uint8 pixel values (PNG) -> levels of a model with `num_levels`, the
    inverse of `pixels_from_levels`: pixel values must be on its grid,
    round(k 255 / (L - 1)) (0 and 255 for binary models)."""
    num_levels = check_num_levels(num_levels)
    x = np.asarray(pixels)
    if x.dtype != np.uint8:
        raise ValueError(f"Expected uint8 pixel values. Received dtype {x.dtype}")
    levels = np.round(x.astype(np.float64) * (num_levels - 1) / 255.0).astype(np.int32)
    off = pixels_from_levels(levels, num_levels) != x
    if off.any():
        bad = np.unravel_index(int(np.argmax(off)), x.shape)
        grid = (
            "0 and 255"
            if num_levels == 2
            else f"on the grid round(k * 255 / {num_levels - 1})"
        )
        raise ValueError(
            f"Pixel values must be {grid} for a model with num_levels={num_levels}. "
            f"Received pixel {[int(i) for i in bad]} = {int(x[bad])}"
        )
    return levels


def to_uint8_levels(images, name="images"):
    """uint8 images as they are, or float images in [0, 1] rounded to the
    nearest of 256 levels (as when saved to PNG), as float32 0..255."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32")
    if np.issubdtype(images.dtype, np.floating):
        if images.size:
            lo, hi = float(np.min(images)), float(np.max(images))
            if np.isnan(lo) or np.isnan(hi) or lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"Float `{name}` must lie in [0, 1] (uint8 images may be passed as "
                    f"they are). Received values in [{lo}, {hi}]"
                )
        return np.rint(images.astype("float32") * 255.0)
    raise TypeError(
        f"`{name}` must be uint8 in [0, 255] or floats in [0, 1]. "
        f"Received: {name}.dtype={images.dtype}"
    )


# ----------------------------------------------------------------- graph side
def to_levels(images, num_levels):
    """Images in [0, 1] on the level grid -> int32 levels (a graph op)."""
    num_levels = check_num_levels(num_levels)
    scaled = tf.cast(images, tf.float32) * float(num_levels - 1)
    return tf.cast(tf.round(scaled), tf.int32)


def from_levels(levels, num_levels, dtype="float32"):
    """int levels -> images in [0, 1] (a graph op)."""
    num_levels = check_num_levels(num_levels)
    return tf.cast(levels, dtype) / float(num_levels - 1)


def assert_on_grid(images, num_levels, name="images", message=None):
    """Graph-side check that float32 images in [0, 1] lie on the grid within
    `TOLERANCE`; raises when the op runs. Returns the images."""
    num_levels = check_num_levels(num_levels)
    scaled = images * float(num_levels - 1)
    tf.debugging.assert_less_equal(
        tf.abs(scaled - tf.round(scaled)),
        TOLERANCE,
        message=message or grid_message(num_levels, name),
    )
    return images
