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


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bit_depth(head):
    """The bit depth in a PNG's IHDR (the first 26 bytes), else None."""
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and len(head) > 24:
        return head[24]
    return None


def _exact_8_bit(path, contents):
    """A 16-bit PNG as 8-bit pixels, when that is exact: every sample is
    k * 257, as a tool that widened 8-bit data writes (k * 65535 / 255)."""
    import tensorflow as tf

    wide = tf.io.decode_png(contents, dtype=tf.uint16).numpy()
    off = wide % 257 != 0
    if off.any():
        bad = tuple(int(i) for i in np.argwhere(off)[0])
        raise ValueError(
            f"{path} is a 16-bit PNG whose samples are not 8-bit values "
            f"(k * 257). Expected 8-bit images (tfgen models see 256 levels); "
            "rounding would lose data silently, so convert it yourself, e.g. "
            "np.rint(x / 257).astype(np.uint8) of its 16-bit samples, and save "
            f"an 8-bit PNG. Received sample [row, column, channel] {list(bad)} = "
            f"{int(wide[bad])}"
        )
    return (wide // 257).astype(np.uint8)


def _read_one(path):
    import io

    from PIL import Image

    with open(path, "rb") as f:
        contents = f.read()
    if _png_bit_depth(contents[:26]) == 16:
        # Pillow clips 16-bit gray to 255 and keeps only the high byte of
        # 16-bit color; decode every sample and keep the image only if exact.
        narrow = _exact_8_bit(path, contents)
        image = Image.fromarray(narrow[..., 0] if narrow.shape[-1] == 1 else narrow)
    else:
        image = Image.open(io.BytesIO(contents))
    with image as im:
        mode = "L" if im.mode in ("1", "L") else "RGB"
        x = np.asarray(im.convert(mode))
    return x[..., None] if x.ndim == 2 else x


def read_images(path):
    """Reads a PNG/JPEG file or a folder of them (recursively, sorted by
    path) as uint8 (n, H, W, C); returns `(images, relative_paths)`.

    Grayscale images (1-bit too) give C = 1, others C = 3 (alpha dropped).
    16-bit PNGs are read exactly or not at all: one whose samples are all
    k * 257 (8-bit data stored in 16 bits) becomes k; any other raises a
    ValueError naming the file and a sample, since rounding to 8 bits would
    lose data behind the caller's back (and break lossless `compress`).
    """
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
