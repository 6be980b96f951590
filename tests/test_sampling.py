import numpy as np
import pytest
from autoregressive_checks import random_levels

from tfgen.models import PixelCNN

TINY = dict(filters=6, num_blocks=2, head_filters=12, seed=0)


def _models():
    return {
        "pixelcnn_binary": PixelCNN(image_shape=(5, 6, 1), num_levels=2, **TINY),
        "pixelcnn_rgb256": PixelCNN(image_shape=(4, 4, 3), num_levels=256, **TINY),
    }


@pytest.fixture(scope="module")
def models():
    return _models()


@pytest.mark.parametrize("name", ["pixelcnn_binary", "pixelcnn_rgb256"])
def test_cached_sampler_equals_compiled_sampler(models, name):
    model = models[name]
    assert model.supports_cached_sampling
    compiled = model.sample(5, seed=7, method="compiled")
    cached = model.sample(5, seed=7, method="cached")
    np.testing.assert_array_equal(cached, compiled)
    # Same seed, same samples; another seed, other samples.
    np.testing.assert_array_equal(model.sample(5, seed=7), cached)
    assert not np.array_equal(model.sample(5, seed=8), cached)


@pytest.mark.parametrize("name", ["pixelcnn_binary", "pixelcnn_rgb256"])
@pytest.mark.parametrize("method", ["compiled", "cached"])
def test_completion_keeps_known_pixels(models, name, method):
    model = models[name]
    shape = model.image_shape
    images = random_levels(3, shape, model.num_levels, seed=1)
    known = np.zeros(shape[:2], bool)
    known[: shape[0] // 2] = True
    known[-1, 0] = True  # a known pixel after unknown ones
    out = model.complete(images, known, num_samples=2, seed=0, method=method)
    assert out.shape == (3, 2, *shape)
    for k in range(2):
        np.testing.assert_array_equal(out[:, k][:, known], images[:, known])
    # Unknown pixels are sampled (on the grid), not copied.
    assert not np.array_equal(out[:, 0][:, ~known], images[:, ~known])
    scaled = out * (model.num_levels - 1)
    np.testing.assert_array_equal(scaled, np.round(scaled))
