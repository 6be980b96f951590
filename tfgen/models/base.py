"""The contract every tfgen model follows."""

import keras
import numpy as np

from tfgen.validation import check_image_shape

__all__ = ["GenerativeModel", "num_upsamplings", "output_dtype"]


def output_dtype():
    """The dtype of the layers that give a likelihood's or a loss's
    parameters: float32 under float32 and mixed policies (no bf16 logits),
    float64 under a float64 policy (the codec's coding copies, whose
    parallel and step-by-step passes must agree to float64 round-off)."""
    return (
        "float64"
        if keras.config.dtype_policy().compute_dtype == "float64"
        else "float32"
    )


def num_upsamplings(size):
    """Stride-2 stages that take a 4..7 pixel seed to `size` (28 -> 2, 32 -> 3)."""
    n = 0
    while size % (2 ** (n + 1)) == 0 and size // (2 ** (n + 1)) >= 4:
        n += 1
    return n


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(
            f"`seed` must be an int or None. Received: seed={seed!r} "
            f"({type(seed).__name__})"
        )
    return int(seed)


@keras.saving.register_keras_serializable(package="tfgen")
class GenerativeModel(keras.Model):
    """Base class of tfgen's models: an image shape, a preview, and a config.

    Subclasses build their networks in `__init__`, so a model is usable (and
    its optimizers can be built under a distribution strategy) as soon as it
    is constructed. Images enter `fit` as floats in [0, 1] and leave the
    model the same way, whatever range a network uses inside.

    A model that draws images defines `sample(n, seed=None, **conditioning)`
    returning float32 (n, H, W, C) in [0, 1]; its `seed` follows one rule in
    every family: an int gives the same images on every call and after
    save/load, None draws fresh ones. A model that only maps images to
    images (CycleGAN) has no `sample`, and overrides `preview`.

    Args:
        image_shape: (height, width, channels) of the images.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Example:

    ```python
    @keras.saving.register_keras_serializable(package="mine")
    class Noise(tfgen.models.GenerativeModel):
        def sample(self, n, seed=None):
            shape = (n, *self.image_shape)
            return np.asarray(keras.random.uniform(shape, seed=seed))
    ```
    """

    def __init__(self, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = check_image_shape(image_shape)

    def noise_seed(self, seed):
        """The seed of a Keras random op for a caller's `seed`: an int as
        given (the same draws on every call and after save/load); for None
        the model's own `SeedGenerator`, which advances (fresh draws, and a
        sequence reproducible from the model's `seed` argument)."""
        if seed is None:
            return self.seed_generator
        if isinstance(seed, keras.random.SeedGenerator):
            return seed
        return _check_seed(seed)

    def int_seed(self, seed):
        """An int seed for stateless ops and `tf.random.Generator`: `seed` as
        given, or for None a fresh one from the model's `SeedGenerator`."""
        if seed is None:
            draw = keras.random.randint((), 0, 2**31 - 1, seed=self.seed_generator)
            return int(keras.ops.convert_to_numpy(draw))
        return _check_seed(seed)

    def preview(self, n, seed=0, **kwargs):
        """`(images, nrow)` for a progress grid: by default `n` samples and
        the grid's default layout. Models that do not sample (translators)
        override it."""
        return self.sample(n, seed=seed, **kwargs), None

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
