"""PixelCNN++'s cached sampler (Ramachandran et al. 2017's caches for the
down- and up-sampled stages, `tfgen.models.pixel_cnn_pp_steps`): with the
same noise it draws, pixel for pixel, what the compiled loop (the whole
network rerun per step) draws; completion too; and the logits it sees are
the network's."""

import keras
import numpy as np
import pytest
from autoregressive_checks import (
    assert_cached_sampler_sees_the_network,
    random_levels,
)

from tfgen import sampling
from tfgen.models import PixelCNNPlusPlus

TINY = dict(filters=4, num_blocks=1, num_mixtures=2, dropout=0.1, seed=0)
MODELS = {
    # Three resolutions (8, 4, 2) and their strided / transposed layers.
    "rgb256": dict(image_shape=(8, 8, 3), num_levels=256, num_downsamplings=2),
    # Class-conditional, grayscale, a few levels; two resolutions, and the
    # down pass's extra block at the top one.
    "gray5_conditional": dict(
        image_shape=(8, 8, 1), num_levels=5, num_downsamplings=1, num_classes=3
    ),
}


@pytest.fixture(scope="module")
def models():
    # Seeded weights; the dropout layers (rate 0.1) must be off when sampling.
    keras.utils.set_random_seed(0)
    return {name: PixelCNNPlusPlus(**TINY, **c) for name, c in MODELS.items()}


def test_auto_sampling_uses_the_cached_sampler(models):
    for model in models.values():
        assert model.supports_cached_sampling
        assert sampling.supports_cached_sampling(model)
        # As a TF graph: XLA is slower on the recipe's network.
        assert sampling.sampler_options(model, "auto") == ("cached", False)
        assert sampling.sampler_options(model, "cached", True) == ("cached", True)


def labels_of(model, n):
    return [2, 0, 1, 1, 0][:n] if model.num_classes else None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cached_sampler_equals_compiled_sampler(models, name):
    model = models[name]
    labels = labels_of(model, 4)
    compiled = model.sample(4, seed=7, labels=labels, method="compiled")
    cached = model.sample(4, seed=7, labels=labels, method="cached", jit_compile=False)
    np.testing.assert_array_equal(cached, compiled)
    # Not a constant image: the draws follow the noise.
    assert len(np.unique(cached)) > 2


# The RGB model's completion reruns its compiled loop (~2 s of CPU).
@pytest.mark.parametrize(
    "name", ["gray5_conditional", pytest.param("rgb256", marks=pytest.mark.slow)]
)
def test_cached_completion_equals_compiled_completion(models, name):
    # The same loops (batches of 4, traced by the test above) with known
    # pixels kept.
    model = models[name]
    images = random_levels(2, model.image_shape, model.num_levels, seed=4)
    known = sampling.completion_mask(model.image_shape, "bottom_half")
    kwargs = dict(num_samples=2, seed=1, labels=labels_of(model, 2))
    filled = model.complete(images, known, method="cached", jit_compile=False, **kwargs)
    np.testing.assert_array_equal(
        filled, model.complete(images, known, method="compiled", **kwargs)
    )
    np.testing.assert_array_equal(filled[:, :, :4], np.stack([images[:, :4]] * 2, 1))
    assert not np.array_equal(filled[:, 0, 4:], images[:, 4:])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_xla_cached_sampler_draws_the_same(models, name):
    """The cached loop compiled by XLA (not the default for PixelCNN++);
    each compilation takes ~30 s here."""
    model = models[name]
    labels = labels_of(model, 3)
    np.testing.assert_array_equal(
        model.sample(3, seed=5, labels=labels, jit_compile=True),
        model.sample(3, seed=5, labels=labels, method="compiled"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cached_sampler_computes_the_networks_logits(models, name):
    assert_cached_sampler_sees_the_network(models[name], n=2)
