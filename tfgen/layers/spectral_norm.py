"""Spectral normalization of a layer's kernel (Miyato et al. 2018,
arXiv 1802.05957), through `keras.layers.SpectralNormalization`.

Keras's wrapper divides the kernel variable itself by its largest singular
value, estimated by power iteration (one per training call), and keeps the
iteration's vector as a non-trainable weight; in inference it uses the
kernel as it stands. It does not back-propagate through the singular value
as the paper's reparametrization W / sigma(W) does.
"""

import keras

__all__ = ["spectral_norm"]


def spectral_norm(layer, power_iterations=1):
    """`layer` (one with a `kernel`) wrapped in spectral normalization.

    The wrapper computes in float32 whatever the dtype policy: under
    mixed_bfloat16 it would otherwise write the normalized kernel back
    rounded to bfloat16 on every step, and Adam's small updates to the
    float32 kernel would round away. The wrapped layer keeps its own policy.
    """
    return keras.layers.SpectralNormalization(
        layer, power_iterations=power_iterations, dtype="float32"
    )
