import keras
import numpy as np
import pytest
import tensorflow as tf
from causality import check_causal, dependencies

import tfgen
from tfgen.layers import DiagonalBiLSTM, RowLSTM, skew, unskew

LAYERS = {"RowLSTM": RowLSTM, "DiagonalBiLSTM": DiagonalBiLSTM}


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
@pytest.mark.parametrize("groups,residual", [(1, True), (3, True), (3, False)])
def test_layer_is_causal_under_mask_b(name, groups, residual):
    keras.utils.set_random_seed(0)
    channels = 6 if residual else groups
    layer = LAYERS[name](6, color_groups=groups, residual=residual)
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
        RowLSTM(4, color_groups=3)
    with pytest.raises(ValueError, match="odd"):
        RowLSTM(3, kernel_size=2)
    with pytest.raises(ValueError, match="units"):
        DiagonalBiLSTM(0)
    with pytest.raises(ValueError, match="height, width"):
        DiagonalBiLSTM(3)(np.zeros((2, 3), "float32"))
    assert "RowLSTM" in dir(tfgen.layers)
