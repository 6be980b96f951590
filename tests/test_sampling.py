import numpy as np
import pytest
from autoregressive_checks import random_levels

from tfgen.models import GatedPixelCNN, PixelCNN

TINY = dict(filters=6, head_filters=12, seed=0)
MODELS = {
    "pixelcnn_binary": lambda: PixelCNN(
        image_shape=(5, 6, 1), num_levels=2, num_blocks=2, **TINY
    ),
    "pixelcnn_rgb256": lambda: PixelCNN(
        image_shape=(4, 4, 3), num_levels=256, num_blocks=2, **TINY
    ),
    "gated_binary": lambda: GatedPixelCNN(
        image_shape=(5, 6, 1), num_levels=2, num_layers=3, **TINY
    ),
    "gated_rgb_conditional": lambda: GatedPixelCNN(
        image_shape=(4, 5, 3), num_levels=4, num_layers=3, num_classes=3, **TINY
    ),
}


@pytest.fixture(scope="module")
def models():
    return {name: build() for name, build in MODELS.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cached_sampler_equals_compiled_sampler(models, name):
    model = models[name]
    assert model.supports_cached_sampling
    compiled = model.sample(5, seed=7, method="compiled")
    cached = model.sample(5, seed=7, method="cached", jit_compile=False)
    np.testing.assert_array_equal(cached, compiled)
    # XLA-compiled (the default for the cached sampler) draws the same.
    np.testing.assert_array_equal(model.sample(5, seed=7), cached)
    assert not np.array_equal(model.sample(5, seed=8), cached)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("method", ["compiled", "cached"])
def test_completion_keeps_known_pixels(models, name, method):
    model = models[name]
    shape = model.image_shape
    images = random_levels(3, shape, model.num_levels, seed=1)
    known = np.zeros(shape[:2], bool)
    known[: shape[0] // 2] = True
    known[-1, 0] = True  # a known pixel after unknown ones
    labels = None if model.num_classes is None else [0, 1, 2]
    out = model.complete(
        images,
        known,
        num_samples=2,
        seed=0,
        method=method,
        labels=labels,
        jit_compile=False,
    )
    assert out.shape == (3, 2, *shape)
    for k in range(2):
        np.testing.assert_array_equal(out[:, k][:, known], images[:, known])
    # Unknown pixels are sampled (on the grid), not copied.
    assert not np.array_equal(out[:, 0][:, ~known], images[:, ~known])
    scaled = out * (model.num_levels - 1)
    np.testing.assert_array_equal(scaled, np.round(scaled))


def test_completion_with_per_colour_mask(models):
    model = models["pixelcnn_rgb256"]
    images = random_levels(2, model.image_shape, 256, seed=2)
    known = np.zeros((2, *model.image_shape), bool)
    known[:, :, :, 0] = True  # red everywhere is known
    out = model.complete(images, known, seed=0, jit_compile=False)[:, 0]
    np.testing.assert_array_equal(out[..., 0], images[..., 0])


def test_conditional_sampling_uses_labels(models):
    model = models["gated_rgb_conditional"]
    a = model.sample(4, seed=3, labels=0)
    b = model.sample(4, seed=3, labels=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(model.sample(4, seed=3, labels=[0] * 4), a)
    with pytest.raises(ValueError, match="labels"):
        model.sample(4, labels=3)
    with pytest.raises(ValueError, match="unconditional"):
        models["gated_binary"].sample(2, labels=1)


def test_temperature(models):
    model = models["pixelcnn_binary"]
    # Near zero temperature each pixel takes its likelier value given the
    # pixels drawn before it (where the model is not undecided).
    for seed in (0, 1):
        cold = model.sample(3, seed=seed, temperature=1e-6, method="compiled")
        logits = np.asarray(model(cold))
        decided = np.abs(logits) > 1e-3
        assert decided.mean() > 0.5
        np.testing.assert_array_equal(cold[decided], (logits > 0)[decided])
    hot = [model.sample(2, seed=s, method="compiled") for s in (0, 1)]
    assert not np.array_equal(hot[0], hot[1])
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            model.sample(1, temperature=bad)


def test_sampling_arguments_are_checked(models):
    model = models["pixelcnn_binary"]
    with pytest.raises(ValueError, match="method"):
        model.sample(1, method="fast")
    with pytest.raises(ValueError, match="n"):
        model.sample(0)
    images = random_levels(1, model.image_shape, 2)
    with pytest.raises(ValueError, match="known_mask"):
        model.complete(images, np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="bool"):
        model.complete(images, np.ones(model.image_shape[:2]))
    with pytest.raises(ValueError, match="grid"):
        model.complete(images * 0.5 + 0.25, np.ones(model.image_shape[:2], bool))


def test_batches_are_sampled_independently(models):
    model = models["pixelcnn_binary"]
    whole = model.sample(6, seed=5, batch_size=6, method="compiled")
    assert whole.shape == (6, *model.image_shape)
    split = model.sample(6, seed=5, batch_size=4, method="compiled")
    assert split.shape == whole.shape
    np.testing.assert_array_equal(np.unique(split), [0.0, 1.0])
