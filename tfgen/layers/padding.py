"""Reflection padding, as image-to-image generators use at their borders."""

import keras
from keras import ops

__all__ = ["ReflectionPadding2D"]


@keras.saving.register_keras_serializable(package="tfgen")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by mirroring the image at its border.

    Zero padding darkens the borders of generated images; reflection keeps
    the statistics of the edge pixels (CycleGAN's ResNet generator pads this
    way before every 3x3 and 7x7 convolution).

    Args:
        padding: int, or (pad_height, pad_width); each must be smaller than
            the corresponding side of the input.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    ```python
    x = keras.Input((32, 32, 3))
    h = tfgen.layers.ReflectionPadding2D(3)(x)          # (38, 38, 3)
    h = keras.layers.Conv2D(32, 7, padding="valid")(h)  # back to 32x32
    ```

    References:
        Zhu et al., Unpaired Image-to-Image Translation using Cycle-Consistent
        Adversarial Networks, arXiv 1703.10593.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
        if len(pad) != 2 or min(pad) < 0:
            raise ValueError(
                "`padding` must be a non-negative int or (pad_height, pad_width). "
                f"Received: padding={padding!r}"
            )
        self.padding = tuple(int(p) for p in pad)

    def call(self, inputs):
        ph, pw = self.padding
        return ops.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        ph, pw = self.padding
        return (
            n,
            None if h is None else h + 2 * ph,
            None if w is None else w + 2 * pw,
            c,
        )

    def get_config(self):
        config = super().get_config()
        config.update(padding=list(self.padding))
        return config
