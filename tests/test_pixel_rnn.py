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
from causality import check_causal, dependencies

import tfgen
from tfgen import training, zoo
from tfgen.layers import DiagonalBiLSTM, RowLSTM, skew, unskew
from tfgen.models import DiagonalBiLSTMPixelRNN, PixelRNN, RowLSTMPixelRNN

LAYERS = {"RowLSTM": RowLSTM, "DiagonalBiLSTM": DiagonalBiLSTM}
MODELS = {"row": RowLSTMPixelRNN, "diagonal": DiagonalBiLSTMPixelRNN}
TINY = dict(units=6, num_layers=2, head_filters=12, seed=0)
# One recurrent layer where the test is not about how layers stack.
SMALL = dict(TINY, num_layers=1)


# Layers ----------------------------------------------------------------------


def test_skew_places_row_i_at_offset_i_and_unskew_inverts_it():
    x = np.random.default_rng(0).random((2, 4, 5, 3)).astype("float32")
    s = np.asarray(skew(x))
    assert s.shape == (2, 4, 8, 3)
    for i in range(4):
        np.testing.assert_array_equal(s[:, i, i : i + 5], x[:, i])
        assert not s[:, i, :i].any() and not s[:, i, i + 5 :].any()
    np.testing.assert_array_equal(np.asarray(unskew(s)), x)
    symbolic = skew(keras.Input((6, 3, 2)))
    assert tuple(symbolic.shape) == (None, 6, 8, 2)
    assert tuple(unskew(symbolic).shape) == (None, 6, 3, 2)


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize(
    "groups,units,channels,residual",
    [
        (1, 6, 6, True),
        (3, 6, 6, True),
        (3, 6, 3, False),
        # Uneven colour blocks: units 4 -> 2, 1, 1 (gates 8, 4, 4) on a
        # 5-feature stream (2, 2, 1); units 5 -> 2, 2, 1.
        (3, 4, 5, True),
        (3, 5, 3, False),
    ],
)
def test_layer_is_causal_under_mask_b(name, groups, units, channels, residual):
    keras.utils.set_random_seed(0)
    layer = LAYERS[name](units, color_groups=groups, residual=residual)
    # The Diagonal BiLSTM sees the whole past in a single layer; the Row
    # LSTM's receptive field is triangular.
    check_causal(
        layer, (4, 5, channels), groups=groups, strict=False, full=name != "RowLSTM"
    )


def test_row_lstm_receptive_field_is_the_triangle_above():
    keras.utils.set_random_seed(0)
    layer = RowLSTM(4, residual=False)
    deps = dependencies(layer, np.random.rand(5, 7, 1), 1, 1).reshape(5, 7, 5, 7)
    # Row i, column j sees columns j - 1, j of its own row and columns
    # j - d - 1 .. j + d of row i - d: a cone widening upwards (the paper's
    # triangular receptive field).
    for i in range(5):
        for j in range(7):
            seen = deps[i, j] > 0
            expect = np.zeros((5, 7), bool)
            expect[i, max(0, j - 1) : j + 1] = True
            for d in range(1, i + 1):
                expect[i - d, max(0, j - d - 1) : j + d + 1] = True
            np.testing.assert_array_equal(seen, expect, err_msg=f"({i}, {j})")


def test_diagonal_backward_direction_sees_rows_above_from_its_column_rightwards():
    keras.utils.set_random_seed(0)
    layer = DiagonalBiLSTM(4, residual=False)
    layer.build((None, 5, 6, 2))
    # Silence the left-to-right sweep: what is left is the mirrored sweep,
    # shifted down one row.
    for w in layer.forward_conv.weights:
        w.assign(tf.zeros_like(w))
    kernel = layer.recurrent_kernel.numpy()
    kernel[0] = 0.0
    layer.recurrent_kernel.assign(kernel)
    deps = dependencies(layer, np.random.rand(5, 6, 2), 1, 1).reshape(5, 6, 5, 6)
    for i in range(5):
        for j in range(6):
            expect = np.zeros((5, 6), bool)
            expect[:i, j:] = True
            np.testing.assert_array_equal(deps[i, j] > 0, expect, err_msg=f"({i},{j})")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_config_round_trip_and_bf16(name):
    layer = LAYERS[name](6, color_groups=3, residual=False, name="rnn")
    clone = LAYERS[name].from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is type(layer) and restored.units == 6
    x = np.random.rand(2, 3, 4, 3).astype("float32")
    y = LAYERS[name](6, color_groups=3, dtype="mixed_bfloat16")(x)
    assert y.dtype == tf.bfloat16 and y.shape == (2, 3, 4, 3)


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="colour groups"):
        RowLSTM(2, color_groups=3)
    with pytest.raises(ValueError, match="odd"):
        RowLSTM(3, kernel_size=2)
    with pytest.raises(ValueError, match="units"):
        DiagonalBiLSTM(0)
    with pytest.raises(ValueError, match="height, width"):
        DiagonalBiLSTM(3)(np.zeros((2, 3), "float32"))
    assert "RowLSTM" in dir(tfgen.layers)


# Models ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize(
    "shape,levels,units",
    # units=4 and 5 split unevenly into the 3 colour groups.
    [((4, 3, 1), 2, 6), ((3, 3, 3), 256, 6), ((3, 3, 3), 256, 4), ((3, 3, 3), 4, 5)],
)
def test_model_is_causal(kind, shape, levels, units):
    keras.utils.set_random_seed(0)  # see tests/test_pixel_cnn.py::build
    model = MODELS[kind](
        image_shape=shape, num_levels=levels, **{**TINY, "units": units}
    )
    # Several inputs, so that a ReLU that is off at one of them hides no path.
    jac = assert_causal(model, num_inputs=8)
    if shape[-1] == 3:
        # R -> G -> B inside the LSTM.
        assert_colours_read_their_pixel(jac)
    if kind == "diagonal":
        # Diagonal BiLSTM layers see the whole past of every position.
        past = np.tril(np.ones(jac.shape, bool), k=-1)
        assert np.all(jac[past] > 0), np.argwhere(past & (jac == 0))[:5]


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("shape,levels", [((2, 2, 1), 2), ((1, 2, 3), 2)])
def test_model_probabilities_sum_to_one(kind, shape, levels):
    assert_normalized(MODELS[kind](image_shape=shape, num_levels=levels, **SMALL))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_untrained_256_way_model_gives_about_8_bits_per_dim(kind):
    model = MODELS[kind](image_shape=(5, 5, 3), num_levels=256, **SMALL)
    bpd = model.bits_per_dim(random_levels(3, (5, 5, 3), 256))
    assert np.all(np.abs(bpd - 8.0) < 0.1), bpd


# The default run keeps this flow for the Row LSTM; the Diagonal BiLSTM's
# binary 4x4 model gets each part there too: its fit step, save/load
# log_prob, config round trip and seed rule in tests/test_contract.py, its
# completion and cached sampler in tests/test_sampling.py.
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=pytest.mark.slow) if k == "diagonal" else k
        for k in sorted(MODELS)
    ],
)
def test_fit_step_sample_complete_and_zoo_round_trip(kind, tmp_path):
    shape = (4, 4, 1)
    model = MODELS[kind](image_shape=shape, num_levels=2, **SMALL)
    model.compile()
    data = random_levels(8, shape, 2)
    history = model.fit(data, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["nll"][-1])
    assert model.supports_cached_sampling
    samples = model.sample(3, seed=0, batch_size=2)
    assert samples.shape == (3, *shape) and set(np.unique(samples)) <= {0.0, 1.0}
    np.testing.assert_array_equal(model.sample(3, seed=0, batch_size=2), samples)
    known = np.zeros(shape[:2], bool)
    known[:2] = True
    done = model.complete(data[:2], known, num_samples=2, seed=0)
    np.testing.assert_array_equal(done[:, 1][:, known], data[:2][:, known])
    # get_config and zoo save/load round trips keep the model and its weights.
    config = model.get_config()
    assert MODELS[kind].from_config(config).get_config() == config
    zoo.save(model, str(tmp_path / "saved"))
    loaded = zoo.load(str(tmp_path / "saved"))
    assert type(loaded) is MODELS[kind]
    np.testing.assert_allclose(
        loaded.log_prob(data), model.log_prob(data), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_mixed_bfloat16_training_step(kind):
    data = random_levels(4, (4, 4, 3), 256)
    with training.precision_policy("mixed_bfloat16"):
        model = MODELS[kind](image_shape=(4, 4, 3), num_levels=256, **SMALL)
        model.compile()
        history = model.fit(data, batch_size=4, epochs=1, verbose=0)
    lstm = model.network.get_layer("lstm0")
    assert lstm.compute_dtype == "bfloat16" and lstm.variable_dtype == "float32"
    assert np.isfinite(history.history["nll"][-1])
    # Logits stay float32 for the likelihood.
    assert model.network.outputs[0].dtype == "float32"


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_default_sizes_build_and_train_for_any_channels(kind, channels):
    # units=16 does not divide into 3 colour groups: uneven blocks.
    assert_defaults_build_and_train(MODELS[kind], channels)


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="colour groups"):
        RowLSTMPixelRNN(image_shape=(4, 4, 3), units=2)
    with pytest.raises(ValueError, match="unconditional"):
        DiagonalBiLSTMPixelRNN(image_shape=(4, 4, 1), num_classes=10)
    with pytest.raises(ValueError, match="head_filters"):
        DiagonalBiLSTMPixelRNN(image_shape=(4, 4, 3), units=3, head_filters=2)
    with pytest.raises(ValueError, match="num_layers=0"):
        RowLSTMPixelRNN(image_shape=(4, 4, 1), num_layers=0)
    with pytest.raises(NotImplementedError, match="RowLSTMPixelRNN"):
        PixelRNN(image_shape=(4, 4, 1))
    assert tfgen.models.get("RowLSTMPixelRNN") is RowLSTMPixelRNN
    assert tfgen.models.get("DiagonalBiLSTMPixelRNN") is DiagonalBiLSTMPixelRNN


@pytest.mark.parametrize("name", ["row_lstm_mnist", "diagonal_bilstm_mnist"])
def test_zoo_entry_builds_and_its_weights_load(name):
    entry = zoo.get(name)
    assert entry.training["command"].startswith(f"tfgen train {name}")
    model = zoo.load(name, weights=False)
    assert model.image_shape == (28, 28, 1) and model.num_levels == 2
    if entry.weights:
        trained = zoo.load(name)  # sha256-checked
        x = random_levels(2, (28, 28, 1), 2)
        assert np.all(np.isfinite(trained.log_prob(x)))
        assert_zoo_metrics(entry, images=10000)
