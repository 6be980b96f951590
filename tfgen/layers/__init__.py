"""Layers shared by tfgen's model families."""

from tfgen.layers.masked_conv import MaskedConv2D, causal_mask

__all__ = ["MaskedConv2D", "causal_mask"]
