"""The contract every tfgen model follows."""

import keras

from tfgen.validation import check_image_shape

__all__ = ["GenerativeModel", "output_dtype"]


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


@keras.saving.register_keras_serializable(package="tfgen")
class GenerativeModel(keras.Model):
    """Base class of tfgen's models: an image shape, `sample`, and a config.

    Subclasses build their networks in `__init__`, so a model is usable (and
    its optimizers can be built under a distribution strategy) as soon as it
    is constructed. Images enter `fit` as floats in [0, 1] and leave `sample`
    the same way, whatever range a network uses inside.

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

    def sample(self, n, seed=None, **conditioning):
        """Returns `n` images as a float32 array (n, H, W, C) in [0, 1]."""
        raise NotImplementedError

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
