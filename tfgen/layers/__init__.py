"""Layers shared by tfgen's model families."""

from tfgen.layers.image_pool import ImagePool
from tfgen.layers.masked_conv import MaskedConv2D, causal_mask
from tfgen.layers.padding import ReflectionPadding2D

__all__ = ["ImagePool", "MaskedConv2D", "ReflectionPadding2D", "causal_mask"]
