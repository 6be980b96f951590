"""Image grids and PNG files."""

import math
import os

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "make_grid",
    "read_images",
    "save_grid",
    "save_images",
    "to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


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


def _read_one(path):
    from PIL import Image

    with Image.open(path) as im:
        mode = "L" if im.mode in ("1", "L", "I;16", "I") else "RGB"
        x = np.asarray(im.convert(mode))
    return x[..., None] if x.ndim == 2 else x


def read_images(path):
    """Reads a PNG/JPEG file or a folder of them (recursively, sorted by
    path) as uint8 (n, H, W, C); returns `(images, relative_paths)`."""
    path = os.path.expanduser(str(path))
    if os.path.isfile(path):
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            raise ValueError(
                f"Expected a PNG/JPEG file ({IMAGE_EXTENSIONS}). Received: {path!r}"
            )
        return _read_one(path)[None], [os.path.basename(path)]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No image file or folder at {path!r}.")
    files = sorted(
        os.path.join(root, f)
        for root, _, names in os.walk(path)
        for f in names
        if f.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not files:
        raise FileNotFoundError(
            f"No PNG/JPEG images in folder {path!r}. Expected files ending in "
            f"{IMAGE_EXTENSIONS}."
        )
    images = [_read_one(f) for f in files]
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(
            f"Images in {path!r} must all have one size; resize them first. "
            f"Received sizes: {sorted(shapes)[:5]}"
        )
    return np.stack(images), [os.path.relpath(f, path) for f in files]


def save_images(images, directory, names):
    """Writes float images in [0, 1] as one PNG each, `directory/<name>`
    (extension replaced by .png); returns the paths."""
    from PIL import Image

    paths = []
    for image, name in zip(to_uint8(images), names):
        path = os.path.join(directory, os.path.splitext(name)[0] + ".png")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
        paths.append(path)
    return paths
