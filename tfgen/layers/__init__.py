"""Layers shared by tfgen's model families."""

from tfgen.layers.gated import GatedActivation, gated_pixelcnn_block
from tfgen.layers.masked_conv import MaskedConv2D, causal_mask
from tfgen.layers.residual import pixelcnn_residual_block

__all__ = [
    "GatedActivation",
    "MaskedConv2D",
    "causal_mask",
    "gated_pixelcnn_block",
    "pixelcnn_residual_block",
]
