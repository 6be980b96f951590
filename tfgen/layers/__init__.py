"""Layers shared by tfgen's model families."""

from tfgen.layers.masked_conv import MaskedConv2D, causal_mask
from tfgen.layers.residual import pixelcnn_residual_block

__all__ = ["MaskedConv2D", "causal_mask", "pixelcnn_residual_block"]
