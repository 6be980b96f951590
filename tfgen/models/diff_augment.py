"""DiffAugment: differentiable augmentations of every image a discriminator
sees, real and generated alike (Zhao et al. 2020, arXiv 2006.10738).

A policy names the augmentations, applied in the order given, each with its
own random parameters per image (the official TensorFlow implementation's
definitions, on images in [-1, 1]):

    color        brightness x + (u - 0.5); saturation (x - mean_c) * 2u + mean_c
                 (mean over channels); contrast (x - mean) * (u + 0.5) + mean
                 (mean over the image)
    translation  a shift by up to 1/8 of the side in each direction, filled
                 with zeros
    cutout       a zero square of half the side at a random centre (clipped
                 at the border)

Every operation is differentiable in the images (shifts and masks are
products with 0/1 matrices), so the generator learns through them. The
parameters of a batch come from one draw of U(0, 1) noise of shape (n, 7)
taken with `train_core.replica_uniform`, so R replicas augment exactly as
one replica does on the same global batch, and an int seed gives the same
augmentation on every call.

Example:

```python
x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
seen = diff_augment(x, "color,translation,cutout", seed=0)
```
"""

import tensorflow as tf
from keras import ops

from tfgen.models.train_core import replica_uniform

__all__ = ["AUGMENTATIONS", "check_policy", "diff_augment"]

AUGMENTATIONS = ("color", "translation", "cutout")
# Columns of the (n, 7) noise: each augmentation reads its own, so leaving
# one out does not change the others' draws.
_COLOR, _SHIFT, _CUT = slice(0, 3), slice(3, 5), slice(5, 7)
_TRANSLATION_RATIO = 0.125
_CUTOUT_RATIO = 0.5


def check_policy(policy):
    """The policy as a tuple of augmentation names (empty for none).

    Accepts None, a comma-separated string ("color,translation,cutout") or a
    sequence of names.
    """
    if policy is None:
        return ()
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(str(name).strip() for name in names if str(name).strip())
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"A DiffAugment policy names each of {AUGMENTATIONS} at most once, "
            f"e.g. 'color,translation,cutout'. Received: {policy!r}"
        )
    return names


def _per_image(u):
    return ops.reshape(u, (-1, 1, 1, 1))


def _color(x, u):
    u = ops.cast(u, x.dtype)
    x = x + _per_image(u[:, 0] - 0.5)
    mean = ops.mean(x, axis=3, keepdims=True)
    x = (x - mean) * _per_image(u[:, 1] * 2.0) + mean
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * _per_image(u[:, 2] + 0.5) + mean


def _integers(u, count):
    """U(0, 1) noise as integers uniform in 0 .. count - 1."""
    return ops.minimum(ops.cast(ops.floor(u * count), "int32"), count - 1)


def _shift_matrices(u, size):
    """(n, size, size) 0/1 matrices M with (M @ v)[i] = v[i + t], t uniform
    in -s .. s for s = round(size / 8), and 0 where i + t leaves the image."""
    s = int(size * _TRANSLATION_RATIO + 0.5)
    shift = _integers(u, 2 * s + 1) - s
    rows = ops.arange(size, dtype="int32")
    source = rows[None, :] + shift[:, None]  # (n, size): the row each row reads
    return ops.cast(ops.equal(source[:, :, None], rows[None, None, :]), "float32")


def _translation(x, u):
    height, width = x.shape[1], x.shape[2]
    along_h = ops.cast(_shift_matrices(u[:, 0], height), x.dtype)
    along_w = ops.cast(_shift_matrices(u[:, 1], width), x.dtype)
    x = tf.einsum("bij,bjwc->biwc", along_h, x)
    return tf.einsum("bkw,bhwc->bhkc", along_w, x)


def _inside_cut(u, size):
    """(n, size) booleans: the rows (or columns) a cutout square covers."""
    s = int(size * _CUTOUT_RATIO + 0.5)
    centre = _integers(u, size + (1 - s % 2))
    start = centre - s // 2
    rows = ops.arange(size, dtype="int32")[None, :]
    return ops.logical_and(rows >= start[:, None], rows < start[:, None] + s)


def _cutout(x, u):
    height, width = x.shape[1], x.shape[2]
    rows = _inside_cut(u[:, 0], height)
    cols = _inside_cut(u[:, 1], width)
    cut = ops.logical_and(rows[:, :, None], cols[:, None, :])
    return x * ops.cast(ops.logical_not(cut), x.dtype)[:, :, :, None]


_APPLY = {
    "color": (_color, _COLOR),
    "translation": (_translation, _SHIFT),
    "cutout": (_cutout, _CUT),
}


def diff_augment(images, policy, seed):
    """`images` (n, H, W, C) in [-1, 1] augmented by `policy`.

    Args:
        images: a float tensor (n, H, W, C) with static H and W.
        policy: see `check_policy`; an empty policy returns `images` as given.
        seed: an int (the same augmentation on every call) or a
            `keras.random.SeedGenerator` (fresh parameters on every call).

    Returns:
        The augmented images, same shape and dtype, differentiable in `images`.
    """
    names = check_policy(policy)
    if not names:
        return images
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4 or images.shape[1] is None or images.shape[2] is None:
        raise ValueError(
            "DiffAugment takes images (n, H, W, C) with known H and W. "
            f"Received: images.shape={images.shape}"
        )
    noise = replica_uniform([ops.shape(images)[0], 7], seed)
    for name in names:
        apply, columns = _APPLY[name]
        images = apply(images, noise[:, columns])
    return images
