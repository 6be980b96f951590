"""Layers shared by tfgen's model families."""

from tfgen.layers.diagonal_bilstm import DiagonalBiLSTM, skew, unskew
from tfgen.layers.gated import GatedActivation, gated_pixelcnn_block
from tfgen.layers.masked_conv import MaskedConv2D, causal_mask
from tfgen.layers.pixel_lstm import PixelLSTMLayer
from tfgen.layers.residual import pixelcnn_residual_block
from tfgen.layers.row_lstm import RowLSTM

__all__ = [
    "DiagonalBiLSTM",
    "GatedActivation",
    "MaskedConv2D",
    "PixelLSTMLayer",
    "RowLSTM",
    "causal_mask",
    "gated_pixelcnn_block",
    "pixelcnn_residual_block",
    "skew",
    "unskew",
]
