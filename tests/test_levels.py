"""tfgen.levels: the one definition of the pixel-level grid."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen import levels


@pytest.mark.parametrize("num_levels", [2, 4, 256])
def test_levels_round_trip_through_images_and_pixels(num_levels):
    k = np.arange(num_levels, dtype=np.int32)
    x = levels.from_levels(k, num_levels).numpy()
    np.testing.assert_array_equal(levels.to_levels(x, num_levels).numpy(), k)
    np.testing.assert_array_equal(levels.levels_of(x, num_levels), k)
    pixels = levels.pixels_from_levels(k, num_levels)
    assert pixels[0] == 0 and pixels[-1] == 255
    np.testing.assert_array_equal(levels.levels_from_pixels(pixels, num_levels), k)


def test_one_tolerance_in_numpy_and_in_the_graph():
    step = 1.0 / 255.0
    near = np.float32([[3 * step + 0.5 * levels.TOLERANCE * step]])
    far = np.float32([[3 * step + 2.0 * levels.TOLERANCE * step]])
    levels.check_levels(near, 256)
    levels.assert_on_grid(tf.constant(near), 256)
    with pytest.raises(ValueError, match="grid k/255 .*Received x\\[0, 0\\]"):
        levels.check_levels(far, 256)
    with pytest.raises(tf.errors.InvalidArgumentError, match="grid k/255"):
        levels.assert_on_grid(tf.constant(far), 256)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.float32([0.0, np.nan]), "finite"),
        (np.float32([0.0, 2.0]), r"in \[0, 1\]"),
        (np.float32([-1.0, 0.0]), r"in \[0, 1\]"),
        (np.float32([0.0, 0.5]), "binarize them"),
        (np.array(["a"]), "float images"),
    ],
)
def test_bad_images_are_refused_with_what_was_received(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        levels.check_levels(bad, 2)


def test_pixels_off_the_grid_and_uint8_conversion():
    with pytest.raises(ValueError, match="0 and 255.*Received pixel \\[1\\] = 128"):
        levels.levels_from_pixels(np.uint8([0, 128]), 2)
    with pytest.raises(ValueError, match="Expected uint8"):
        levels.levels_from_pixels(np.int32([0, 255]), 2)
    np.testing.assert_array_equal(
        levels.to_uint8_levels(np.float32([0.0, 0.5, 1.0])), [0.0, 128.0, 255.0]
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        levels.to_uint8_levels(np.float32([1.5]))
    with pytest.raises(ValueError, match="num_levels"):
        levels.check_num_levels(257)
