"""Image grids and PNG files."""

import math
import os

import numpy as np

__all__ = ["make_grid", "save_grid", "to_uint8"]


def to_uint8(images):
    """Float images in [0, 1] to uint8, rounding to the nearest level."""
    images = np.asarray(images, dtype="float32")
    return np.clip(np.rint(images * 255.0), 0, 255).astype("uint8")


def make_grid(images, nrow=None, padding=2, pad_value=1.0):
    """Tiles (n, H, W, C) images in [0, 1] into one (H', W', C) uint8 image.

    Args:
        images: float array of shape (n, H, W, C) with values in [0, 1].
        nrow: images per row; defaults to ceil(sqrt(n)).
        padding: pixels between tiles.
        pad_value: value in [0, 1] of the padding.
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4:
        raise ValueError(
            f"`images` must have shape (n, H, W, C). Received: shape={images.shape}"
        )
    n, h, w, c = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = nrow
    nrows = max(1, math.ceil(n / ncol))
    grid = np.full(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c),
        pad_value,
        dtype="float32",
    )
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y : y + h, x : x + w] = images[i]
    return to_uint8(grid)


def save_grid(images, path, nrow=None, padding=2, scale=1):
    """Writes images in [0, 1] as one PNG grid; returns the path."""
    from PIL import Image

    grid = make_grid(images, nrow=nrow, padding=padding)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    image = Image.fromarray(grid)
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    image.save(path)
    return path
