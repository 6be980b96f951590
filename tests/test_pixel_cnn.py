import numpy as np
import pytest
from autoregressive_checks import (
    assert_causal,
    assert_normalized,
    assert_two_replica_step_equals_one,
    random_levels,
)

from tfgen.models import PixelCNN

TINY = dict(filters=6, num_blocks=2, head_filters=12, seed=0)


@pytest.mark.parametrize(
    "shape,levels", [((4, 4, 1), 2), ((4, 4, 3), 256), ((3, 4, 3), 2)]
)
def test_pixel_cnn_is_causal(shape, levels):
    assert_causal(PixelCNN(image_shape=shape, num_levels=levels, **TINY))


@pytest.mark.parametrize(
    "shape,levels", [((2, 2, 1), 2), ((2, 2, 1), 3), ((1, 2, 3), 2)]
)
def test_pixel_cnn_probabilities_sum_to_one(shape, levels):
    assert_normalized(PixelCNN(image_shape=shape, num_levels=levels, **TINY))


def test_untrained_256_way_pixel_cnn_gives_about_8_bits_per_dim():
    model = PixelCNN(image_shape=(8, 8, 3), num_levels=256, **TINY)
    bpd = model.bits_per_dim(random_levels(4, (8, 8, 3), 256))
    assert np.all(np.abs(bpd - 8.0) < 0.1), bpd


def test_two_replica_step_equals_one_replica_step():
    data = random_levels(8, (6, 6, 1), 2)
    assert_two_replica_step_equals_one(
        lambda: PixelCNN(image_shape=(6, 6, 1), num_levels=2, **TINY), data, 8
    )
