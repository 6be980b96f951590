import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from autoregressive_checks import (
    assert_causal,
    assert_colours_read_their_pixel,
    assert_defaults_build_and_train,
    assert_normalized,
    assert_zoo_metrics,
    random_levels,
)

import tfgen
from tfgen import training, zoo
from tfgen.layers import GatedActivation, MaskedConv2D, causal_mask
from tfgen.layers.masked_conv import colour_blocks
from tfgen.models import AutoregressiveModel, PixelCNN

TINY = {
    "PixelCNN": dict(filters=6, num_blocks=2, head_filters=12, seed=0),
    "GatedPixelCNN": dict(filters=12, num_layers=3, head_filters=24, seed=0),
}


def build(name, shape, levels, **kwargs):
    # Seeded weights: with tiny random heads, an all-off ReLU can cut an
    # allowed dependence for some initializations (about 1 in 5 for the
    # conditional Gated PixelCNN case), which the "depends on some earlier
    # input" check would then report.
    keras.utils.set_random_seed(0)
    cls = tfgen.models.get(name)
    return cls(image_shape=shape, num_levels=levels, **{**TINY[name], **kwargs})


CAUSAL_CASES = [
    ("PixelCNN", (4, 4, 1), 2, {}),
    ("PixelCNN", (4, 4, 3), 256, {}),
    ("PixelCNN", (3, 4, 3), 2, {}),
    ("GatedPixelCNN", (4, 4, 1), 2, {}),
    ("GatedPixelCNN", (4, 4, 3), 256, {}),
    ("GatedPixelCNN", (4, 3, 3), 4, dict(num_classes=3)),
]


@pytest.mark.parametrize("name,shape,levels,kwargs", CAUSAL_CASES)
def test_outputs_depend_only_on_earlier_inputs(name, shape, levels, kwargs):
    model = build(name, shape, levels, **kwargs)
    jac = assert_causal(model, labels=1 if kwargs else None)
    if name == "GatedPixelCNN" and shape[:2] == (4, 4):
        # No blind spot: the last pixel sees every earlier pixel.
        c = shape[-1]
        last = jac[-c].reshape(shape)
        assert np.all(last.reshape(-1, c).sum(-1)[:15] > 0)


@pytest.mark.parametrize(
    "name,filters,head_filters",
    [
        ("PixelCNN", 12, 24),
        ("GatedPixelCNN", 12, 24),
        # Uneven colour blocks: 4 -> 2, 1, 1 (stream 8 -> 3, 3, 2), and
        # 5 -> 2, 2, 1 (gate pre-activations 10 -> 4, 4, 2).
        ("PixelCNN", 4, 24),
        ("GatedPixelCNN", 5, 7),
    ],
)
def test_each_colour_reads_the_earlier_colours_of_its_pixel(
    name, filters, head_filters
):
    # Exact causality, and R -> G -> B inside every pixel. (Wide enough, or
    # enough inputs, that no all-off ReLU of a tiny random head hides a path.)
    model = build(name, (4, 4, 3), 256, filters=filters, head_filters=head_filters)
    assert_colours_read_their_pixel(assert_causal(model, num_inputs=8))


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", sorted(TINY))
def test_default_sizes_build_and_train_for_any_channels(name, channels):
    # filters=64 does not divide into 3 colour groups: uneven blocks.
    assert_defaults_build_and_train(tfgen.models.get(name), channels)


@pytest.mark.parametrize(
    "name,shape,levels,kwargs",
    [
        ("PixelCNN", (2, 2, 1), 2, {}),
        ("PixelCNN", (2, 2, 1), 3, {}),
        ("PixelCNN", (1, 2, 3), 2, {}),
        ("GatedPixelCNN", (2, 2, 1), 2, {}),
        ("GatedPixelCNN", (2, 2, 1), 2, dict(num_classes=3)),
    ],
)
def test_probabilities_of_all_images_sum_to_one(name, shape, levels, kwargs):
    assert_normalized(
        build(name, shape, levels, **kwargs), labels=2 if kwargs else None
    )


@pytest.mark.parametrize("name", sorted(TINY))
def test_untrained_256_way_model_gives_about_8_bits_per_dim(name):
    model = build(name, (8, 8, 3), 256)
    x = random_levels(4, (8, 8, 3), 256)
    bpd = model.bits_per_dim(x)
    assert bpd.shape == (4,)
    assert np.all(np.abs(bpd - 8.0) < 0.1), bpd
    np.testing.assert_allclose(
        model.log_prob(x), -bpd * 8 * 8 * 3 * np.log(2.0), rtol=1e-5
    )
    dist = model.distribution(x)
    np.testing.assert_allclose(
        dist.log_prob(tfgen.levels.to_levels(x, 256)),
        model.log_prob(x),
        rtol=1e-5,
    )
    assert dist.event_shape == (8, 8, 3)


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_and_zoo_round_trips(name, tmp_path):
    kwargs = dict(num_classes=3) if name == "GatedPixelCNN" else {}
    model = build(name, (5, 5, 3), 4, **kwargs)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    directory = str(tmp_path / "saved")
    zoo.save(model, directory)
    loaded = zoo.load(directory)
    x = random_levels(3, (5, 5, 3), 4)
    labels = [0, 1, 2] if kwargs else None
    np.testing.assert_allclose(
        loaded.log_prob(x, labels=labels), model.log_prob(x, labels=labels), rtol=1e-6
    )
    with open(os.path.join(directory, "config.json")) as f:
        assert json.load(f)["model"] == name


@pytest.mark.parametrize(
    "name,precision", [("PixelCNN", "float32"), ("GatedPixelCNN", "mixed_bfloat16")]
)
def test_fit_step_then_sample(name, precision):
    kwargs = dict(num_classes=10) if name == "GatedPixelCNN" else {}
    x = random_levels(16, (8, 8, 1), 2)
    data = (x, np.arange(16) % 10) if kwargs else x
    model, history = training.train(
        lambda: build(name, (8, 8, 1), 2, **kwargs),
        tf.data.Dataset.from_tensor_slices(data).batch(8),
        1,
        precision=precision,
        seed=0,
        verbose=0,
    )
    assert int(model.optimizer.iterations.numpy()) == 2
    nll = history.history["nll"][-1]
    assert np.isfinite(nll) and nll > 0
    np.testing.assert_allclose(
        history.history["bits_per_dim"][-1], nll / (64 * np.log(2.0)), rtol=1e-3
    )
    if precision == "mixed_bfloat16":
        assert model.network.layers[1].compute_dtype == "bfloat16"
        assert (
            model(x[:2] if not kwargs else (x[:2], np.array([0, 1]))).dtype == "float32"
        )
    samples = model.sample(
        3, seed=0, jit_compile=False, **({"labels": 4} if kwargs else {})
    )
    assert samples.shape == (3, 8, 8, 1) and samples.dtype == np.float32
    np.testing.assert_array_equal(np.unique(samples), [0.0, 1.0])
    metrics = model.evaluate(
        tf.data.Dataset.from_tensor_slices(data).batch(8), verbose=0, return_dict=True
    )
    assert set(metrics) == {"nll", "bits_per_dim"}


@pytest.mark.parametrize("name", sorted(TINY))
def test_cached_sampler_equals_compiled_sampler_with_uneven_colour_blocks(name):
    # The cached sampler reads a pixel's features after its last colour's
    # pass; that holds for uneven blocks too (5 -> 2, 2, 1).
    model = build(name, (3, 4, 3), 4, filters=5, head_filters=7)
    assert model.supports_cached_sampling
    np.testing.assert_array_equal(
        model.sample(4, seed=3, method="cached", jit_compile=False),
        model.sample(4, seed=3, method="compiled"),
    )


def test_bad_inputs_get_clear_errors():
    model = build("PixelCNN", (4, 4, 1), 4)
    good = random_levels(2, (4, 4, 1), 4)
    with pytest.raises(ValueError, match="grid k/3"):
        model.log_prob(good + 0.1 * (good < 0.5))
    with pytest.raises(ValueError, match=r"shape \(None, 4, 4, 1\)"):
        model.log_prob(good[:, :3])
    with pytest.raises(TypeError, match="float"):
        model.log_prob((good * 3).astype("uint8"))
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        model.log_prob(good * 3)
    model.compile()
    with pytest.raises(ValueError, match="shape"):
        model.fit(np.zeros((2, 5, 4, 1), "float32"), epochs=1, verbose=0)
    with pytest.raises(TypeError, match="float images"):
        model.fit(np.zeros((2, 4, 4, 1), "int32"), epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="grid"):
        model.fit(np.full((2, 4, 4, 1), 0.5, "float32"), epochs=1, verbose=0)
    conditional = build("GatedPixelCNN", (4, 4, 1), 2, num_classes=3)
    binary = random_levels(2, (4, 4, 1), 2)
    with pytest.raises(ValueError, match="labels"):
        conditional.log_prob(binary)
    with pytest.raises(ValueError, match="labels"):
        conditional.log_prob(binary, labels=[0, 5])
    with pytest.raises(ValueError, match="num_levels"):
        PixelCNN(image_shape=(4, 4, 1), num_levels=1)
    with pytest.raises(ValueError, match="num_levels"):
        PixelCNN(image_shape=(4, 4, 1), num_levels=2.5)
    with pytest.raises(ValueError, match="channels"):
        PixelCNN(image_shape=(4, 4, 2), num_levels=2)
    with pytest.raises(ValueError, match="colour groups"):
        PixelCNN(image_shape=(4, 4, 3), num_levels=2, filters=2)
    with pytest.raises(ValueError, match="head_filters"):
        PixelCNN(image_shape=(4, 4, 3), num_levels=2, head_filters=2)
    with pytest.raises(ValueError, match="unconditional"):
        PixelCNN(image_shape=(4, 4, 1), num_levels=2, num_classes=3)
    with pytest.raises(ValueError, match="kernel_size=0"):
        PixelCNN(image_shape=(4, 4, 1), num_levels=2, kernel_size=0)
    with pytest.raises(ValueError, match="num_layers=2.5"):
        tfgen.models.GatedPixelCNN(image_shape=(4, 4, 1), num_levels=2, num_layers=2.5)
    with pytest.raises(ValueError, match="first_kernel_size=-1"):
        tfgen.models.GatedPixelCNN((4, 4, 1), num_levels=2, first_kernel_size=-1)
    # No residual blocks is allowed: the mask-A layer and the head.
    bare = PixelCNN(image_shape=(4, 4, 1), num_levels=2, filters=2, num_blocks=0)
    assert bare.get_config()["num_blocks"] == 0 and bare.head_filters is None


def test_subclass_network_with_wrong_logits_shape_is_refused():
    class Wrong(AutoregressiveModel):
        def build_network(self):
            inputs, x, _ = self.network_inputs()
            return keras.Model(inputs, MaskedConv2D(2, 3, "A")(x))

    with pytest.raises(ValueError, match=r"logits of shape \(batch, 4, 4, 1\)"):
        Wrong(image_shape=(4, 4, 1), num_levels=2)


def test_vertical_masks_and_gated_activation():
    a = causal_mask((3, 3), 2, 4, "vertical_A")
    b = causal_mask((3, 3), 2, 4, "vertical_B")
    assert a[0].all() and not a[1:].any()
    assert b[:2].all() and not b[2].any()
    gate = GatedActivation(color_groups=3)
    x = np.random.default_rng(0).normal(size=(1, 2, 2, 12)).astype("float32")
    y = np.asarray(gate(x))
    assert y.shape == (1, 2, 2, 6)
    # Colour block g of the output comes from colour block g of the input.
    blocks = x.reshape(1, 2, 2, 3, 2, 2)
    expected = np.tanh(blocks[..., 0, :]) / (1 + np.exp(-blocks[..., 1, :]))
    np.testing.assert_allclose(y, expected.reshape(1, 2, 2, 6), rtol=1e-5)
    with pytest.raises(ValueError, match="2 gate pre-activations"):
        gate(np.zeros((1, 2, 2, 9), "float32"))
    with pytest.raises(ValueError, match="colour groups"):
        gate(np.zeros((1, 2, 2, 4), "float32"))
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2D(4, 3, mask_type="C")


def contiguous_block_mask(kernel_size, in_channels, out_channels, mask_type, groups):
    """causal_mask as it was before uneven colour blocks (equal blocks only),
    which the shipped weights were trained with."""
    kh, kw = kernel_size
    mask = np.zeros((kh, kw, in_channels, out_channels), "float32")
    mask[: kh // 2] = 1.0
    mask[kh // 2, : kw // 2] = 1.0
    in_group = np.arange(in_channels) // (in_channels // groups)
    out_group = np.arange(out_channels) // (out_channels // groups)
    if mask_type == "A":
        mask[kh // 2, kw // 2] = in_group[:, None] < out_group[None, :]
    else:
        mask[kh // 2, kw // 2] = in_group[:, None] <= out_group[None, :]
    return mask


@pytest.mark.parametrize("gates", [1, 2, 4])
@pytest.mark.parametrize("groups", [1, 3])
def test_masks_of_divisible_widths_are_the_equal_block_masks(groups, gates):
    for kernel_size in [(7, 7), (1, 3), (1, 1)]:
        for in_channels, out_channels in [(3, 12), (12, 24), (96, 48), (48, 192)]:
            for mask_type in "AB":
                np.testing.assert_array_equal(
                    causal_mask(
                        kernel_size, in_channels, out_channels, mask_type, groups, gates
                    ),
                    contiguous_block_mask(
                        kernel_size, in_channels, out_channels, mask_type, groups
                    ),
                )


def test_uneven_colour_blocks_put_the_remainder_first():
    assert colour_blocks(64, 3) == [22, 21, 21]
    assert colour_blocks(128, 3) == [43, 43, 42]
    # Gated pre-activations: each colour's tanh and sigmoid halves are its
    # share of the 64 outputs.
    assert colour_blocks(128, 3, gates=2) == [44, 42, 42]
    assert colour_blocks(64, 3, gates=4) == [24, 20, 20]
    centre = causal_mask((3, 3), 5, 8, "A", 3)[1, 1]
    colour_in, colour_out = [0, 0, 1, 1, 2], [0, 0, 0, 1, 1, 1, 2, 2]
    np.testing.assert_array_equal(
        centre, np.less.outer(colour_in, colour_out).astype("float32")
    )
    # tanh/sigmoid pairs stay inside uneven colour blocks: 10 = 4 + 4 + 2.
    x = np.random.default_rng(0).normal(size=(2, 3, 10)).astype("float32")
    pairs = [(0, 2), (1, 3), (4, 6), (5, 7), (8, 9)]
    expected = np.stack(
        [np.tanh(x[..., a]) / (1 + np.exp(-x[..., b])) for a, b in pairs], -1
    )
    np.testing.assert_allclose(GatedActivation(3)(x), expected, rtol=1e-5)


def test_pixelcnn_layout_follows_the_paper():
    model = PixelCNN(image_shape=(28, 28, 1), num_levels=2, filters=16, num_blocks=3)
    convs = [layer for layer in model.network.layers if isinstance(layer, MaskedConv2D)]
    assert (convs[0].kernel_size, convs[0].mask_type, convs[0].filters) == (
        (7, 7),
        "A",
        32,
    )
    block = [(c.kernel_size, c.filters, c.mask_type) for c in convs[1:4]]
    assert block == [((1, 1), 16, "B"), ((3, 3), 16, "B"), ((1, 1), 32, "B")]
    assert len(convs) == 1 + 3 * 3 + 2
    assert all(c.kernel_size == (1, 1) and c.mask_type == "B" for c in convs[-2:])


ZOO_ENTRIES = [
    n for n in zoo.list() if zoo.get(n).model in ("PixelCNN", "GatedPixelCNN")
]


@pytest.mark.parametrize("name", ZOO_ENTRIES)
def test_autoregressive_zoo_entries(name):
    entry = zoo.get(name)
    assert entry.training["command"].startswith(f"tfgen train {name}")
    bare = zoo.load(name, weights=False)
    assert bare.image_shape == tuple(entry.config["image_shape"])
    if entry.weights:
        assert_zoo_metrics(entry)


# Loading every entry's weights and sampling it is what
# tests/test_pinned_outputs.py does in the default run, and it checks the
# sampled pixels themselves; this batch-of-2 draw repeats it.
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ZOO_ENTRIES if zoo.get(n).weights])
def test_autoregressive_zoo_entries_load_and_sample(name):
    model = zoo.load(name)
    samples = model.sample(2, seed=0)
    assert samples.shape == (2, *model.image_shape)


def test_dropout_regularizes_training_only_and_keeps_the_model_exact():
    model = build("PixelCNN", (4, 4, 1), 2, dropout=0.5)
    x = random_levels(4, (4, 4, 1), 2)
    args = model.network_args(tf.constant(x))
    # Dropout acts in training only: inference is deterministic and exact.
    assert not np.allclose(model.network(args, training=True), model.network(args))
    np.testing.assert_array_equal(model.network(args), model.network(args))
    assert_normalized(model)
    assert_causal(model)
    config = model.get_config()
    assert config["dropout"] == 0.5
    assert PixelCNN.from_config(config).get_config() == config
    # Without dropout the config (and so a shipped entry's) is unchanged.
    assert "dropout" not in build("PixelCNN", (4, 4, 1), 2).get_config()
    assert model.supports_cached_sampling
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\)"):
        build("PixelCNN", (4, 4, 1), 2, dropout=1.0)
