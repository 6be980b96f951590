"""Layers shared by tfgen's model families."""

from tfgen.layers.diagonal_bilstm import DiagonalBiLSTM, skew, unskew
from tfgen.layers.gated import GatedActivation, gated_pixelcnn_block
from tfgen.layers.image_pool import ImagePool
from tfgen.layers.masked_conv import (
    MaskedConv2D,
    causal_mask,
    colour_blocks,
    gate_indices,
)
from tfgen.layers.padding import ReflectionPadding2D
from tfgen.layers.pixel_lstm import PixelLSTMLayer
from tfgen.layers.residual import pixelcnn_residual_block
from tfgen.layers.row_lstm import RowLSTM

__all__ = [
    "DiagonalBiLSTM",
    "GatedActivation",
    "ImagePool",
    "MaskedConv2D",
    "PixelLSTMLayer",
    "ReflectionPadding2D",
    "RowLSTM",
    "causal_mask",
    "colour_blocks",
    "gate_indices",
    "gated_pixelcnn_block",
    "pixelcnn_residual_block",
    "skew",
    "unskew",
]
